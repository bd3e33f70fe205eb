; The stack: push/pop order, frames with salloc/sfree, sp-relative access.
.code
main:
    getsp s0
    li t0, 11
    li t1, 22
    push t0
    push t1
    getsp t2
    sub t3, s0, t2
    printi t3                       ; two pushes: 16 bytes
    pop t4
    printi t4                       ; last in, first out: 22
    pop t4
    printi t4                       ; 11
    salloc 24
    li t5, 7
    stsp t5, 16
    getsp t6
    ld64 t7, [t6 + 16]
    printi t7                       ; stsp and a base register agree: 7
    ldsp t8, 16
    printi t8                       ; 7
    sfree 24
    getsp t2
    seq t3, s0, t2
    printi t3                       ; back where it started: 1
    andi t3, s0, 15
    printi t3                       ; sp starts 16-byte aligned: 0
    halt
