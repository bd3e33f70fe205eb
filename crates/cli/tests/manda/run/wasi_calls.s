; The `wasi` instruction from assembly: WASI functions by number, their
; arguments in consecutive registers from the one named, pointers as heap
; offsets. fd_write (26) of an iovec, args_sizes_get (1), clock_res_get (4)
; of a bad clock, fd_close (8) of a descriptor never opened; then a number
; past the table traps.
.rodata
text: .ascii "wasi!\n"
.code
main:
    li t0, 4096
    hgrow t1, t0                    ; a heap of one page
    li t2, 100                      ; the text at heap offset 100
    la t3, text
    li t4, 6
    hput t2, t3, t4
    li t5, 0                        ; iovec at 0: (100, 6)
    hst32 t2, t5, 0
    hst32 t4, t5, 4
    li a10, 1                       ; fd_write(1, iovs 0, 1 iovec, nwritten at 8)
    li a11, 0
    li a12, 1
    li a13, 8
    wasi t6, 26, a10
    printi t6                       ; errno 0
    hld32u t7, a13, 0
    printi t7                       ; 6 bytes written
    li a10, 16                      ; args_sizes_get(16, 20): argv is the program name alone
    li a11, 20
    wasi t6, 1, a10
    hld32u t7, a10, 0
    printi t7                       ; 1
    li a10, 9                       ; clock_res_get(9, 0)
    li a11, 0
    wasi t6, 4, a10
    printi t6                       ; 28: inval
    li a10, 99                      ; fd_close(99)
    wasi t6, 8, a10
    printi t6                       ; 8: badf
    wasi t6, 46, a10                ; no function 46
    halt
