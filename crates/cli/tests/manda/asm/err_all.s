; Every error is reported, each with its line, column and a caret.
stray: nop
.code
main:
    frobnicate a0
    add a0, a1
    add a0, a1, x9
    addi a0, a0, 2147483648
    li a0, undefined_label
    jmp bytes
    ld64 a0, a1
    .byte 1
a5:
main:
    .bogus 3
    li a0, "unterminated
    li a1, '\q'
    li a2, 1 / 0
.data
bytes: .byte 256
    halt
    .align 3
