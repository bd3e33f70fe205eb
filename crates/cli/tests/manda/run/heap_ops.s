; The heap as a bounds-checked array: hld/hst at heap offsets, hsize,
; hgrow (never trapping), hcopy (overlapping), hfill, hput; then an access
; that passes the end by one byte traps.
.rodata
text: .ascii "heap!"
.code
main:
    hsize t0
    printi t0                       ; 0
    li t1, 65536
    hgrow t2, t1
    printi t2                       ; the old size: 0
    hsize t0
    printi t0                       ; 65536
    li t3, 1099511627776            ; 1 TiB: past the memory limit
    hgrow t2, t3
    printi t2                       ; refused, no trap: -1
    li t4, -2
    li t5, 100
    hst16 t4, t5, 0
    hld16u t6, t5, 0
    printi t6                       ; 65534
    hld16s t6, t5, 0
    printi t6                       ; -2
    hld8s t6, t5, 1
    printi t6                       ; -1
    hld32u t6, t5, 0
    printi t6                       ; 65534 (the next bytes are 0)
    li t7, 4294967396               ; 2^32 + 100: only the low 32 bits are the offset
    hld16s t6, t7, 0
    printi t6                       ; -2
    li t8, 0
    la t9, text
    li t10, 5
    hput t8, t9, t10                ; "heap!" at offset 0
    li t11, 2
    hcopy t11, t8, t10              ; overlapping, as if through a buffer: "heheap!"
    li t12, 7
    grow t13, t8                    ; the heap's end (a grow of 0)
    sub t13, t13, t0                ; its first address
    li t14, 1
    write t14, t13, t12
    li t15, 10
    putc t15                        ; "heheap!\n"
    li t16, 46                      ; '.'
    hfill t11, t16, t11
    write t14, t13, t12
    putc t15                        ; "he..ap!\n"
    li t18, 200
    li t19, 4660                    ; 0x1234
    hst8 t19, t18, 0                ; only the low byte: 0x34
    hld8u t6, t18, 0
    printi t6                       ; 52
    li t20, -9                      ; every bit but one
    hst64 t20, t18, 8
    hld32s t6, t18, 12
    printi t6                       ; the high half, sign-extended: -1
    now t21                         ; wall-clock nanoseconds: after 2020-01-01 (1577836800 s)
    li t22, 1577836800000000000
    slt t6, t22, t21
    printi t6                       ; 1
    li t17, 65532
    hst32 t4, t17, 0                ; the last 4 bytes: fine
    hld64 t6, t17, 0                ; 8 bytes from 65532 pass the end by 4: trap
    halt
