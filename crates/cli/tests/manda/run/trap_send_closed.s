; threads: 1 2 4
; Sending to a port another context closed traps in the sender.
.code
main:
    pnew a1
    pnew a2
    fork t0, closer
    li t1, 0
    precv t0, a2, t1, t1    ; -1 once the closer closed a2 too
    psend a1, t1, t1
    halt

closer:
    pclose a1
    pclose a2
    halt
