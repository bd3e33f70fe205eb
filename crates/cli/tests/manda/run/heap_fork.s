; threads: 1 2
; A heap written through hst before a fork, then by both sides after it:
; the first context's heap is flat until the fork (loads and stores in
; place), then both sides copy on write; each sees only its own writes,
; in the page written before the fork, across two pages, and in a page
; that neither had written.
.data
msg: .zero 8
.code
main:
    pnew a1                 ; reports from the child
    pnew a2                 ; "go" to the child
    li t0, 12288
    hgrow t1, t0            ; three heap pages
    li t2, 7
    li t3, 100
    hst64 t2, t3, 0         ; page 0
    li t2, 0x1111
    li t3, 4092
    hst64 t2, t3, 0         ; across pages 0 and 1
    li t3, 100
    hld64 t4, t3, 0
    printi t4               ; 7
    fork s1, child
    li t2, 8
    li t3, 100
    hst64 t2, t3, 0         ; the parent's own copy of page 0
    li t2, 0x3333
    li t3, 4092
    hst64 t2, t3, 0
    li t2, 9
    li t3, 8200
    hst32 t2, t3, 0         ; page 2, new here
    la s2, msg
    li s3, 8
    psend a2, s2, s3        ; the child may look now
    li s4, 4
.Lreports:
    precv t0, a1, s2, s3
    ld64 t1, [s2]
    printi t1
    addi s4, s4, -1
    bnez s4, .Lreports
    li t3, 100
    hld64 t4, t3, 0
    printi t4               ; its own: 8
    li t3, 4092
    hld64 t4, t3, 0
    printi t4               ; 0x3333 = 13107
    li t3, 8200
    hld32u t4, t3, 0
    printi t4               ; 9
    halt

child:
    la s2, msg
    li s3, 8
    li t2, 20
    li t3, 100
    hst64 t2, t3, 0         ; the child's own copy of page 0
    precv t0, a2, s2, s3    ; wait until the parent has written its copies
    li t3, 100
    hld64 t0, t3, 0
    st64 t0, [s2]
    psend a1, s2, s3        ; its own: 20
    li t3, 4092
    hld64 t0, t3, 0
    st64 t0, [s2]
    psend a1, s2, s3        ; the value at the fork: 0x1111 = 4369
    li t3, 8200
    hld32u t0, t3, 0
    st64 t0, [s2]
    psend a1, s2, s3        ; nothing written here on this side: 0
    li t2, 30
    li t3, 8200
    hst8 t2, t3, 0
    hld8u t0, t3, 0
    st64 t0, [s2]
    psend a1, s2, s3        ; 30
    halt
