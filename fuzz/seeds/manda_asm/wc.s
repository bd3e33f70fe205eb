; stdin: one two\n  three\tfour\n\nfive
; wc: count the lines, words and bytes of standard input, like `wc`:
; prints "LINES WORDS BYTES". A word is a run of bytes other than space,
; tab, newline, vertical tab, form feed and carriage return.
;   printf 'one two\nthree\n' | manda run examples/manda/wc.s   → 2 3 14
.data
buf:    .zero 4096
digits: .zero 24

.code
main:
    li s0, 0                ; lines
    li s1, 0                ; words
    li s2, 0                ; bytes
    li s3, 0                ; 1 while inside a word
    la s4, buf
    li s5, 4096
    li s6, 10               ; '\n'
    li s7, 32               ; ' '
    li s8, 5                ; '\t' .. '\r' are 9 .. 13: 5 codes
.Lread:
    read t0, s4, s5
    beqz t0, .Ldone
    add s2, s2, t0
    mov t1, s4              ; p
    add t2, s4, t0          ; end of what was read
.Lbyte:
    ld8u t3, [t1]
    bne t3, s6, .Lnot_newline
    addi s0, s0, 1
.Lnot_newline:
    beq t3, s7, .Lspace
    addi t4, t3, -9
    bltu t4, s8, .Lspace
    bnez s3, .Lnext         ; inside a word already
    li s3, 1
    addi s1, s1, 1
    jmp .Lnext
.Lspace:
    li s3, 0
.Lnext:
    addi t1, t1, 1
    bltu t1, t2, .Lbyte
    jmp .Lread
.Ldone:
    mov a0, s0
    call print_u64
    putc s7
    mov a0, s1
    call print_u64
    putc s7
    mov a0, s2
    call print_u64
    putc s6
    halt

; print_u64: writes a0 as an unsigned decimal number to standard output.
print_u64:
    la t0, digits
    addi t1, t0, 24         ; the digits are written backwards from here
    mov t2, t1
    li t3, 10
.Ldigit:
    addi t2, t2, -1
    remu t4, a0, t3
    addi t4, t4, 48         ; + '0'
    st8 t4, [t2]
    divu a0, a0, t3
    bnez a0, .Ldigit
    li t5, 1
    sub t6, t1, t2
    write t5, t2, t6
    ret
