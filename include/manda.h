/* manda.h: Manda's contexts and ports for C compiled to WebAssembly.
 *
 * Build with:  clang --target=wasm32-wasi -O2 -I include -o prog.wasm prog.c
 * Run with:    manda run prog.wasm ARGS...
 *
 * Each function is imported from the module "manda"; `manda wasm` (and
 * `manda run` on a .wasm file) provides it. docs/manda/wasm.md has the details.
 */
#ifndef MANDA_H
#define MANDA_H

#define MANDA_IMPORT(name) __attribute__((import_module("manda"), import_name(name)))

/* Starts a new context that runs fn(arg) on a copy of this program's memory
 * (copied page by page as either side writes) and ends when fn returns.
 * Returns the new context's id (1, 2, ... in fork order). Contexts share no
 * memory: send results over a port. A context's stdout buffer is its own, so
 * a worker that prints must fflush(stdout) before it returns. */
MANDA_IMPORT("fork") int manda_fork(void (*fn)(int), int arg);

/* This context's id: 0 for the first. */
MANDA_IMPORT("ctxid") int manda_ctxid(void);

/* A new message port, usable by every context forked after it is made. */
MANDA_IMPORT("port_new") int manda_port_new(void);

/* Queues a copy of len bytes at buf on port; never waits. */
MANDA_IMPORT("port_send") void manda_port_send(int port, const void *buf, int len);

/* Waits for a message on port, copies at most cap bytes of it to buf and
 * returns its whole length; -1 once the port is closed and empty. */
MANDA_IMPORT("port_recv") int manda_port_recv(int port, void *buf, int cap);

/* As manda_port_recv without waiting: -2 when the port is open and empty. */
MANDA_IMPORT("port_try") int manda_port_try(int port, void *buf, int cap);

/* Closes port: queued messages can still be received; sends trap. */
MANDA_IMPORT("port_close") void manda_port_close(int port);

/* Sleeps ms milliseconds without holding a thread. */
MANDA_IMPORT("sleep_ms") void manda_sleep_ms(int ms);

#endif
