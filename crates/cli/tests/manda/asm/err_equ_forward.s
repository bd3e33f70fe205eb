; A name used in an .equ before its definition is said to be so, not called undefined.
.equ A, B + 1
.equ B, 2
.data
    .zero C
.code
main:
    halt
.equ C, 8
