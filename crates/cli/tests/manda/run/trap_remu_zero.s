; `remu` by zero.
.code
main:
    li t0, 1
    li t1, 0
    divu t2, t0, t0
    remu t2, t0, t1
    halt
