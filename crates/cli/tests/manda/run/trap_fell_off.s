; Running past the last instruction of a code section.
.code
main:
    li t0, 1
    printi t0
