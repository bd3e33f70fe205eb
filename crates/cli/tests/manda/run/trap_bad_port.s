; A port id `pnew` never returned.
.code
main:
    li t0, 3
    pclose t0
    halt
