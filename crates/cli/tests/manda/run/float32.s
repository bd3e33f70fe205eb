; f32 arithmetic (an f32 is the low 32 bits of a register), conversions,
; rounding, and the conversions that trap.
.code
main:
    li t0, 1036831949               ; 0.1f32 (0x3dcccccd)
    li t1, 1045220557               ; 0.2f32 (0x3e4ccccd)
    fadd32 t2, t0, t1
    printf32 t2                     ; 0.3 rounded as f32: 0.3 (not 0.30000000000000004)
    printi t2                       ; its bits: 1050253722 (0x3e99999a)
    fpromote t3, t2
    printf t3, 20                   ; the same value as f64: 0.30000001192092896
    fli t4, 16777217.0
    fdemote t5, t4
    printf32 t5                     ; 2^24 + 1 rounds to even: 16777216.0
    li t6, 16777217
    itof32 t5, t6
    printf32 t5                     ; 16777216.0
    li t7, -1
    utof32 t5, t7
    printf32 t5                     ; 2^64 - 1 as f32: 1.8446744e19
    fsub32 t5, t0, t1
    printf32 t5                     ; -0.1
    fmul32 t5, t0, t1
    printf32 t5                     ; 0.020000001
    fdiv32 t5, t1, t0
    printf32 t5                     ; 2.0
    li t8, 1073741824               ; 2.0f32
    fsqrt32 t5, t8
    printf32 t5                     ; 1.4142135
    fneg32 t5, t0
    printf32 t5                     ; -0.1
    fabs32 t5, t5
    printf32 t5                     ; 0.1
    li t9, 2143289344               ; NaN (0x7fc00000)
    fmin32 t5, t0, t9
    printf32 t5                     ; NaN
    li t10, 2147483648              ; -0.0f32
    li t11, 0                       ; +0.0f32
    fmin32 t5, t11, t10
    printi t5                       ; -0.0: bits 2147483648
    fmax32 t5, t10, t11
    printi t5                       ; +0.0: bits 0
    fcopysign32 t5, t0, t10
    printf32 t5                     ; -0.1
    feq32 t5, t9, t9
    printi t5                       ; NaN ≠ NaN: 0
    flt32 t5, t0, t1
    printi t5                       ; 1
    fle32 t5, t1, t0
    printi t5                       ; 0
    li t12, 1075838976              ; 2.5f32
    fround32 t5, t12
    printf32 t5                     ; ties to even: 2.0
    fceil32 t5, t12
    printf32 t5                     ; 3.0
    ffloor32 t5, t12
    printf32 t5                     ; 2.0
    fneg32 t13, t12
    ftrunc32 t5, t13
    printf32 t5                     ; -2.0
    li t14, 2141192192              ; a signalling NaN (0x7fa00000)
    ffloor32 t5, t14
    printi t5                       ; made quiet: 0x7fe00000 = 2145386496
    fli t15, 3.5
    fround t5, t15
    printf t5, 1                    ; 4.0
    fli t16, -0.5
    fceil t5, t16
    printf t5, 20                   ; -0.0
    fli t17, -1.0
    fcopysign t5, t15, t17
    printf t5, 1                    ; -3.5
    ffloor t5, t15
    printf t5, 1                    ; 3.0
    ftrunc t5, t16
    printf t5, 20                   ; -0.0
    fli t18, -2147483648.9
    truncs32 t5, t18
    printi t5                       ; -2147483648
    fli t19, 4294967295.5
    truncu32 t5, t19
    printi t5                       ; 0xffffffff sign-extended: -1
    fli t20, -0.9
    truncu64 t5, t20
    printi t5                       ; 0
    fli t21, 1e30
    sats32 t5, t21
    printi t5                       ; 2147483647
    satu32 t5, t17
    printi t5                       ; 0
    satu64 t5, t21
    printi t5                       ; 2^64 - 1: -1
    truncs64 t5, t21                ; 1e30 is no i64: integer overflow
    halt
