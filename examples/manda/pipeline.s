; run: {file} 20
; threads: 1 2 4
; A pipeline of four contexts: a source sends 0, 1, 2, … (a millisecond's
; sleep between), one stage doubles each value, the next adds 1, and the
; first context prints what arrives: 1, 3, 5, … When the source is done it
; closes its port, and each stage closes the next when it sees the close.
; The count is the first argument (default 1000). At any moment some
; contexts sleep, some wait on ports and messages are in flight.
.data
argbuf: .zero 32
.code
main:
    li s0, 1000
    argc t0
    beqz t0, .Lcounted
    li t1, 0
    la t2, argbuf
    li t3, 32
    arg t4, t1, t2, t3
    li s0, 0
    li t5, 0
.Ldigit:
    bge t5, t4, .Lcounted
    add t6, t2, t5
    ld8u t7, [t6]
    addi t7, t7, -48
    muli s0, s0, 10
    add s0, s0, t7
    addi t5, t5, 1
    jmp .Ldigit
.Lcounted:
    mov a4, s0
    pnew a1                 ; source -> double
    pnew a2                 ; double -> inc
    pnew a3                 ; inc -> sink (here)
    fork t0, source
    fork t0, double
    fork t0, inc
    salloc 8
    getsp s1
    li s2, 8
.Lsink:
    precv t0, a3, s1, s2
    li t1, 0
    blt t0, t1, .Ldone
    ld64 t1, [s1]
    printi t1
    jmp .Lsink
.Ldone:
    halt

source:
    salloc 8
    getsp s1
    li s2, 8
    li s0, 0
    li s3, 1
.Lsend:
    bge s0, a4, .Lsent
    st64 s0, [s1]
    psend a1, s1, s2
    sleep s3
    addi s0, s0, 1
    jmp .Lsend
.Lsent:
    pclose a1
    halt

double:
    salloc 8
    getsp s1
    li s2, 8
.Ldouble:
    precv t0, a1, s1, s2
    li t1, 0
    blt t0, t1, .Ldouble_done
    ld64 t1, [s1]
    add t1, t1, t1
    st64 t1, [s1]
    psend a2, s1, s2
    jmp .Ldouble
.Ldouble_done:
    pclose a2
    halt

inc:
    salloc 8
    getsp s1
    li s2, 8
.Linc:
    precv t0, a2, s1, s2
    li t1, 0
    blt t0, t1, .Linc_done
    ld64 t1, [s1]
    addi t1, t1, 1
    st64 t1, [s1]
    psend a3, s1, s2
    jmp .Linc
.Linc_done:
    pclose a3
    halt
