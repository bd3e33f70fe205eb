; threads: 1 2 4
; fork: the child's id, a-registers copied and the others zero, and two
; memories that are copies: neither side sees the other's writes, on the
; last byte of a page or across two pages, in either direction.
.data
msg: .zero 8
.code
main:
    getsp a4                ; the top of the stack
    push a4                 ; so that the parent's sp is below it at the fork
    pnew a1                 ; reports from the child (a1 is copied into it)
    pnew a2                 ; "go" to the child
    li t0, 12288
    grow a3, t0             ; three heap pages
    li t1, 1
    st8 t1, [a3 + 4095]     ; the last byte of the first page
    li t1, 0x1111
    st64 t1, [a3 + 8188]    ; across the second and third pages
    li a0, 11
    li s0, 22
    li v0, 33
    li t9, 44
    fork s1, child
    printi s1               ; the child's id: 1
    ctxid t0
    printi t0               ; this context's: 0
    la s2, msg
    li s3, 8
    li s4, 8                ; eight reports
.Lreports:
    precv t0, a1, s2, s3
    ld64 t1, [s2]
    printi t1
    addi s4, s4, -1
    bnez s4, .Lreports
    ld8u t1, [a3 + 4095]
    printi t1               ; the child's writes are not here: 1
    ld64 t1, [a3 + 8188]
    printi t1               ; 4369
    li t1, 3
    st8 t1, [a3 + 4095]
    st64 t1, [a3 + 8188]
    psend a2, s2, s3        ; now the child looks again
    precv t0, a1, s2, s3
    ld64 t1, [s2]
    printi t1               ; still its own 2
    precv t0, a1, s2, s3
    ld64 t1, [s2]
    printi t1               ; still its own 0x2222 = 8738
    halt

child:
    la s2, msg
    li s3, 8
    st64 a0, [s2]
    psend a1, s2, s3        ; 11: a-registers are copied
    st64 s0, [s2]
    psend a1, s2, s3        ; 0: the others are not
    st64 v0, [s2]
    psend a1, s2, s3        ; 0
    st64 t9, [s2]
    psend a1, s2, s3        ; 0
    ctxid t0
    st64 t0, [s2]
    psend a1, s2, s3        ; 1
    getsp t0
    sub t0, t0, a4
    st64 t0, [s2]
    psend a1, s2, s3        ; its own empty stack: sp at the top, 0
    ld8u t0, [a3 + 4095]
    st64 t0, [s2]
    psend a1, s2, s3        ; the parent's byte at the fork: 1
    ld64 t0, [a3 + 8188]
    st64 t0, [s2]
    psend a1, s2, s3        ; 4369
    li t0, 2
    st8 t0, [a3 + 4095]
    li t0, 0x2222
    st64 t0, [a3 + 8188]
    precv t0, a2, s2, s3    ; wait until the parent has written its copy
    ld8u t0, [a3 + 4095]
    st64 t0, [s2]
    psend a1, s2, s3
    ld64 t0, [a3 + 8188]
    st64 t0, [s2]
    psend a1, s2, s3
    halt
