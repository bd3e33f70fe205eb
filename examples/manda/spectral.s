; run: {file} 20
; spectral N: the Benchmarks Game spectral norm of the infinite matrix
; A(i,j) = 1 / ((i+j)(i+j+1)/2 + i + 1), truncated to N x N (default
; N = 1000), by 10 rounds of the power method; 9 decimals: the benchmark
; peers' `spectral` (spectral 1000 prints 1.274224148). Three f64 arrays on
; the heap, a division in every inner step, a square root at the end.
.rodata
usage:  .ascii "usage: spectral N (N a decimal number)\n"
usage_end:
.equ USAGE_LEN, usage_end - usage

.data
argbuf: .zero 32

.code
; Registers kept across the program: s0 = N, s1 = u, s2 = v, s3 = tmp,
; s4 = rounds left, s6 = 1.0.
main:
    li a0, 1000
    call arg_or_default
    mov s0, v0
    blt s0, s6, .Lusage     ; (s6 is 0 here) a negative N: not a size
    shli t0, s0, 3
    grow s1, t0
    grow s2, t0
    grow s3, t0
    fli s6, 1.0
    li t2, 0
    bge t2, s0, .Lones_done
.Lones:                     ; u = (1, 1, …)
    shli t3, t2, 3
    add t3, s1, t3
    st64 s6, [t3]
    addi t2, t2, 1
    blt t2, s0, .Lones
.Lones_done:
    li s4, 10
.Lround:
    mov a0, s1
    mov a1, s2
    call atav               ; v = AtA u
    mov a0, s2
    mov a1, s1
    call atav               ; u = AtA v
    addi s4, s4, -1
    bnez s4, .Lround
    fli t0, 0.0             ; vBv
    fli t1, 0.0             ; vv
    li t2, 0
    bge t2, s0, .Lsummed
.Lsum:
    shli t3, t2, 3
    add t4, s1, t3
    ld64 t5, [t4]           ; u[i]
    add t4, s2, t3
    ld64 t6, [t4]           ; v[i]
    fmul t7, t5, t6
    fadd t0, t0, t7
    fmul t7, t6, t6
    fadd t1, t1, t7
    addi t2, t2, 1
    blt t2, s0, .Lsum
.Lsummed:
    fdiv t0, t0, t1
    fsqrt t0, t0
    printf t0, 9
    halt
.Lusage:
    jmp .Larg_bad

; atav: a1 = At A a0, through tmp (s3).
atav:
    mov s5, a1
    mov a1, s3
    call av                 ; tmp = A a0
    mov a0, s3
    mov a1, s5
    call atv                ; a1 = At tmp
    ret

; av: a1[i] = sum over j of A(i,j) a0[j], for i, j < N.
av:
    li t0, 0                ; i
    bge t0, s0, .Lav_done
.Lav_i:
    fli t1, 0.0             ; the sum
    li t2, 0                ; j
    mov t8, a0              ; &a0[j]
.Lav_j:
    add t3, t0, t2          ; i + j
    addi t4, t3, 1
    mul t4, t3, t4
    shri t4, t4, 1
    add t4, t4, t0
    addi t4, t4, 1
    itof t4, t4
    fdiv t4, s6, t4         ; A(i,j)
    ld64 t6, [t8]
    fmul t4, t4, t6
    fadd t1, t1, t4
    addi t8, t8, 8
    addi t2, t2, 1
    blt t2, s0, .Lav_j
    shli t3, t0, 3
    add t3, a1, t3
    st64 t1, [t3]
    addi t0, t0, 1
    blt t0, s0, .Lav_i
.Lav_done:
    ret

; atv: a1[i] = sum over j of A(j,i) a0[j].
atv:
    li t0, 0                ; i
    bge t0, s0, .Latv_done
.Latv_i:
    fli t1, 0.0
    li t2, 0                ; j
    mov t8, a0
.Latv_j:
    add t3, t0, t2          ; j + i
    addi t4, t3, 1
    mul t4, t3, t4
    shri t4, t4, 1
    add t4, t4, t2
    addi t4, t4, 1
    itof t4, t4
    fdiv t4, s6, t4         ; A(j,i)
    ld64 t6, [t8]
    fmul t4, t4, t6
    fadd t1, t1, t4
    addi t8, t8, 8
    addi t2, t2, 1
    blt t2, s0, .Latv_j
    shli t3, t0, 3
    add t3, a1, t3
    st64 t1, [t3]
    addi t0, t0, 1
    blt t0, s0, .Latv_i
.Latv_done:
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

