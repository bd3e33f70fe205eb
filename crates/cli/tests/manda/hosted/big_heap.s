; 256 MiB of heap, every page written (page p holds p mod 251 in its first
; byte), then a countdown from 19 to 0 with 50 ms sleeps, so that a
; migration moves all of it; last, the sum of the first bytes of all pages.
.code
main:
    li t0, 268435456
    grow s0, t0             ; s0: the heap
    li s1, 65536            ; pages
    li s2, 251
    li t1, 0
.Lwrite:
    remu t2, t1, s2
    shli t3, t1, 12
    add t3, t3, s0
    st8 t2, [t3]
    addi t1, t1, 1
    blt t1, s1, .Lwrite
    li t4, 19
    li t5, 50
.Lcount:
    printi t4
    sleep t5
    addi t4, t4, -1
    li t6, 0
    bge t4, t6, .Lcount
    li v0, 0
    li t1, 0
.Lsum:
    shli t3, t1, 12
    add t3, t3, s0
    ld8u t2, [t3]
    add v0, v0, t2
    addi t1, t1, 1
    blt t1, s1, .Lsum
    printi v0
    halt
