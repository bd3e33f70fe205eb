; threads: 1 2 4
; Ports between contexts: a receiver blocked in precv wakes for a message
; larger than its buffer (the first bytes, and the whole length in rd),
; then for the close (-1 once drained); ptry says -2 on an open empty port.
.data
text: .ascii "a longer message"
buf:  .zero 16
.code
main:
    pnew a1                 ; data
    pnew a2                 ; acknowledgements
    fork t0, receiver
    la s2, buf
    li s3, 8
    precv t0, a2, s2, s3    ; the receiver is about to wait
    la t1, text
    li t2, 16
    psend a1, t1, t2
    li t2, 3
    psend a1, t1, t2
    pclose a1
    precv t0, a2, s2, s3
    precv t0, a2, s2, s3    ; -1: the receiver closed a2 when done
    printi t0
    halt

receiver:
    la s2, buf
    li s3, 8
    ptry t0, a1, s2, s3
    printi t0               ; -2: open and empty
    psend a2, s2, s3
    precv t0, a1, s2, s3
    printi t0               ; 16: the whole length
    li t1, 1
    write t1, s2, s3        ; the first 8 bytes: "a longer"
    li t1, 10
    putc t1
    precv t0, a1, s2, s3
    printi t0               ; 3
    precv t0, a1, s2, s3
    printi t0               ; -1: closed and drained
    psend a2, s2, s3
    pclose a2
    halt
