; threads: 1 2 4
; Two contexts each waiting for the other: a deadlock, listing both.
.data
b: .zero 8
.code
main:
    pnew a1
    pnew a2
    fork t0, other
    la t1, b
    li t2, 8
    precv t3, a1, t1, t2
    halt

other:
    la t1, b
    li t2, 8
    precv t3, a2, t1, t2
    halt
