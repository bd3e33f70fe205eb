; No named label before the fault: the trap line has no <label+offset>.
.code
    li t0, 0
    div t1, t0, t0
    halt
