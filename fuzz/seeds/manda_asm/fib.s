; run: {file} 20
; fib N: the N-th Fibonacci number by naive recursion (default N = 30).
; fib(0) = 0, fib(1) = 1. s-registers are callee-saved: fib pushes the one it uses.
.rodata
usage:  .ascii "usage: fib N (N a decimal number)\n"
usage_end:
.equ USAGE_LEN, usage_end - usage

.data
argbuf: .zero 32

.code
main:
    li a0, 30
    call arg_or_default
    mov a0, v0
    call fib
    printi v0
    halt

; fib: v0 = fib(a0). One s-register carries what must survive each call:
; n - 2 across the first, fib(n - 1) across the second.
fib:
    li t0, 2
    blt a0, t0, .Lfib_small
    push s0
    addi s0, a0, -2         ; n - 2
    addi a0, a0, -1
    call fib                ; v0 = fib(n - 1)
    mov a0, s0
    mov s0, v0
    call fib                ; v0 = fib(n - 2)
    add v0, v0, s0
    pop s0
    ret
.Lfib_small:
    mov v0, a0
    ret

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

