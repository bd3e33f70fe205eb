; run: --stack-size 64 {file}
; Pushing past the stack's base: the 9th push of a 64-byte stack traps.
.code
main:
    li t0, 0
.Lagain:
    addi t0, t0, 1
    printi t0
    push t0
    jmp .Lagain
