; sleepers N: writes a data word and its stack, forks N children that each
; sleep for ever, prints 1 once every child exists, then sleeps too. Every
; child shares the parent's written pages: a machine whose cost is its
; contexts and the tables they share.
.data
word:   .zero 8
argbuf: .zero 32
.code
main:
    la t2, word
    li t3, 7
    st64 t3, [t2]
    salloc 8
    getsp t0
    st64 t3, [t0]
    ; N from the first argument (decimal), default 1000.
    li s1, 1000
    argc t0
    beqz t0, .Lgo
    li a0, 0
    la t2, argbuf
    li t3, 32
    arg t4, a0, t2, t3
    li s1, 0
    li t5, 0
.Ldigit:
    bgeu t5, t4, .Lgo
    add t6, t2, t5
    ld8u t6, [t6]
    li t7, 10
    mul s1, s1, t7
    addi t6, t6, -48
    add s1, s1, t6
    addi t5, t5, 1
    jmp .Ldigit
.Lgo:
    li s0, 0
    beqz s1, .Lprint
.Lspawn:
    fork t0, child
    addi s0, s0, 1
    blt s0, s1, .Lspawn
.Lprint:
    li t1, 1
    printi t1
.Lwait:
    li t1, 1000
    sleep t1
    jmp .Lwait
child:
    li t1, 100000
    sleep t1
    jmp child
