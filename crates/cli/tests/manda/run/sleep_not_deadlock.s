; threads: 1 2 4
; A context that waits while another sleeps is not deadlocked: the
; sleeper wakes, sends, and the waiter goes on.
.data
b: .zero 8
.code
main:
    pnew a1
    fork t0, sleeper
    la t1, b
    li t2, 8
    precv t3, a1, t1, t2
    ld64 t4, [t1]
    printi t4
    halt

sleeper:
    li t0, 20
    sleep t0
    la t1, b
    li t4, 42
    st64 t4, [t1]
    li t2, 8
    psend a1, t1, t2
    halt
