; run: {file} 100
; sieve N: count the primes up to N with the sieve of Eratosthenes over a
; byte array on the heap (default N = 1000000), three times, a line each:
; the benchmark peers' `sieve` (sieve 10000000 prints 664579 three times).
.rodata
usage:  .ascii "usage: sieve N (N a decimal number)\n"
usage_end:
.equ USAGE_LEN, usage_end - usage

.data
argbuf: .zero 32

.code
main:
    li a0, 1000000
    call arg_or_default
    mov s0, v0              ; N
    addi t0, s0, 1
    grow s1, t0             ; s1 = N + 1 flag bytes
    li s3, 3                ; rounds
.Lround:
    mov a0, s0
    mov a1, s1
    call sieve
    printi v0
    addi s3, s3, -1
    bnez s3, .Lround
    halt

; sieve: v0 = the number of primes <= a0 (a0 >= 1), using the a0 + 1
; bytes at a1: flag[k] = 1 while k may be prime.
sieve:
    add t5, a1, a0
    addi t5, t5, 1          ; t5 = one past flag[n]
    li t6, 1
    mov t1, a1
.Lset:                      ; every flag = 1
    st8 t6, [t1]
    addi t1, t1, 1
    bltu t1, t5, .Lset
    li t7, 0
    st8 t7, [a1]            ; 0 and 1 are not prime
    st8 t7, [a1 + 1]
    li t0, 2                ; i
.Lsieve_i:
    mul t3, t0, t0
    blt a0, t3, .Lcount     ; until i * i > n
    add t1, a1, t0
    ld8u t2, [t1]
    beqz t2, .Lsieve_next
    add t4, a1, t3          ; &flag[i * i]
.Lsieve_j:                  ; cross out i*i, i*i + i, … <= n
    st8 t7, [t4]
    add t4, t4, t0
    bltu t4, t5, .Lsieve_j
.Lsieve_next:
    addi t0, t0, 1
    jmp .Lsieve_i
.Lcount:                    ; v0 = flag[2] + … + flag[n]
    li v0, 0
    addi t1, a1, 2
    bgeu t1, t5, .Lcounted
.Lcount_k:
    ld8u t2, [t1]
    add v0, v0, t2
    addi t1, t1, 1
    bltu t1, t5, .Lcount_k
.Lcounted:
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

