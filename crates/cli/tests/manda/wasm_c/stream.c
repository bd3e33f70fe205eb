// Streams the file `in.bin` through a run-length compressor into `out.bin`
// (both under the granted directory), printing the MiB done every 4 MiB and
// at the end a checksum of the input: the program the migration tests move
// mid-run with its two files open.
#include <stdio.h>
#include <stdint.h>

static unsigned char in[1 << 16], out[(1 << 17) + 16];

int main(void) {
    FILE *src = fopen("in.bin", "rb"), *dst = fopen("out.bin", "wb");
    if (!src || !dst) { perror("open"); return 1; }
    uint64_t total = 0, sum = 0;
    int run_byte = -1, run = 0;
    size_t n;
    while ((n = fread(in, 1, sizeof in, src)) > 0) {
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
            sum = sum * 31 + in[i];
            if (in[i] == run_byte && run < 255) { run++; continue; }
            if (run_byte >= 0) { out[o++] = (unsigned char)run; out[o++] = (unsigned char)run_byte; }
            run_byte = in[i];
            run = 1;
        }
        fwrite(out, 1, o, dst);
        uint64_t before = total;
        total += n;
        if (total >> 22 != before >> 22) printf("%llu\n", (unsigned long long)(total >> 20));
    }
    if (run_byte >= 0) { out[0] = (unsigned char)run; out[1] = (unsigned char)run_byte; fwrite(out, 1, 2, dst); }
    fclose(dst);
    fclose(src);
    printf("%llu\n", (unsigned long long)(sum % 1000000007));
    return 0;
}
