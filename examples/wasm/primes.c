/* Prints the first COUNT primes, one a line, sleeping DELAY ms after each
 * (manda_sleep_ms parks the context without holding a thread), so that
 * there is time to move it:   manda run primes.wasm [COUNT] [DELAY]
 * The primes found so far live in a growing heap array: a migrated run
 * carries them along and goes on from where it stopped. */
#include <stdio.h>
#include <stdlib.h>
#include "manda.h"

int main(int argc, char **argv) {
  int count = argc > 1 ? atoi(argv[1]) : 100;
  int delay = argc > 2 ? atoi(argv[2]) : 100;
  setvbuf(stdout, NULL, _IOLBF, 0);
  int cap = 16, found = 0;
  unsigned *primes = malloc(cap * sizeof *primes);
  for (unsigned n = 2; found < count; n++) {
    int prime = 1;
    for (int i = 0; i < found && primes[i] * primes[i] <= n; i++)
      if (n % primes[i] == 0) { prime = 0; break; }
    if (!prime) continue;
    if (found == cap) primes = realloc(primes, (cap *= 2) * sizeof *primes);
    primes[found++] = n;
    printf("%u\n", n);
    if (delay > 0) manda_sleep_ms(delay);
  }
  free(primes);
  return 0;
}
