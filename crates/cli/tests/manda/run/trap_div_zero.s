; `div` by zero traps; the output before it is kept.
.code
main:
    li t0, 7
    printi t0
    li t1, 0
    div t2, t0, t1
    printi t2
    halt
