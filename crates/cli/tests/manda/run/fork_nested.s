; threads: 1 2 4
; fork inside fork: a child forks a grandchild, which reports to the first
; context through a port created before both forks; ids count up in fork order.
.data
msg: .zero 16
.code
main:
    pnew a1
    fork t0, child
    printi t0               ; 1
    la s2, msg
    li s3, 16
    precv t0, a1, s2, s3
    printi t0               ; 16 bytes
    ld64 t1, [s2]
    printi t1               ; the child's id, as the grandchild got it in a2: 1
    ld64 t1, [s2 + 8]
    printi t1               ; the grandchild's own id: 2
    halt

child:
    ctxid a2
    fork t0, grandchild
    halt

grandchild:
    la s2, msg
    st64 a2, [s2]
    ctxid t0
    st64 t0, [s2 + 8]
    li s3, 16
    psend a1, s2, s3
    halt
