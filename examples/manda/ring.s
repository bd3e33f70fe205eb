; run: {file} 100 10
; threads: 1 2 4
; ring N M: a token goes M times around a ring of N contexts, each hop
; adding 1; prints N * M (defaults N = 1000, M = 1000). The same job as
; `ring` in bench/peers/concurrency.
.rodata
usage:  .ascii "usage: ring N M (N and M decimal numbers, N at least 1)\n"
usage_end:
.equ USAGE_LEN, usage_end - usage
.data
argbuf: .zero 32
token:  .zero 8
.code
main:
    li a0, 0
    li a1, 1000
    call arg_number
    mov s0, v0              ; N
    li a0, 1
    li a1, 1000
    call arg_number
    mov s1, v0              ; M
    beqz s0, .Lusage
    ; N ports, 0 … N-1: context k (1 … N-1) forwards port k-1 to port k;
    ; this one sends to port 0 and receives from port N-1.
    li s2, 0
.Lports:
    pnew t0
    addi s2, s2, 1
    blt s2, s0, .Lports
    li a0, 0                ; the forwarder's in-port (copied into it); out is a0 + 1
    addi s2, s0, -1
    beqz s2, .Lgo
.Lforwarders:
    fork t0, forwarder
    addi a0, a0, 1
    blt a0, s2, .Lforwarders
.Lgo:
    la s3, token
    li s4, 8
    li s5, 0                ; rounds
    li s6, 0                ; the first port
    beqz s1, .Ldone
.Lround:
    psend s6, s3, s4
    precv t0, s2, s3, s4    ; from port N-1
    ld64 t0, [s3]
    addi t0, t0, 1          ; this context's hop
    st64 t0, [s3]
    addi s5, s5, 1
    blt s5, s1, .Lround
.Ldone:
    pclose s6               ; the forwarders end one after the other
    ld64 t0, [s3]
    printi t0
    halt
.Lusage:
    jmp .Larg_bad

; forwarder: from port a0 to port a0 + 1, adding 1, until a0 closes.
forwarder:
    addi a1, a0, 1
    la s3, token
    li s4, 8
    li t2, 0
.Lforward:
    precv t0, a0, s3, s4
    blt t0, t2, .Lclosed
    ld64 t1, [s3]
    addi t1, t1, 1
    st64 t1, [s3]
    psend a1, s3, s4
    jmp .Lforward
.Lclosed:
    pclose a1
    halt

; arg_number: v0 = program argument a0 as a decimal number, or a1 if there
; are not that many arguments. A malformed one prints the usage line and exits 2.
arg_number:
    argc t0
    bgeu a0, t0, .Larg_default
    la t2, argbuf
    li t3, 32
    arg t4, a0, t2, t3      ; t4 = its length
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
    mov v0, a1
    ret
.Larg_bad:
    li t0, 2                ; fd 2: standard error
    la t1, usage
    li t2, USAGE_LEN
    write t0, t1, t2
    li t0, 2
    exit t0
