; threads: 1 2 4
; A trap in a child stops the machine and names the context.
.code
main:
    fork t0, child
    fork t0, child
.Lspin:
    jmp .Lspin

child:
    ctxid t0
    li t1, 2
    blt t0, t1, .Lfine
    li t1, 0
    div t2, t0, t1
.Lfine:
    halt
