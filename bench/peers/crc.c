#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
/* crc N: N pseudo-random bytes (bits 16..23 of the LCG x = 69069 x + 1 mod 2^32,
   from x = 1), their CRC-32
   (table-driven; the table built bit by bit) and the count of the most
   frequent byte value. crc 10000000 prints 3351500196 and 39482. */
int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 10000000L;
  unsigned char *buf = malloc(n);
  uint32_t x = 1;
  for (long i = 0; i < n; i++) {
    x = x * 69069u + 1u;
    buf[i] = (x >> 16) & 0xff;
  }
  uint32_t table[256];
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    table[i] = c;
  }
  uint32_t crc = 0xFFFFFFFFu;
  for (long i = 0; i < n; i++) crc = table[(crc ^ buf[i]) & 0xff] ^ (crc >> 8);
  crc ^= 0xFFFFFFFFu;
  long hist[256] = {0};
  for (long i = 0; i < n; i++) hist[buf[i]]++;
  long best = 0;
  for (int b = 0; b < 256; b++)
    if (hist[b] > best) best = hist[b];
  printf("%u\n%ld\n", crc, best);
  free(buf);
  return 0;
}
