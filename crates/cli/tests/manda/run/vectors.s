; The vector instructions: a 128-bit vector is two registers, low half
; then high half. Each result is printed as its two halves (printi), or as
; the scalar a vtest/vextract gives; a store past the heap's end traps and
; writes nothing.
.code
main:
    li t0, 65536
    hgrow t1, t0                    ; a heap of one page
    li a0, 0x0000000200000001       ; i32x4 (1, 2, 3, 4)
    li a1, 0x0000000400000003
    li a2, 0x0000001e0000000a       ; i32x4 (10, 30, -1, 7)
    li a3, 0x00000007ffffffff
    vbin a4, a5, a0, a1, a2, a3, i32x4.add     ; (11, 32, 2, 11)
    printi a4
    printi a5
    vbin a4, a5, a0, a1, a2, a3, i32x4.lt_s    ; (yes, yes, no, yes): lanes all ones or 0
    printi a4
    printi a5
    vun a4, a5, a0, a1, i32x4.neg              ; (-1, -2, -3, -4)
    printi a4
    printi a5
    vtern a4, a5, a0, a1, a2, a3, a2, a3, v128.bitselect   ; a where the mask (b) is 1: a & b
    printi a4
    printi a5
    li t2, 0x0706050403020100                  ; shuffle lanes 0..7 then 16..23
    li t3, 0x1716151413121110
    vtern a4, a5, a0, a1, a2, a3, t2, t3, i8x16.shuffle  ; low half of a, then low half of b
    printi a4
    printi a5
    li t4, 33
    vshift a4, a5, a0, a1, t4, i32x4.shl       ; each lane << (33 mod 32) = << 1
    printi a4
    printi a5
    li t4, -2
    vsplat a4, a5, t4, splat16                 ; eight 0xfffe lanes
    printi a4
    printi a5
    vtest t5, a2, a3, i32x4.bitmask            ; only lane 2 is negative: 0b0100
    printi t5
    vtest t5, a0, a1, i32x4.all_true
    printi t5
    vextract t5, a2, a3, 2, extract32_s        ; -1, sign-extended
    printi t5
    vextract t5, a2, a3, 6, extract32_u        ; lane 6 mod 4 = 2, zero-extended: 4294967295
    printi t5
    li t4, 99
    vreplace a4, a5, a0, a1, t4, 1, replace8   ; byte lane 1 = 99
    printi a4
    printi a5
    li t6, 100
    hst128 a0, a1, t6, 0                       ; 16 bytes at heap offset 100
    hld128 a4, a5, t6, 0
    printi a4
    printi a5
    hld64 t7, t6, 8                            ; the high half is the second 8 bytes
    printi t7
    li t6, 65528
    hst128 a2, a3, t6, 0                       ; 8 of the 16 bytes pass the end: a trap, nothing written
    halt
