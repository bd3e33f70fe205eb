/* Prints each argument in brackets, a line on stderr, and exits with argc. */
#include <stdio.h>
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) printf("[%s]\n", argv[i]);
  fprintf(stderr, "to stderr\n");
  return argc;
}
