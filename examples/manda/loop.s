; run: {file} 1000
; loop N: the sum of i for i in 0 .. N-1 in 64-bit integers (default N = 200000000),
; the benchmark peers' `loop`: loop 200000000 prints 19999999900000000.
.rodata
usage:  .ascii "usage: loop N (N a decimal number)\n"
usage_end:
.equ USAGE_LEN, usage_end - usage

.data
argbuf: .zero 32

.code
main:
    li a0, 200000000
    call arg_or_default
    li t0, 0                ; i
    li t1, 0                ; sum
    bge t0, v0, .Ldone
.Lloop:
    add t1, t1, t0
    addi t0, t0, 1
    blt t0, v0, .Lloop
.Ldone:
    printi t1
    halt
; arg_or_default: v0 = the first program argument as a decimal number,
; or a0 if there is none. A malformed argument prints a usage line and exits 2.
arg_or_default:
    argc t0
    beqz t0, .Larg_default
    li t1, 0                ; argument index 0
    la t2, argbuf
    li t3, 32
    arg t4, t1, t2, t3      ; t4 = its length
    beqz t4, .Larg_bad
    bltu t3, t4, .Larg_bad  ; longer than the buffer: not a number we take
    li v0, 0
    li t5, 0                ; i
    li t8, 10
.Larg_digit:
    bge t5, t4, .Larg_done
    add t6, t2, t5
    ld8u t7, [t6]
    addi t7, t7, -48        ; - '0'
    bgeu t7, t8, .Larg_bad
    muli v0, v0, 10
    add v0, v0, t7
    addi t5, t5, 1
    jmp .Larg_digit
.Larg_done:
    ret
.Larg_default:
    mov v0, a0
    ret
.Larg_bad:
    li t0, 2                ; fd 2: standard error
    la t1, usage
    li t2, USAGE_LEN
    write t0, t1, t2
    li t0, 2
    exit t0

