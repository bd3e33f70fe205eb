; ring_slow N R: a token goes R times around a ring of N contexts, each
; hop adding 1; the first context prints it after each round (N, 2N, …)
; and sleeps 5 ms, so that a migration catches the ring mid-round.
.data
argbuf: .zero 32
token:  .zero 8
.code
main:
    li a0, 0
    call number
    mov s0, v0              ; N
    li a0, 1
    call number
    mov s1, v0              ; R
    li s2, 0
.Lports:                    ; ports 0 … N-1: context k forwards port k-1 to port k
    pnew t0
    addi s2, s2, 1
    blt s2, s0, .Lports
    addi s2, s0, -1         ; the last port, which comes back here
    li a0, 0
    beqz s2, .Lrounds
.Lfork:
    fork t0, forwarder
    addi a0, a0, 1
    blt a0, s2, .Lfork
.Lrounds:
    la s3, token
    li s4, 8
    li s5, 0
    li s6, 0
    li s7, 5
.Lround:
    psend s6, s3, s4
    precv t0, s2, s3, s4
    ld64 t0, [s3]
    addi t0, t0, 1
    st64 t0, [s3]
    printi t0
    sleep s7
    addi s5, s5, 1
    blt s5, s1, .Lround
    pclose s6
    halt

forwarder:
    addi a1, a0, 1
    la s3, token
    li s4, 8
    li t2, 0
.Lforward:
    precv t0, a0, s3, s4
    blt t0, t2, .Lclosed
    ld64 t1, [s3]
    addi t1, t1, 1
    st64 t1, [s3]
    psend a1, s3, s4
    jmp .Lforward
.Lclosed:
    pclose a1
    halt

; number: v0 = program argument a0 as a decimal number (0 if absent)
number:
    li v0, 0
    argc t0
    bgeu a0, t0, .Lnone
    la t2, argbuf
    li t3, 32
    arg t4, a0, t2, t3
    li t5, 0
.Ldigit:
    bge t5, t4, .Lnone
    add t6, t2, t5
    ld8u t7, [t6]
    addi t7, t7, -48
    muli v0, v0, 10
    add v0, v0, t7
    addi t5, t5, 1
    jmp .Ldigit
.Lnone:
    ret
