/* Forks workers through the manda imports; each sums its part of a range
 * and reports over a port. The total does not depend on the number of
 * workers or on the order their reports arrive in.
 *   manda run forksum.wasm [WORKERS] [N] */
#include <stdio.h>
#include <stdlib.h>
#include "manda.h"

static int results;
static int workers;
static long long n;

static void worker(int id) {
  long long lo = n * id / workers, hi = n * (id + 1) / workers, s = 0;
  for (long long i = lo; i < hi; i++) s += i * i % 1000003;
  long long report[2] = {id, s};
  manda_port_send(results, report, sizeof report);
}

int main(int argc, char **argv) {
  workers = argc > 1 ? atoi(argv[1]) : 4;
  n = argc > 2 ? atoll(argv[2]) : 10000000;
  if (workers < 1) {
    fprintf(stderr, "forksum: WORKERS must be at least 1\n");
    return 2;
  }
  results = manda_port_new();
  for (int w = 0; w < workers; w++) manda_fork(worker, w);
  long long total = 0;
  for (int w = 0; w < workers; w++) {
    long long report[2];
    manda_port_recv(results, report, sizeof report);
    total += report[1];
  }
  printf("%d workers, n = %lld: %lld\n", workers, n, total);
  return 0;
}
