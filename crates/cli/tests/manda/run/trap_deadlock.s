; Waiting on an empty port that nobody can send to.
.data
b: .zero 8
.code
main:
    pnew t0
    la t1, b
    li t2, 8
    precv t3, t0, t1, t2
    halt
