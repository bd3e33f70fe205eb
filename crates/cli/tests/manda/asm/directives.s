; Every data directive, literal form and constant expression.
.equ SIX, 2 * 3
.equ MASK, (1 << 8) - 1 & ~0xf
.rodata
bytes:  .byte 1, 0xff, -1, 'A', '\n', '\x7f', 0b1010, 0o17, 1_000 - 900
ints:   .i8 -128
        .i16 0xbeef, -2
        .i32 -1, 4294967295
        .i64 -9223372036854775808, 18446744073709551615, ints - bytes
floats: .f64 1.5, -0.0, 1e-9, 2, inf, -inf, nan, bits:0x7ff0000000000001
text:   .ascii "tab\there \"quoted\" \\ done"
        .asciz "é"
.data
        .zero SIX
        .align 8
aligned: .i64 MASK % 7, SIX / 4
.code
main:
    la a0, floats
    la a1, aligned
    li a2, text - bytes
    halt
