; Queues 64-byte messages on a port nobody reads, until a limit stops it.
.data
buf: .zero 64
.code
main:
    pnew a1
    la t0, buf
    li t1, 64
.Lsend:
    psend a1, t0, t1
    jmp .Lsend
