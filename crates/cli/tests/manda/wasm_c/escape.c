// An attacker's program: it is granted one directory (`--dir inside::/sandbox`,
// descriptor 3) and tries every way out of it, through wasi-libc and through
// the raw WASI calls. Beside `inside` the test puts `outside/secret.txt`;
// inside, `sub/`, `link_out -> ../outside`, `abs_link -> /…/outside/secret.txt`,
// `chain -> sub/../../outside/secret.txt`, `loop -> loop`, and `flip`, which
// the test swaps between a directory and a link to `../outside` while this
// program opens `flip/secret.txt` (inside, that file says "safe").
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <wasi/api.h>

#define SANDBOX 3

// The raw imports, with explicit lengths (wasi-libc's wrappers take C strings).
__attribute__((import_module("wasi_snapshot_preview1"), import_name("path_open"))) int raw_path_open(
    int fd, int lookup, int path, int len, int oflags, long long base, long long inheriting, int fdflags, int out);
__attribute__((import_module("wasi_snapshot_preview1"), import_name("path_filestat_get"))) int raw_path_filestat_get(
    int fd, int lookup, int path, int len, int out);

static const char *name(__wasi_errno_t e) {
    switch (e) {
    case 0: return "ok";
    case __WASI_ERRNO_NOTCAPABLE: return "notcapable";
    case __WASI_ERRNO_PERM: return "perm";
    case __WASI_ERRNO_NOENT: return "noent";
    case __WASI_ERRNO_LOOP: return "loop";
    case __WASI_ERRNO_ILSEQ: return "ilseq";
    case __WASI_ERRNO_NAMETOOLONG: return "nametoolong";
    case __WASI_ERRNO_FAULT: return "fault";
    case __WASI_ERRNO_NOTDIR: return "notdir";
    case __WASI_ERRNO_BADF: return "badf";
    case __WASI_ERRNO_INVAL: return "inval";
    default: return "other";
    }
}

// Opens `path` under the sandbox with the raw call and reads what it can.
static void attempt(const char *what, const char *path, __wasi_lookupflags_t follow) {
    __wasi_fd_t fd;
    __wasi_errno_t e = __wasi_path_open(SANDBOX, follow, path, 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd);
    if (e) { printf("%s: %s\n", what, name(e)); return; }
    char buf[16] = {0};
    read(fd, buf, sizeof buf - 1);
    close(fd);
    printf("%s: OPENED [%s]\n", what, strcmp(buf, "SECRET\n") == 0 ? "LEAKED" : "inside");
}

int main(int argc, char **argv) {
    const __wasi_lookupflags_t F = __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW;
    attempt("dotdot", "../outside/secret.txt", F);
    attempt("dotdot deep", "sub/../../outside/secret.txt", F);
    attempt("dotdot many", "sub/../sub/../../../../../../etc/passwd", F);
    attempt("absolute", "/etc/passwd", F);
    attempt("symlink to a directory out", "link_out/secret.txt", F);
    attempt("absolute symlink", "abs_link", F);
    attempt("absolute symlink, not followed", "abs_link", 0);
    attempt("symlink chain", "chain", F);
    attempt("symlink loop", "loop", F);
    attempt("a path that stays in", "sub/../sub/./inner.txt", F);

    __wasi_filestat_t st;
    printf("stat ..: %s\n", name(__wasi_path_filestat_get(SANDBOX, F, "..", &st)));
    printf("stat via link: %s\n", name(__wasi_path_filestat_get(SANDBOX, F, "link_out/secret.txt", &st)));
    printf("rename out: %s\n", name(__wasi_path_rename(SANDBOX, "sub/inner.txt", SANDBOX, "../outside/stolen")));
    printf("rename in: %s\n", name(__wasi_path_rename(SANDBOX, "../outside/secret.txt", SANDBOX, "stolen")));
    printf("hard link in: %s\n", name(__wasi_path_link(SANDBOX, 0, "link_out/secret.txt", SANDBOX, "stolen")));
    printf("mkdir out: %s\n", name(__wasi_path_create_directory(SANDBOX, "../made")));
    printf("unlink out: %s\n", name(__wasi_path_unlink_file(SANDBOX, "link_out/secret.txt")));
    printf("symlink pointing out: %s\n", name(__wasi_path_symlink("../outside/secret.txt", SANDBOX, "mine")));
    attempt("following it", "mine", F);
    printf("set times through a link: %s\n",
           name(__wasi_path_filestat_set_times(SANDBOX, F, "link_out/secret.txt", 0, 0, __WASI_FSTFLAGS_MTIM_NOW)));

    // Malformed arguments.
    __wasi_fd_t fd;
    static const char nul[] = "sub\0/../../outside/secret.txt";
    printf("NUL in a path: %s\n",
           name(raw_path_open(SANDBOX, F, (int)nul, sizeof nul - 1, 0, __WASI_RIGHTS_FD_READ, 0, 0, (int)&fd)));
    static char long_path[5000];
    memset(long_path, 'a', sizeof long_path);
    printf("long path: %s\n",
           name(raw_path_open(SANDBOX, F, (int)long_path, sizeof long_path, 0, __WASI_RIGHTS_FD_READ, 0, 0, (int)&fd)));
    printf("path past memory: %s\n", name(raw_path_filestat_get(SANDBOX, F, (int)0xfffffff0, 64, (int)&st)));
    printf("result past memory: %s\n", name(raw_path_filestat_get(SANDBOX, F, (int)"sub", 3, (int)0xfffffff0)));
    printf("a path under standard input: %s\n", name(__wasi_path_open(0, F, "x", 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd)));
    printf("no such descriptor: %s\n", name(__wasi_path_open(99, F, "x", 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd)));

    // Rights only shrink.
    __wasi_fd_t ro;
    (void)__wasi_path_open(SANDBOX, F, "sub", __WASI_OFLAGS_DIRECTORY, __WASI_RIGHTS_PATH_OPEN | __WASI_RIGHTS_FD_READDIR,
                     __WASI_RIGHTS_FD_READ, 0, &ro);
    __wasi_fd_t file;
    (void)__wasi_path_open(ro, F, "inner.txt", 0, __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE, 0, 0, &file);
    __wasi_ciovec_t iov = {(const uint8_t *)"X", 1};
    __wasi_size_t written;
    printf("write under a read-only grant: %s\n", name(__wasi_fd_write(file, &iov, 1, &written)));
    printf("create without the right: %s\n",
           name(__wasi_path_open(ro, F, "new", __WASI_OFLAGS_CREAT, __WASI_RIGHTS_FD_READ, 0, 0, &fd)));
    printf("widen rights: %s\n", name(__wasi_fd_fdstat_set_rights(ro, ~0ull, ~0ull)));
    printf("mkdir without the right: %s\n", name(__wasi_path_create_directory(ro, "x")));

    // Through wasi-libc, as a program would.
    printf("libc ../: %s\n", open("/sandbox/../outside/secret.txt", O_RDONLY) >= 0 ? "OPENED" : strerror(errno));
    printf("libc outside the preopen: %s\n", open("/etc/passwd", O_RDONLY) >= 0 ? "OPENED" : strerror(errno));

    // The race: `flip` changes under us; a check-then-open by string would leak.
    int rounds = argc > 1 ? atoi(argv[1]) : 0, leaked = 0;
    for (int i = 0; i < rounds; i++) {
        int fd = open("/sandbox/flip/secret.txt", O_RDONLY);
        if (fd < 0) continue;
        char buf[16] = {0};
        read(fd, buf, sizeof buf - 1);
        close(fd);
        leaked += strcmp(buf, "SECRET\n") == 0;
    }
    printf("race: %d leaked\n", leaked);
    return 0;
}
