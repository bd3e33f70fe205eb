; threads: 1 2 4
; deadlock: two contexts each wait for a message from the other, so neither
; ever sends. The machine does not hang: it stops with a deadlock trap that
; lists every waiting context, where it waits, and on which port.
.data
buf: .zero 8
.code
main:
    pnew a1                 ; main waits here
    pnew a2                 ; the other context waits here
    fork t0, other
    la t1, buf
    li t2, 8
    precv t3, a1, t1, t2    ; a message from `other` first…
    psend a2, t1, t2
    halt

other:
    la t1, buf
    li t2, 8
    precv t3, a2, t1, t2    ; …and `other` wants one from main first
    psend a1, t1, t2
    halt
