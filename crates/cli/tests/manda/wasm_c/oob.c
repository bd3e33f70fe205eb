/* Loads past the end of linear memory in a function of its own (peek). */
#include <stdlib.h>
__attribute__((noinline)) int peek(volatile int *p) { return *p; }
int main(int argc, char **argv) { return peek((int *)(0x7ffffff0 + argc)); }
