; run: --max-steps 7 {file}
; The step limit stops the program before its 8th instruction, mid-run.
.code
main:
    li t0, 1
    printi t0
    li t0, 2
    printi t0
    li t0, 3
    printi t0
    li t0, 4
    printi t0
    halt
