; run: {file} first sécond
; stdin: abc\n
; System instructions: output, input, arguments, clock, sleep, heap.
.data
buf: .zero 16
msg: .ascii "to stderr\n"
.code
main:
    li t0, 72
    putc t0                         ; H
    li t0, 10
    putc t0
    la t1, buf
    li t2, 16
    read t3, t1, t2
    printi t3                       ; 4 bytes: "abc\n"
    li t4, 1
    write t4, t1, t3                ; abc
    read t3, t1, t2
    printi t3                       ; end of input: 0
    argc t5
    printi t5                       ; 2
    li t6, 1
    li t7, 0
    arg t8, t6, t1, t7
    printi t8                       ; "sécond" is 7 bytes (é is 2)
    arg t8, t6, t1, t2
    write t4, t1, t8
    li t0, 10
    putc t0                         ; sécond
    li t6, 0
    li t7, 3
    arg t8, t6, t1, t7
    printi t8                       ; whole length 5, only 3 copied
    write t4, t1, t7                ; fir
    putc t0
    clock s0
    li t9, 20
    sleep t9
    clock s1
    sub s2, s1, s0
    li s3, 20000000
    sleu s4, s3, s2
    printi s4                       ; at least 20 ms passed: 1
    li t9, -5
    sleep t9                        ; negative: no sleep
    li t10, 4096
    grow t11, t10
    grow t12, t10
    sub t13, t12, t11
    printi t13                      ; consecutive: 4096
    li t0, 2
    la t1, msg
    li t2, 10
    write t0, t1, t2                ; to stderr
    li t0, 300
    exit t0                         ; 300 mod 256 = 44
