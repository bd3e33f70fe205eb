; f64 instructions: results, NaN, infinities, signed zeros, conversions.
.code
main:
    fli t0, 1.5
    fli t1, -0.25
    fadd t2, t0, t1
    printf t2, 99                   ; 1.25
    fsub t2, t0, t1
    printf t2, 99                   ; 1.75
    fmul t2, t0, t1
    printf t2, 99                   ; -0.375
    fdiv t2, t0, t1
    printf t2, 99                   ; -6
    fli t3, 0.0
    fdiv t2, t0, t3
    printf t2, 99                   ; inf
    fneg t4, t3
    fdiv t2, t0, t4
    printf t2, 99                   ; -inf
    fdiv t5, t3, t3
    printf t5, 99                   ; NaN
    fmin t2, t0, t1
    printf t2, 99                   ; -0.25
    fmax t2, t0, t1
    printf t2, 99                   ; 1.5
    fmin t2, t0, t5
    printf t2, 99                   ; NaN
    fmax t2, t5, t0
    printf t2, 99                   ; NaN
    fmin t2, t3, t4
    printf t2, 99                   ; -0
    fmax t2, t4, t3
    printf t2, 99                   ; 0
    fli t6, 2.0
    fsqrt t2, t6
    printf t2, 99                   ; 1.4142135623730951
    fsqrt t2, t1
    printf t2, 99                   ; NaN
    fneg t2, t0
    printf t2, 99                   ; -1.5
    fabs t2, t1
    printf t2, 99                   ; 0.25
    feq t2, t3, t4
    printi t2                       ; 0.0 = -0.0: 1
    feq t2, t5, t5
    printi t2                       ; NaN = NaN: 0
    flt t2, t1, t0
    printi t2                       ; 1
    flt t2, t5, t0
    printi t2                       ; 0
    fle t2, t0, t0
    printi t2                       ; 1
    fle t2, t0, t5
    printi t2                       ; 0
    li t7, -3
    itof t2, t7
    printf t2, 99                   ; -3
    utof t2, t7
    printf t2, 99                   ; 2^64 - 3 rounds to 18446744073709551616
    fli t8, -2.75
    ftoi t2, t8
    printi t2                       ; toward zero: -2
    fli t8, 1e300
    ftoi t2, t8
    printi t2                       ; saturates: 9223372036854775807
    fneg t8, t8
    ftoi t2, t8
    printi t2                       ; -9223372036854775808
    ftoi t2, t5
    printi t2                       ; NaN: 0
    fli t9, 2.5
    printf t9, 0                    ; half to even: 2
    fli t9, 0.125
    printf t9, 2                    ; 0.12
    fli t9, 3.14159
    printf t9, 3                    ; 3.142
    fli t9, 1e21
    printf t9, 99                   ; 1e21
    halt
