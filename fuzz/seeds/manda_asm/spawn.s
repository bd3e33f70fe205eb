; run: {file} 1000
; threads: 1 2 4
; spawn N: start N contexts; each sends its number (0 … N-1) to the first
; context, which sums them and prints the sum (default N = 100000). The
; same job as `spawn` in bench/peers/concurrency (Go goroutines, Erlang
; processes).
.rodata
usage:  .ascii "usage: spawn N (N a decimal number)\n"
usage_end:
.equ USAGE_LEN, usage_end - usage
.data
argbuf: .zero 32
.code
main:
    li a0, 0
    li a1, 100000
    call arg_number
    mov s0, v0              ; N
    pnew a1                 ; where the children send (a1 is copied into each)
    li a0, 0                ; the child's number, copied into it as a0
    beqz s0, .Lsum
.Lspawn:
    fork t0, child
    addi a0, a0, 1
    blt a0, s0, .Lspawn
.Lsum:
    li s1, 0                ; sum
    li s2, 0                ; messages received
    salloc 8
    getsp s3
    li s4, 8
    beqz s0, .Lprint
.Lreceive:
    precv t0, a1, s3, s4
    ld64 t1, [s3]
    add s1, s1, t1
    addi s2, s2, 1
    blt s2, s0, .Lreceive
.Lprint:
    printi s1
    halt

; child: sends a0 to port a1 and ends.
child:
    salloc 8
    getsp t0
    st64 a0, [t0]
    li t1, 8
    psend a1, t0, t1
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
