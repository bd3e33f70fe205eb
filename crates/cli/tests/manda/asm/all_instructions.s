; Every instruction in the table, once, with representative operands.
; The test checks that assembling this file uses every opcode.
.data
value: .i64 42

.code
main:
    nop
    mov a0, s1
    li v2, -1234567890123
    la t3, value
    fli a63, 2.5
    add t63, a0, s1
    sub v2, t3, a63
    mul t63, a0, s1
    mulh v2, t3, a63
    mulhu t63, a0, s1
    div v2, t3, a63
    divu t63, a0, s1
    rem v2, t3, a63
    remu t63, a0, s1
    and v2, t3, a63
    or t63, a0, s1
    xor v2, t3, a63
    shl t63, a0, s1
    shr v2, t3, a63
    sar t63, a0, s1
    addi v2, t3, -5
    muli a63, t63, -5
    andi a0, s1, -5
    ori v2, t3, -5
    xori a63, t63, -5
    shli a0, s1, -5
    shri v2, t3, -5
    sari a63, t63, -5
    neg a0, s1
    not v2, t3
    seq a63, t63, a0
    sne s1, v2, t3
    slt a63, t63, a0
    sle s1, v2, t3
    sltu a63, t63, a0
    sleu s1, v2, t3
    slti a63, t63, -5
    sext8 a0, s1
    sext16 v2, t3
    sext32 a63, t63
    zext8 a0, s1
    zext16 v2, t3
    zext32 a63, t63
    fadd a0, s1, v2
    fsub t3, a63, t63
    fmul a0, s1, v2
    fdiv t3, a63, t63
    fmin a0, s1, v2
    fmax t3, a63, t63
    fsqrt a0, s1
    fneg v2, t3
    fabs a63, t63
    feq a0, s1, v2
    flt t3, a63, t63
    fle a0, s1, v2
    itof t3, a63
    utof t63, a0
    ftoi s1, v2
    ld8s t3, [a1 + 8]
    ld8u a63, [a1 + 8]
    ld16s t63, [a1 + 8]
    ld16u a0, [a1 + 8]
    ld32s s1, [a1 + 8]
    ld32u v2, [a1 + 8]
    ld64 t3, [a1 + 8]
    st8 a63, [a1 + 8]
    st16 t63, [a1 + 8]
    st32 a0, [a1 + 8]
    st64 s1, [a1 + 8]
    push v2
    pop t3
    salloc 16
    sfree 16
    ldsp a63, -5
    stsp t63, -5
    getsp a0
    jmp main
    jr s1
    beq v2, t3, main
    bne a63, t63, main
    blt a0, s1, main
    bge v2, t3, main
    bltu a63, t63, main
    bgeu a0, s1, main
    beqz v2, main
    bnez t3, main
    call main
    callr a63
    ret
    fork t63, main
    ctxid a0
    pnew s1
    psend v2, t3, a63
    precv t63, a0, s1, v2
    ptry t3, a63, t63, a0
    pclose s1
    write v2, t3, a63
    read t63, a0, s1
    argc v2
    arg t3, a63, t63, a0
    exit s1
    halt
    clock v2
    sleep t3
    grow a63, t63
    printi a0
    printf s1, 9
    putc v2
    rotl a0, s1, v2
    rotr t3, a63, t63
    clz a0, s1
    ctz v2, t3
    popcnt a63, t63
    add32 a0, s1, v2
    sub32 t3, a63, t63
    mul32 a0, s1, v2
    addi32 t3, a63, -2147483648
    shl32 a0, s1, v2
    shr32 t3, a63, t63
    sar32 a0, s1, v2
    shli32 t3, a63, 31
    shri32 a0, s1, 1
    sari32 v2, t3, 0
    rotl32 a63, t63, a0
    rotr32 s1, v2, t3
    clz32 a63, t63
    ctz32 a0, s1
    popcnt32 v2, t3
    csel a63, t63, a0, s1
    fcopysign v2, t3, a63
    fceil t63, a0
    ffloor s1, v2
    ftrunc t3, a63
    fround t63, a0
    truncs32 s1, v2
    truncu32 t3, a63
    truncs64 t63, a0
    truncu64 s1, v2
    sats32 t3, a63
    satu32 t63, a0
    satu64 s1, v2
    fadd32 t3, a63, t63
    fsub32 a0, s1, v2
    fmul32 t3, a63, t63
    fdiv32 a0, s1, v2
    fmin32 t3, a63, t63
    fmax32 a0, s1, v2
    fsqrt32 t3, a63
    fneg32 t63, a0
    fabs32 s1, v2
    fcopysign32 t3, a63, t63
    feq32 a0, s1, v2
    flt32 t3, a63, t63
    fle32 a0, s1, v2
    fceil32 t3, a63
    ffloor32 t63, a0
    ftrunc32 s1, v2
    fround32 t3, a63
    fpromote t63, a0
    fdemote s1, v2
    itof32 t3, a63
    utof32 t63, a0
    hld8s s1, v2, 0
    hld8u t3, a63, 4294967295
    hld16s t63, a0, 2
    hld16u s1, v2, 3
    hld32s t3, a63, 4
    hld32u t63, a0, 5
    hld64 s1, v2, 6
    hst8 t3, a63, 7
    hst16 t63, a0, 8
    hst32 s1, v2, 9
    hst64 t3, a63, 10
    printf32 t63
    now a0
    wasi a0, 45, t63
    hsize s1
    hgrow v2, t3
    hcopy a63, t63, a0
    hfill s1, v2, t3
    hput a63, t63, a0
    trap 0
    trap 255
    hld128 a0, a1, s1, 11
    hst128 t3, t4, a63, 12
    vbin a0, a1, s1, s2, t3, t4, i32x4.add
    vun v2, v3, a62, a63, f64x2.sqrt
    vtern a0, a1, a2, a3, a4, a5, a6, a7, v128.bitselect
    vshift s1, s2, s3, s4, t63, i64x2.shr_s
    vsplat v2, v3, a0, splat16
    vtest t3, a0, a1, i8x16.bitmask
    vextract a63, v2, v3, 15, extract8_s
    vreplace s1, s2, s3, s4, t63, 3, replace32
