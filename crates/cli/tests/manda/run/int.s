; Integer instructions: results and edge cases, one printi each.
.data
word: .i64 0
.code
main:
    nop
    li t0, 9223372036854775807      ; i64::MAX
    li t1, 1
    add t2, t0, t1
    printi t2                       ; wraps to -9223372036854775808
    li t3, -9223372036854775808
    sub t2, t3, t1
    printi t2                       ; wraps to 9223372036854775807
    li t4, 3037000500
    mul t2, t4, t4
    printi t2                       ; 3037000500² = 9223372037000250000 wraps: -9223372036709301616
    li t5, -2
    li t6, 3
    mulh t2, t5, t6
    printi t2                       ; high half of -6: -1
    mulhu t2, t5, t6
    printi t2                       ; (2^64 - 2) × 3 >> 64 = 2
    li t7, -7
    li t8, 2
    div t2, t7, t8
    printi t2                       ; -3 (toward zero)
    rem t2, t7, t8
    printi t2                       ; -1 (sign of the dividend)
    divu t2, t7, t8
    printi t2                       ; (2^64 - 7) / 2 = 9223372036854775804
    remu t2, t7, t8
    printi t2                       ; 1
    li t9, 12
    li t10, 10
    and t2, t9, t10
    printi t2                       ; 8
    or t2, t9, t10
    printi t2                       ; 14
    xor t2, t9, t10
    printi t2                       ; 6
    li t11, 65
    shl t2, t1, t11
    printi t2                       ; 1 << (65 mod 64) = 2
    li t11, 64
    shl t2, t1, t11
    printi t2                       ; shift by 64 is by 0: 1
    li t11, 63
    shr t2, t5, t11
    printi t2                       ; logical: 1
    sar t2, t5, t11
    printi t2                       ; arithmetic: -1
    li t11, 127
    sar t2, t3, t11
    printi t2                       ; by 63: -1
    addi t2, t0, 1
    printi t2                       ; wraps: -9223372036854775808
    addi t2, t1, -2
    printi t2                       ; -1
    muli t2, t4, -2
    printi t2                       ; -6074001000
    andi t2, t5, 255
    printi t2                       ; 254
    ori t2, t1, -16
    printi t2                       ; -15
    xori t2, t1, -1
    printi t2                       ; -2
    shli t2, t1, 70
    printi t2                       ; 70 mod 64 = 6: 64
    shri t2, t5, 60
    printi t2                       ; 15
    sari t2, t5, 1
    printi t2                       ; -1
    neg t2, t3
    printi t2                       ; -(-2^63) wraps to itself
    not t2, t1
    printi t2                       ; -2
    seq t2, t1, t1
    printi t2                       ; 1
    sne t2, t1, t1
    printi t2                       ; 0
    slt t2, t5, t1
    printi t2                       ; -2 < 1 signed: 1
    sltu t2, t5, t1
    printi t2                       ; 2^64-2 < 1 unsigned: 0
    sle t2, t1, t1
    printi t2                       ; 1
    sleu t2, t1, t5
    printi t2                       ; 1
    slti t2, t5, -1
    printi t2                       ; -2 < -1: 1
    li t12, 0x80ff7f80fffe8001
    sext8 t2, t12
    printi t2                       ; 0x01: 1
    sext16 t2, t12
    printi t2                       ; 0x8001: -32767
    sext32 t2, t12
    printi t2                       ; 0xfffe8001: -98303
    zext8 t2, t12
    printi t2                       ; 1
    zext16 t2, t12
    printi t2                       ; 32769
    zext32 t2, t12
    printi t2                       ; 4294868993
    mov t13, t12
    seq t2, t13, t12
    printi t2                       ; 1
    la t2, word
    printi t2                       ; the address of `word`: its file offset, 9
    halt
