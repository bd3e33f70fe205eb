// Files and directories through wasi-libc: run in a directory of its own,
// natively and on Manda (`--dir .`), it must print the same bytes.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHECK(what, call) printf("%s: %s\n", what, (call) == 0 ? "ok" : strerror(errno))

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void list(const char *path) {
    DIR *d = opendir(path);
    if (!d) { printf("opendir %s: %s\n", path, strerror(errno)); return; }
    char *names[64]; int n = 0; struct dirent *e;
    while ((e = readdir(d)) && n < 64) names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    printf("%s:", path);
    for (int i = 0; i < n; i++) { printf(" %s", names[i]); free(names[i]); }
    printf("\n");
}

static const char *kind(mode_t m) {
    return S_ISREG(m) ? "file" : S_ISDIR(m) ? "directory" : S_ISLNK(m) ? "symlink" : "other";
}

int main(void) {
    printf("GREETING=%s\n", getenv("GREETING") ? getenv("GREETING") : "(unset)");

    // Write, read back, seek, tell.
    FILE *f = fopen("notes.txt", "w");
    fprintf(f, "first line\nsecond line\n");
    fclose(f);
    char line[64];
    f = fopen("notes.txt", "r");
    fseek(f, 6, SEEK_SET);
    fgets(line, sizeof line, f);
    printf("from 6: %s", line);
    printf("tell: %ld\n", ftell(f));
    fclose(f);

    // pread, pwrite, append, truncate, allocate, advise, sync.
    int fd = open("notes.txt", O_RDWR);
    char buf[16] = {0};
    printf("pread: %zd [%.6s]\n", pread(fd, buf, 6, 11), buf);
    printf("pwrite: %zd\n", pwrite(fd, "SECOND", 6, 11));
    printf("offset after pread/pwrite: %lld\n", (long long)lseek(fd, 0, SEEK_CUR));
    printf("seek end: %lld\n", (long long)lseek(fd, -5, SEEK_END));
    CHECK("ftruncate 10", ftruncate(fd, 10));
    CHECK("posix_fallocate", posix_fallocate(fd, 0, 4096));
    CHECK("posix_fadvise", posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL));
    CHECK("fsync", fsync(fd));
    CHECK("fdatasync", fdatasync(fd));
    struct stat st;
    fstat(fd, &st);
    printf("fstat: %s, %lld bytes\n", kind(st.st_mode), (long long)st.st_size);
    CHECK("ftruncate 10 again", ftruncate(fd, 10));
    close(fd);
    fd = open("notes.txt", O_WRONLY | O_APPEND);
    write(fd, "+tail\n", 6);
    printf("fcntl append: %s\n", (fcntl(fd, F_GETFL) & O_APPEND) ? "yes" : "no");
    close(fd);
    f = fopen("notes.txt", "r");
    size_t n = fread(line, 1, sizeof line - 1, f);
    line[n] = 0;
    fclose(f);
    printf("contents: [%s]\n", line);

    // Directories.
    CHECK("mkdir d", mkdir("d", 0755));
    printf("mkdir d again: %s\n", mkdir("d", 0755) == 0 ? "ok" : strerror(errno));
    CHECK("mkdir d/e", mkdir("d/e", 0755));
    f = fopen("d/e/leaf", "w"); fputs("leaf\n", f); fclose(f);
    list("d");
    list("d/e");
    printf("rmdir d (not empty): %s\n", rmdir("d") == 0 ? "ok" : strerror(errno));
    printf("unlink d (a directory): %s\n", unlink("d") == 0 ? "ok" : strerror(errno));
    printf("open missing: %s\n", open("missing", O_RDONLY) >= 0 ? "ok" : strerror(errno));
    printf("O_EXCL on existing: %s\n", open("notes.txt", O_CREAT | O_EXCL | O_WRONLY, 0644) >= 0 ? "ok" : strerror(errno));
    printf("O_DIRECTORY on a file: %s\n", open("notes.txt", O_RDONLY | O_DIRECTORY) >= 0 ? "ok" : strerror(errno));
    printf("file as a directory: %s\n", open("notes.txt/x", O_RDONLY) >= 0 ? "ok" : strerror(errno));

    // Rename, links, symlinks, times.
    CHECK("rename", rename("d/e/leaf", "d/leaf"));
    CHECK("link", link("d/leaf", "d/hard"));
    stat("d/leaf", &st);
    printf("nlink: %ld\n", (long)st.st_nlink);
    CHECK("symlink", symlink("leaf", "d/soft"));
    char target[64];
    ssize_t len = readlink("d/soft", target, sizeof target);
    printf("readlink: %.*s\n", (int)len, target);
    lstat("d/soft", &st);
    printf("lstat: %s\n", kind(st.st_mode));
    stat("d/soft", &st);
    printf("stat through it: %s, %lld bytes\n", kind(st.st_mode), (long long)st.st_size);
    struct timespec times[2] = {{1000000000, 5}, {1234567890, 123456789}};
    CHECK("utimensat", utimensat(AT_FDCWD, "d/leaf", times, 0));
    stat("d/leaf", &st);
    printf("mtime: %lld.%09ld atime: %lld.%09ld\n", (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
           (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec);
    fd = open("d/leaf", O_RDONLY);
    struct timespec only_mtime[2] = {{0, UTIME_OMIT}, {2000000000, 0}};
    CHECK("futimens", futimens(fd, only_mtime));
    fstat(fd, &st);
    printf("mtime: %lld atime: %lld\n", (long long)st.st_mtim.tv_sec, (long long)st.st_atim.tv_sec);
    close(fd);
    list("d");
    CHECK("unlink soft", unlink("d/soft"));
    CHECK("unlink hard", unlink("d/hard"));
    CHECK("unlink leaf", unlink("d/leaf"));
    CHECK("rmdir d/e", rmdir("d/e"));
    CHECK("rmdir d", rmdir("d"));
    CHECK("unlink notes", unlink("notes.txt"));
    list(".");

    // Time, sleep, poll, randomness, yield.
    struct timespec a, b, pause = {0, 20 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &a);
    nanosleep(&pause, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long slept = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    printf("slept at least 20 ms: %s\n", slept >= 20 ? "yes" : "no");
    struct pollfd p = {.fd = 0, .events = POLLIN};
    printf("poll stdin: %d\n", poll(&p, 1, 1000));
    unsigned char r[32] = {0};
    CHECK("getentropy", getentropy(r, sizeof r));
    int nonzero = 0;
    for (int i = 0; i < 32; i++) nonzero += r[i] != 0;
    printf("random bytes: %s\n", nonzero > 16 ? "yes" : "no");
    CHECK("sched_yield", sched_yield());
    return 0;
}
