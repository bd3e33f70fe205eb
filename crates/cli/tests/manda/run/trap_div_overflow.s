; -2^63 / -1 does not fit: a trap, not a wrap.
.code
main:
    li t0, -9223372036854775808
    li t1, -1
    rem t2, t0, t1
    halt
