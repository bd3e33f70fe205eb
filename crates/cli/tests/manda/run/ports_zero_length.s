; threads: 1 2
; An empty message may name any address, as an empty write may: no byte is
; read or written, so nothing can fault — in a guard gap, past the heap,
; at the very top of the address space; and an empty buffer takes one.
.code
main:
    pnew s0
    li s1, 0
    li s2, 200              ; past this small image: a guard gap
    psend s0, s2, s1
    li s2, -3               ; 0xffff…fd
    psend s0, s2, s1
    precv t0, s0, s2, s1
    printi t0               ; 0: an empty message
    li s2, 1000000000       ; past the heap
    ptry t0, s0, s2, s1
    printi t0               ; 0
    ptry t0, s0, s2, s1
    printi t0               ; -2: empty now
    halt
