// Every function of wasi_snapshot_preview1, called from C through
// wasi-libc's raw bindings (<wasi/api.h>): run with `--dir DIR::.` (fd 3),
// DIR holding `f.txt` = "hello", and `--env A=1 --env B=2`. Each line is a
// function and what the test checks: an errno, or a value it wrote.
#include <stdio.h>
#include <string.h>
#include <wasi/api.h>

// Not in this wasi-libc's header any more, but still in the witx.
__attribute__((import_module("wasi_snapshot_preview1"), import_name("proc_raise"))) int raw_proc_raise(int sig);

#define DIR 3
#define ALL ((__wasi_rights_t)-1)

static __wasi_fd_t open_f(void) {
    __wasi_fd_t fd = 0;
    (void)__wasi_path_open(DIR, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "f.txt", 0, ALL, ALL, 0, &fd);
    return fd;
}

static unsigned long long size_of(__wasi_fd_t fd) {
    __wasi_filestat_t st;
    (void)__wasi_fd_filestat_get(fd, &st);
    return st.size;
}

int main(void) {
    __wasi_size_t n, m;
    char buf[512];
    uint8_t *ptrs[8];
    (void)__wasi_args_sizes_get(&n, &m);
    printf("args_sizes_get: %lu %lu\n", n, m);
    (void)__wasi_args_get(ptrs, (uint8_t *)buf);
    printf("args_get: %s\n", (char *)ptrs[0]);
    (void)__wasi_environ_sizes_get(&n, &m);
    printf("environ_sizes_get: %lu %lu\n", n, m);
    (void)__wasi_environ_get(ptrs, (uint8_t *)buf);
    printf("environ_get: %s %s\n", (char *)ptrs[0], (char *)ptrs[1]);
    __wasi_timestamp_t t;
    printf("clock_res_get: %d %llu\n", __wasi_clock_res_get(__WASI_CLOCKID_MONOTONIC, &t), (unsigned long long)t);
    printf("clock_time_get: %d %d\n", __wasi_clock_time_get(__WASI_CLOCKID_REALTIME, 0, &t), t > 1500000000ull * 1000000000ull);

    __wasi_fd_t fd = open_f();
    printf("fd_advise: %d %d\n", __wasi_fd_advise(fd, 0, 0, __WASI_ADVICE_SEQUENTIAL), __wasi_fd_advise(fd, 0, 0, 9));
    printf("fd_allocate: %d %llu\n", __wasi_fd_allocate(fd, 0, 100), size_of(fd));
    printf("fd_filestat_set_size: %d %llu\n", __wasi_fd_filestat_set_size(fd, 5), size_of(fd));
    printf("fd_datasync: %d\n", __wasi_fd_datasync(fd));
    printf("fd_sync: %d\n", __wasi_fd_sync(fd));
    __wasi_fdstat_t fs;
    printf("fd_fdstat_get: %d %d\n", __wasi_fd_fdstat_get(fd, &fs), fs.fs_filetype);
    (void)__wasi_fd_fdstat_set_flags(fd, __WASI_FDFLAGS_APPEND);
    (void)__wasi_fd_fdstat_get(fd, &fs);
    printf("fd_fdstat_set_flags: %d\n", fs.fs_flags);
    (void)__wasi_fd_fdstat_set_flags(fd, 0);
    __wasi_filestat_t st;
    printf("fd_filestat_get: %d %d %llu\n", __wasi_fd_filestat_get(fd, &st), st.filetype, (unsigned long long)st.size);
    (void)__wasi_fd_filestat_set_times(fd, 0, 7000000000ull, __WASI_FSTFLAGS_MTIM);
    (void)__wasi_fd_filestat_get(fd, &st);
    printf("fd_filestat_set_times: %llu\n", (unsigned long long)(st.mtim / 1000000000ull));
    __wasi_iovec_t iov = {(uint8_t *)buf, 4};
    memset(buf, 0, sizeof buf);
    printf("fd_pread: %d", __wasi_fd_pread(fd, &iov, 1, 1, &n));
    printf(" %lu %s\n", n, buf);
    __wasi_ciovec_t ciov = {(const uint8_t *)"XY", 2};
    printf("fd_pwrite: %d", __wasi_fd_pwrite(fd, &ciov, 1, 3, &n));
    printf(" %lu\n", n);
    __wasi_filesize_t at;
    printf("fd_seek: %d", __wasi_fd_seek(fd, -2, __WASI_WHENCE_END, &at));
    printf(" %llu\n", (unsigned long long)at);
    iov.buf_len = 64;
    memset(buf, 0, sizeof buf);
    printf("fd_read: %d", __wasi_fd_read(fd, &iov, 1, &n));
    printf(" %lu %s\n", n, buf);
    printf("fd_tell: %d", __wasi_fd_tell(fd, &at));
    printf(" %llu\n", (unsigned long long)at);
    ciov.buf = (const uint8_t *)"fd_write: to stdout\n";
    ciov.buf_len = strlen((const char *)ciov.buf);
    (void)__wasi_fd_write(1, &ciov, 1, &n);
    __wasi_rights_t none = 0;
    printf("fd_fdstat_set_rights: %d", __wasi_fd_fdstat_set_rights(fd, __WASI_RIGHTS_FD_WRITE, none));
    printf(" %d\n", __wasi_fd_read(fd, &iov, 1, &n));
    __wasi_prestat_t pre;
    printf("fd_prestat_get: %d %zu %d\n", __wasi_fd_prestat_get(DIR, &pre), pre.u.dir.pr_name_len, __wasi_fd_prestat_get(fd, &pre));
    memset(buf, 0, sizeof buf);
    printf("fd_prestat_dir_name: %d %s\n", __wasi_fd_prestat_dir_name(DIR, (uint8_t *)buf, 1), buf);
    printf("fd_readdir: %d", __wasi_fd_readdir(DIR, (uint8_t *)buf, sizeof buf, 0, &n));
    printf(" %lu\n", n);
    __wasi_fd_t other = open_f();
    printf("fd_renumber: %d %d\n", __wasi_fd_renumber(other, fd), __wasi_fd_renumber(other, fd));
    printf("fd_close: %d %d\n", __wasi_fd_close(fd), __wasi_fd_close(fd));

    printf("path_create_directory: %d %d\n", __wasi_path_create_directory(DIR, "sub"), __wasi_path_create_directory(DIR, "sub"));
    printf("path_filestat_get: %d %d\n", __wasi_path_filestat_get(DIR, 0, "sub", &st), st.filetype);
    printf("path_filestat_set_times: %d", __wasi_path_filestat_set_times(DIR, 0, "sub", 0, 9000000000ull, __WASI_FSTFLAGS_MTIM));
    (void)__wasi_path_filestat_get(DIR, 0, "sub", &st);
    printf(" %llu\n", (unsigned long long)(st.mtim / 1000000000ull));
    printf("path_link: %d", __wasi_path_link(DIR, 0, "f.txt", DIR, "g.txt"));
    (void)__wasi_path_filestat_get(DIR, 0, "g.txt", &st);
    printf(" %llu\n", (unsigned long long)st.nlink);
    printf("path_symlink: %d\n", __wasi_path_symlink("f.txt", DIR, "l"));
    memset(buf, 0, sizeof buf);
    printf("path_readlink: %d", __wasi_path_readlink(DIR, "l", (uint8_t *)buf, sizeof buf, &n));
    printf(" %lu %s\n", n, buf);
    printf("path_rename: %d %d\n", __wasi_path_rename(DIR, "g.txt", DIR, "h.txt"), __wasi_path_filestat_get(DIR, 0, "g.txt", &st));
    printf("path_unlink_file: %d %d\n", __wasi_path_unlink_file(DIR, "h.txt"), __wasi_path_unlink_file(DIR, "h.txt"));
    (void)__wasi_path_unlink_file(DIR, "l");
    printf("path_remove_directory: %d %d\n", __wasi_path_remove_directory(DIR, "sub"), __wasi_path_remove_directory(DIR, "sub"));
    printf("path_open: %d\n", __wasi_path_open(DIR, 0, "missing", 0, ALL, ALL, 0, &fd));

    __wasi_subscription_t sub = {.userdata = 42, .u = {.tag = __WASI_EVENTTYPE_CLOCK,
        .u = {.clock = {.id = __WASI_CLOCKID_MONOTONIC, .timeout = 10000000}}}};
    __wasi_event_t ev;
    printf("poll_oneoff: %d", __wasi_poll_oneoff(&sub, &ev, 1, &n));
    printf(" %lu %llu %d\n", n, (unsigned long long)ev.userdata, ev.error);
    printf("proc_raise: %d\n", raw_proc_raise(2));
    printf("sched_yield: %d\n", __wasi_sched_yield());
    printf("random_get: %d\n", __wasi_random_get((uint8_t *)buf, 64));
    printf("sock_accept: %d\n", __wasi_sock_accept(DIR, 0, &fd));
    __wasi_roflags_t ro;
    printf("sock_recv: %d\n", __wasi_sock_recv(DIR, &iov, 1, 0, &n, &ro));
    printf("sock_send: %d\n", __wasi_sock_send(DIR, &ciov, 1, 0, &n));
    printf("sock_shutdown: %d\n", __wasi_sock_shutdown(DIR, __WASI_SDFLAGS_WR));
    fflush(stdout);
    __wasi_proc_exit(7);
}
