; Operand forms: registers of every bank, memory operands, immediate ranges.
.code
main:
    mov a0, a63
    mov s0, s63
    mov v0, v63
    mov t0, t63
    ld64 a1, [s2]
    ld32s a1, [s2 + 2147483647]
    st16 a1, [s2 - 2147483648]
    addi a0, a0, -2147483648
    li a0, -9223372036854775808
    li a1, 0xffffffffffffffff
    fli a2, -0.0
    fli a3, bits:0x7ff8000000000001
    printf a0, 255
    salloc 4294967295
    halt
