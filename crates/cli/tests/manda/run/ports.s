; Message ports within one context: queue order, truncation to the
; buffer, the empty and closed answers, context id.
.data
out: .ascii "hello"
in:  .zero 8
.code
main:
    ctxid t0
    printi t0                       ; the first context: 0
    pnew s0
    printi s0                       ; port 0
    pnew s1
    printi s1                       ; port 1
    la t1, out
    li t2, 5
    psend s0, t1, t2
    li t2, 2
    psend s0, t1, t2
    la t3, in
    li t4, 3
    precv t5, s0, t3, t4
    printi t5                       ; whole length 5
    li t6, 1
    write t6, t3, t4                ; first 3 bytes: hel
    li t7, 10
    putc t7
    ptry t5, s0, t3, t4
    printi t5                       ; the second message: 2
    ptry t5, s0, t3, t4
    printi t5                       ; open and empty: -2
    psend s1, t1, t6
    pclose s1
    precv t5, s1, t3, t4
    printi t5                       ; queued before the close: 1
    precv t5, s1, t3, t4
    printi t5                       ; closed and empty: -1
    ptry t5, s1, t3, t4
    printi t5                       ; -1
    halt
