; ticker PAGES WRITES NOISE: a heap of PAGES pages (default 4096, 16 MiB),
; every page written once (NOISE 1: every word of it, with pseudo-random
; bits that no compressor shrinks), then ticks forever: each tick writes its number into
; WRITES pages in turn (default 1; 0: none), prints it and sleeps 1 ms. A live
; migration sees its memory change while it runs (WRITES = PAGES: all of it,
; every millisecond, faster than any link), and its output shows any gap
; and any tick run twice.
.data
argbuf: .zero 32
.code
main:
    li a0, 0
    li a1, 4096
    call argnum
    mov s3, v0              ; pages
    li a0, 1
    li a1, 1
    call argnum
    mov s4, v0              ; writes per tick
    li a0, 2
    li a1, 0
    call argnum
    mov s5, v0              ; fill every word (1) or one a page (0)
    shli t0, s3, 12
    grow s0, t0             ; s0: the heap
    li t1, 0
    bnez s5, .Lnoise
.Lfill:
    shli t3, t1, 12
    add t3, t3, s0
    addi t2, t1, 1
    st64 t2, [t3]
    addi t1, t1, 1
    blt t1, s3, .Lfill
    jmp .Lfilled
.Lnoise:                    ; every word from a xorshift: memory no compressor shrinks
    shli t4, s3, 9          ; words
    li t2, 88172645463325252
.Lword:
    shli t5, t2, 13
    xor t2, t2, t5
    shri t5, t2, 7
    xor t2, t2, t5
    shli t5, t2, 17
    xor t2, t2, t5
    shli t3, t1, 3
    add t3, t3, s0
    st64 t2, [t3]
    addi t1, t1, 1
    blt t1, t4, .Lword
.Lfilled:
    li s1, 0                ; tick
    li s2, 0                ; next page to write
.Ltick:
    li t1, 0
    beqz s4, .Lprint
.Lwrite:
    shli t3, s2, 12
    add t3, t3, s0
    st64 s1, [t3]
    addi s2, s2, 1
    remu s2, s2, s3
    addi t1, t1, 1
    blt t1, s4, .Lwrite
.Lprint:
    printi s1
    addi s1, s1, 1
    li t2, 1
    sleep t2
    jmp .Ltick
; argnum: v0 = program argument a0 as a decimal number, or a1 if absent.
argnum:
    mov v0, a1
    argc t0
    bge a0, t0, .Ldone
    la t2, argbuf
    li t3, 32
    arg t4, a0, t2, t3
    li v0, 0
    li t5, 0
    li t8, 10
.Ldigit:
    bge t5, t4, .Ldone
    add t6, t2, t5
    ld8u t7, [t6]
    addi t7, t7, -48
    mul v0, v0, t8
    add v0, v0, t7
    addi t5, t5, 1
    jmp .Ldigit
.Ldone:
    ret
