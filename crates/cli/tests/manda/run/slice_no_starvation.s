; threads: 1 2 4
; A context that never blocks cannot starve the others, even on one
; thread: its time slice ends and the rest run — a sender the first
; context waits for, and the first context itself when its sleep is over.
.data
b: .zero 8
.code
main:
    pnew a1
    fork t0, spinner
    fork t0, sender
    la t1, b
    li t2, 8
    precv t3, a1, t1, t2    ; runs again only once the sender has had a turn
    ld64 t4, [t1]
    printi t4
    li t0, 10
    sleep t0                ; and wakes while the spinner still spins
    li t0, 0
    exit t0

spinner:
    addi t0, t0, 1
    jmp spinner

sender:
    la t1, b
    li t4, 42
    st64 t4, [t1]
    li t2, 8
    psend a1, t1, t2
    halt
