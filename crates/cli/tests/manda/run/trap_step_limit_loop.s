; run: --max-steps 1000 {file}
; A loop under a step limit: 1 + 3 × 333 = 1000 instructions run, the next traps.
.code
main:
    li t0, 0
.Lloop:
    addi t0, t0, 1
    li t1, 1000000
    blt t0, t1, .Lloop
    printi t0
    halt
