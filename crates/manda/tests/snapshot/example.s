; The machine of docs/manda/snapshot.md's walk-through: two contexts, one
; waiting on a port, one asleep, and a message queued on another port.
.rodata
hi: .ascii "hi"
.code
main:
    pnew a1                 ; port 0: this context waits here
    pnew a2                 ; port 1: a message waits here
    fork t0, child
    la t1, hi
    li t2, 2
    psend a2, t1, t2        ; "hi", which nobody takes
    precv t3, a1, t1, t2    ; waits: nobody sends on port 0
    halt
child:
    li t0, 60000
    sleep t0                ; a minute
    halt
