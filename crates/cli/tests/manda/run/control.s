; Control flow: jumps, every branch taken and not taken, calls through a
; label and a register, returns, and label headers executing as nothing.
.code
main:
    li s0, 0                        ; trail of branch outcomes, a digit each
    li t0, 1
    li t1, 2
    li t2, -1
    beq t0, t0, .L1
    jmp fail
.L1: beq t0, t1, fail
    bne t0, t1, .L2
    jmp fail
.L2: bne t0, t0, fail
    blt t2, t0, .L3                 ; -1 < 1 signed
    jmp fail
.L3: blt t0, t2, fail
    bge t0, t2, .L4
    jmp fail
.L4: bge t2, t0, fail
    bge t0, t0, .L5                 ; equal counts as ≥
    jmp fail
.L5: bltu t0, t2, .L6               ; 1 < 2^64 - 1 unsigned
    jmp fail
.L6: bltu t2, t0, fail
    bgeu t2, t0, .L7
    jmp fail
.L7: bgeu t0, t2, fail
    li t3, 0
    beqz t3, .L8
    jmp fail
.L8: beqz t0, fail
    bnez t0, .L9
    jmp fail
.L9: bnez t3, fail
    li a0, 5
    call double
    printi v0                       ; 10
    la t4, double
    li a0, 21
    callr t4
    printi v0                       ; 42
    la t5, named
    jr t5                           ; onto a label header: runs what follows
back:
    li t6, 3
    printi t6                       ; 3
    halt
named:
    li t6, 2
    printi t6                       ; 2
    jmp back
fail:
    li t0, 99
    exit t0

double:
    add v0, a0, a0
    ret
