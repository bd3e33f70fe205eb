; run: {file} 1000
; nbody N: the Computer Language Benchmarks Game n-body simulation of the
; Jovian planets, N steps of 0.01 (default 1000): prints the energy before
; and after, 9 decimals. nbody 1000 prints -0.169075164 and -0.169087605.
;
; A body is 7 f64 at offsets 0 x, 8 y, 16 z, 24 vx, 32 vy, 40 vz, 48 mass.
; The table holds the published constants; main scales the velocities by
; DAYS_PER_YEAR and the masses by SOLAR_MASS = 4 * PI * PI at start, the
; same operations in the same order as the reference program.
.equ BODY, 56
.equ NBODIES, 5

.rodata
usage:  .ascii "usage: nbody N (N a decimal number)\n"
usage_end:
.equ USAGE_LEN, usage_end - usage

.data
argbuf: .zero 32
.align 8
bodies:
    ; the sun: at rest at the origin; its mass is set to SOLAR_MASS by main
    .f64 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0
    ; jupiter
    .f64 4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01
    .f64 1.66007664274403694e-03, 7.69901118419740425e-03, -6.90460016972063023e-05
    .f64 9.54791938424326609e-04
    ; saturn
    .f64 8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01
    .f64 -2.76742510726862411e-03, 4.99852801234917238e-03, 2.30417297573763929e-05
    .f64 2.85885980666130812e-04
    ; uranus
    .f64 1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01
    .f64 2.96460137564761618e-03, 2.37847173959480950e-03, -2.96589568540237556e-05
    .f64 4.36624404335156298e-05
    ; neptune
    .f64 1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01
    .f64 2.68067772490389322e-03, 1.62824170038242295e-03, -9.51592254519715870e-05
    .f64 5.15138902046611451e-05

.code
; Registers kept across the program: s0 = bodies, s1 = end of bodies,
; s2 = dt, s3 = SOLAR_MASS, s4 = N, s5 = step counter.
main:
    li a0, 1000
    call arg_or_default
    mov s4, v0
    la s0, bodies
    addi s1, s0, BODY * NBODIES
    fli s3, 4.0
    fli t0, 3.141592653589793
    fmul s3, s3, t0
    fmul s3, s3, t0         ; SOLAR_MASS = (4 * PI) * PI
    st64 s3, [s0 + 48]
    fli t1, 365.24          ; DAYS_PER_YEAR
    addi t0, s0, BODY
.Lscale:
    bgeu t0, s1, .Lscaled
    ld64 t2, [t0 + 24]
    fmul t2, t2, t1
    st64 t2, [t0 + 24]
    ld64 t2, [t0 + 32]
    fmul t2, t2, t1
    st64 t2, [t0 + 32]
    ld64 t2, [t0 + 40]
    fmul t2, t2, t1
    st64 t2, [t0 + 40]
    ld64 t2, [t0 + 48]
    fmul t2, t2, s3
    st64 t2, [t0 + 48]
    addi t0, t0, BODY
    jmp .Lscale
.Lscaled:
    call offset_momentum
    call energy
    printf v0, 9
    fli s2, 0.01
    li s5, 0
    bge s5, s4, .Lsteps_done
.Lstep:
    call advance
    addi s5, s5, 1
    blt s5, s4, .Lstep
.Lsteps_done:
    call energy
    printf v0, 9
    halt

; offset_momentum: the sun's velocity = -(sum of v * mass) / SOLAR_MASS.
offset_momentum:
    fli t2, 0.0             ; px
    fli t3, 0.0             ; py
    fli t4, 0.0             ; pz
    mov t0, s0
.Lmom:
    bgeu t0, s1, .Lmom_done
    ld64 t5, [t0 + 48]
    ld64 t6, [t0 + 24]
    fmul t6, t6, t5
    fadd t2, t2, t6
    ld64 t6, [t0 + 32]
    fmul t6, t6, t5
    fadd t3, t3, t6
    ld64 t6, [t0 + 40]
    fmul t6, t6, t5
    fadd t4, t4, t6
    addi t0, t0, BODY
    jmp .Lmom
.Lmom_done:
    fneg t2, t2
    fdiv t2, t2, s3
    st64 t2, [s0 + 24]
    fneg t3, t3
    fdiv t3, t3, s3
    st64 t3, [s0 + 32]
    fneg t4, t4
    fdiv t4, t4, s3
    st64 t4, [s0 + 40]
    ret

; energy: v0 = kinetic minus potential energy of the system.
energy:
    fli v0, 0.0
    mov t0, s0
.Le_body:
    ld64 t2, [t0 + 24]
    fmul t2, t2, t2
    ld64 t3, [t0 + 32]
    fmul t3, t3, t3
    fadd t2, t2, t3
    ld64 t3, [t0 + 40]
    fmul t3, t3, t3
    fadd t2, t2, t3         ; vx*vx + vy*vy + vz*vz
    fli t3, 0.5
    ld64 t4, [t0 + 48]
    fmul t3, t3, t4
    fmul t3, t3, t2
    fadd v0, v0, t3         ; e += 0.5 * mass * v²
    addi t1, t0, BODY
    bgeu t1, s1, .Le_next
.Le_pair:
    ld64 t2, [t0]
    ld64 t6, [t1]
    fsub t2, t2, t6         ; dx
    ld64 t3, [t0 + 8]
    ld64 t6, [t1 + 8]
    fsub t3, t3, t6         ; dy
    ld64 t4, [t0 + 16]
    ld64 t6, [t1 + 16]
    fsub t4, t4, t6         ; dz
    fmul t5, t2, t2
    fmul t6, t3, t3
    fadd t5, t5, t6
    fmul t6, t4, t4
    fadd t5, t5, t6
    fsqrt t5, t5            ; distance
    ld64 t6, [t0 + 48]
    ld64 t7, [t1 + 48]
    fmul t6, t6, t7
    fdiv t6, t6, t5
    fsub v0, v0, t6         ; e -= m1 * m2 / distance
    addi t1, t1, BODY
    bltu t1, s1, .Le_pair
.Le_next:
    addi t0, t0, BODY
    bltu t0, s1, .Le_body
    ret

; advance: one step of dt (s2). For each body b (t0) its position and
; mass stay in t10-t13 and its velocity in t14-t16 while the pairs (b, b2)
; with b2 (t1) after it update both velocities; then every position moves.
advance:
    mov t0, s0
.La_body:
    addi t1, t0, BODY
    bgeu t1, s1, .La_move   ; the last body has no pair left
    ld64 t10, [t0]
    ld64 t11, [t0 + 8]
    ld64 t12, [t0 + 16]
    ld64 t13, [t0 + 48]     ; b.mass
    ld64 t14, [t0 + 24]
    ld64 t15, [t0 + 32]
    ld64 t16, [t0 + 40]
.La_pair:
    ld64 t2, [t1]
    fsub t2, t10, t2        ; dx = b.x - b2.x
    ld64 t3, [t1 + 8]
    fsub t3, t11, t3        ; dy
    ld64 t4, [t1 + 16]
    fsub t4, t12, t4        ; dz
    fmul t5, t2, t2
    fmul t6, t3, t3
    fadd t5, t5, t6
    fmul t6, t4, t4
    fadd t5, t5, t6         ; d2 = dx*dx + dy*dy + dz*dz
    fsqrt t6, t5
    fmul t6, t5, t6
    fdiv t6, s2, t6         ; mag = dt / (d2 * sqrt(d2))
    ld64 t7, [t1 + 48]      ; b2.mass
    fmul t8, t2, t7
    fmul t8, t8, t6
    fsub t14, t14, t8       ; b.vx -= dx * b2.mass * mag
    fmul t8, t3, t7
    fmul t8, t8, t6
    fsub t15, t15, t8       ; b.vy -= …
    fmul t8, t4, t7
    fmul t8, t8, t6
    fsub t16, t16, t8       ; b.vz -= …
    fmul t8, t2, t13
    fmul t8, t8, t6
    ld64 t9, [t1 + 24]
    fadd t9, t9, t8
    st64 t9, [t1 + 24]      ; b2.vx += dx * b.mass * mag
    fmul t8, t3, t13
    fmul t8, t8, t6
    ld64 t9, [t1 + 32]
    fadd t9, t9, t8
    st64 t9, [t1 + 32]      ; b2.vy += …
    fmul t8, t4, t13
    fmul t8, t8, t6
    ld64 t9, [t1 + 40]
    fadd t9, t9, t8
    st64 t9, [t1 + 40]      ; b2.vz += …
    addi t1, t1, BODY
    bltu t1, s1, .La_pair
    st64 t14, [t0 + 24]
    st64 t15, [t0 + 32]
    st64 t16, [t0 + 40]
    addi t0, t0, BODY
    jmp .La_body
.La_move:
    mov t0, s0
.La_pos:
    ld64 t2, [t0 + 24]
    fmul t2, s2, t2
    ld64 t3, [t0]
    fadd t3, t3, t2
    st64 t3, [t0]           ; x += dt * vx
    ld64 t2, [t0 + 32]
    fmul t2, s2, t2
    ld64 t3, [t0 + 8]
    fadd t3, t3, t2
    st64 t3, [t0 + 8]
    ld64 t2, [t0 + 40]
    fmul t2, s2, t2
    ld64 t3, [t0 + 16]
    fadd t3, t3, t2
    st64 t3, [t0 + 16]
    addi t0, t0, BODY
    bltu t0, s1, .La_pos
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
