; Sending to a closed port.
.data
m: .ascii "x"
.code
main:
    pnew t0
    pclose t0
    la t1, m
    li t2, 1
    psend t0, t1, t2
    halt
