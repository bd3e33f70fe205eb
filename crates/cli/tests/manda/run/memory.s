; Loads and stores of every width, sign and zero extension, unaligned
; access, in data, on the stack and on the heap.
.data
bytes: .byte 0x80, 0xff, 0x01, 0x7f, 0x00, 0x00, 0x00, 0x80, 0x55
.rodata
ro: .i64 -42
.code
main:
    la t0, bytes
    ld8s t1, [t0]
    printi t1                       ; 0x80: -128
    ld8u t1, [t0]
    printi t1                       ; 128
    ld16s t1, [t0]
    printi t1                       ; 0xff80: -128
    ld16u t1, [t0]
    printi t1                       ; 65408
    ld32s t1, [t0]
    printi t1                       ; 0x7f01ff80: 2130837376
    ld32u t1, [t0 + 1]
    printi t1                       ; unaligned 0x00_7f_01_ff: 8323583
    ld64 t1, [t0]
    printi t1                       ; 0x80000000_7f01ff80: -9223372034723938432
    ld8u t1, [t0 + 8]
    printi t1                       ; 85
    li t2, -1
    st8 t2, [t0 + 4]
    ld32s t1, [t0 + 4]
    printi t1                       ; 0x800000ff: -2147483393
    li t2, 0x1234
    st16 t2, [t0 + 5]
    ld64 t1, [t0 + 1]
    printi t1                       ; bytes 1..9 = ff 01 7f ff 34 12 80 55: 0x55801234ff7f01ff
    li t2, 0x0102030405060708
    st32 t2, [t0]
    ld32u t1, [t0]
    printi t1                       ; 0x05060708 = 84281096
    st64 t2, [t0 + 1]
    ld64 t1, [t0 + 1]
    printi t1                       ; 72623859790382856
    la t3, ro
    ld64 t1, [t3]
    printi t1                       ; rodata is readable: -42
    li t4, 16
    grow t5, t4                     ; 16 heap bytes, zeroed
    ld64 t1, [t5 + 8]
    printi t1                       ; 0
    st64 t2, [t5 + 8]
    ld16u t1, [t5 + 14]
    printi t1                       ; 0x0102 = 258
    ld8s t1, [t5]
    printi t1                       ; 0
    salloc 16
    getsp t6
    st64 t2, [t6]
    ld8u t1, [t6 + 7]
    printi t1                       ; 1
    sfree 16
    halt
