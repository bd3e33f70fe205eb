; `write` only knows standard output (1) and standard error (2).
.data
m: .ascii "x"
.code
main:
    li t0, 3
    la t1, m
    li t2, 1
    write t0, t1, t2
    halt
