#!/usr/bin/env python3
"""Runs a WASI command module (clang --target=wasm32-wasi) on wasmtime or wasm3.

    python bench/wasi_peers.py wasmtime|wasm3 MODULE.wasm ARGS...

wasmtime (Cranelift JIT) has WASI built in. pywasm3 has none, so the few
WASI functions wasi-libc needs for arguments, output and exit are written
here in Python; they run a handful of times a program, so the time measured
is the interpreter's. Benchmarks only (bench/wasm.py), never tests.
"""
import struct
import sys


def run_wasmtime(path, args):
    from wasmtime import Engine, Linker, Module, Store, WasiConfig, ExitTrap
    engine = Engine()
    linker = Linker(engine)
    linker.define_wasi()
    store = Store(engine)
    wasi = WasiConfig()
    wasi.argv = [path, *args]
    wasi.inherit_stdout()
    wasi.inherit_stderr()
    store.set_wasi(wasi)
    instance = linker.instantiate(store, Module.from_file(engine, path))
    try:
        instance.exports(store)["_start"](store)
    except ExitTrap as e:
        return e.code
    return 0


class Exit(Exception):
    def __init__(self, code):
        self.code = code


def run_wasm3(path, args):
    import wasm3
    env = wasm3.Environment()
    rt = env.new_runtime(1 << 20)
    with open(path, "rb") as f:
        mod = env.parse_module(f.read())
    rt.load(mod)
    argv = [a.encode() + b"\0" for a in [path, *args]]
    mem = lambda: rt.get_memory(0)
    w = "wasi_snapshot_preview1"

    def fd_write(fd, iovs, n, nwritten):
        m = mem()
        total = 0
        out = sys.stdout.buffer if fd == 1 else sys.stderr.buffer
        for i in range(n):
            buf, length = struct.unpack_from("<II", m, iovs + 8 * i)
            out.write(bytes(m[buf:buf + length]))
            total += length
        struct.pack_into("<I", m, nwritten, total)
        return 0

    def args_sizes_get(argc, size):
        struct.pack_into("<II", mem(), 0, 0, 0)  # touch: memory may have grown
        m = mem()
        struct.pack_into("<I", m, argc, len(argv))
        struct.pack_into("<I", m, size, sum(len(a) for a in argv))
        return 0

    def args_get(ptrs, buf):
        m = mem()
        for i, a in enumerate(argv):
            struct.pack_into("<I", m, ptrs + 4 * i, buf)
            m[buf:buf + len(a)] = a
            buf += len(a)
        return 0

    def proc_exit(code):
        raise Exit(code)

    def zero2(a, b):
        struct.pack_into("<I", mem(), a, 0)
        struct.pack_into("<I", mem(), b, 0)
        return 0

    def fdstat(fd, ptr):
        mem()[ptr:ptr + 24] = bytes([2]) + bytes(23)
        return 0

    links = [
        ("fd_write", "i(iiii)", fd_write), ("args_sizes_get", "i(ii)", args_sizes_get),
        ("args_get", "i(ii)", args_get), ("proc_exit", "v(i)", proc_exit),
        ("environ_sizes_get", "i(ii)", zero2), ("environ_get", "i(ii)", lambda a, b: 0),
        ("fd_close", "i(i)", lambda fd: 0), ("fd_seek", "i(iIii)", lambda fd, o, w_, p: 70),
        ("fd_fdstat_get", "i(ii)", fdstat), ("fd_prestat_get", "i(ii)", lambda fd, p: 8),
        ("fd_prestat_dir_name", "i(iii)", lambda fd, p, n: 8),
    ]
    for name, sig, fn in links:
        try:
            mod.link_function(w, name, sig, fn)
        except RuntimeError:
            pass  # the module does not import it
    try:
        rt.find_function("_start")()
    except Exit as e:
        return e.code
    except RuntimeError as e:
        if isinstance(e.__context__, Exit):
            return e.__context__.code
        raise
    return 0


if __name__ == "__main__":
    engine, module, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    code = (run_wasmtime if engine == "wasmtime" else run_wasm3)(module, rest)
    sys.stdout.flush()
    sys.exit(code)
