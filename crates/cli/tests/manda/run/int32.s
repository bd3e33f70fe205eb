; The 32-bit integer instructions, the bit counts and csel: results are the
; low 32 bits sign-extended, shift amounts are taken mod 32.
.code
main:
    li t0, 2147483647
    li t1, 1
    add32 t2, t0, t1
    printi t2                       ; 2^31 - 1 + 1 wraps: -2147483648
    li t3, -2147483648
    sub32 t2, t3, t1
    printi t2                       ; 2147483647
    li t4, 65537
    mul32 t2, t4, t4
    printi t2                       ; 65537² = 4295098369, low 32 bits: 131073
    li t5, 4294967295               ; the low 32 bits all ones: -1 as an i32
    addi32 t2, t5, 0
    printi t2                       ; -1
    addi32 t2, t0, 1
    printi t2                       ; -2147483648
    li t6, 33
    shl32 t2, t1, t6
    printi t2                       ; 1 << (33 mod 32) = 2
    shli32 t2, t1, 31
    printi t2                       ; -2147483648
    li t7, -16
    shr32 t2, t7, t1
    printi t2                       ; 0xfffffff0 >> 1 = 2147483640
    shri32 t2, t7, 4
    printi t2                       ; 268435455
    sar32 t2, t7, t1
    printi t2                       ; -8
    sari32 t2, t7, 36
    printi t2                       ; -16 >> 4 = -1
    li t8, -2147483647              ; 0x80000001
    rotl32 t2, t8, t1
    printi t2                       ; 0x00000003 = 3
    rotr32 t2, t8, t1
    printi t2                       ; 0xc0000000 = -1073741824
    clz32 t2, t1
    printi t2                       ; 31
    clz32 t2, t3
    printi t2                       ; 0 (bit 31 set)
    li t9, 0
    clz32 t2, t9
    printi t2                       ; 32
    ctz32 t2, t9
    printi t2                       ; 32
    ctz32 t2, t3
    printi t2                       ; 31
    popcnt32 t2, t5
    printi t2                       ; 32 (only the low half counts)
    li t10, -1
    popcnt t2, t10
    printi t2                       ; 64
    clz t2, t1
    printi t2                       ; 63
    ctz t2, t9
    printi t2                       ; 64
    li t11, -9223372036854775807    ; 0x8000000000000001
    rotl t2, t11, t1
    printi t2                       ; 3
    rotr t2, t11, t1
    printi t2                       ; 0xc000000000000000 = -4611686018427387904
    li t12, 7
    li t13, 8
    csel t2, t1, t12, t13
    printi t2                       ; 7
    csel t2, t9, t12, t13
    printi t2                       ; 8
    halt
