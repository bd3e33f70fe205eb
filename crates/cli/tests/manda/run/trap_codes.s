; `trap code` stops the program with the trap its code names (WebAssembly's
; names, which the translator raises); this is code 7.
.code
main:
    li t0, 1
    printi t0
    trap 7
    halt
