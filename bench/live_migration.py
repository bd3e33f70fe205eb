#!/usr/bin/env python3
"""Live migration figures: machines of 16 MiB, 256 MiB and 1 GiB, idle and
writing about 50 MB/s, moved by `hv migrate` between two `manda run`
processes on loopback — stop and copy (`--max-rounds 0`) against pre-copy
(the default) and post-copy (`--postcopy`) — in one run, beside the
loopback bandwidth measured in the same run.

    python3 bench/live_migration.py [--sizes 16,256,1024] [--runs 3]

The program is crates/cli/tests/manda/hosted/ticker.s: every page of its
heap written once, then a tick a millisecond that writes WRITES pages and
prints its number. Downtime is the program's own view: the gap between the
last tick the source printed and the first the target printed, both read
here as they arrive (a tick is 1.1 ms apart when nothing happens). Total
time, rounds and bytes on the wire are `hv migrate --stats`'s (a post-copy's
total runs until the target has its last page, and its bytes include the
pages sent after the target ran). `hv`'s peak
memory comes from /usr/bin/time when it is installed.
"""

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")
TICKER = os.path.join(ROOT, "crates", "cli", "tests", "manda", "hosted", "ticker.s")
PAGE = 4096


def loopback_bandwidth(total=1 << 30, block=1 << 20):
    """Bytes per second one TCP connection carries on loopback."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    got = [0]

    def sink():
        conn, _ = server.accept()
        buf = bytearray(block)
        view = memoryview(buf)
        while True:
            n = conn.recv_into(view)
            if n == 0:
                break
            got[0] += n
        conn.close()

    reader = threading.Thread(target=sink)
    reader.start()
    client = socket.create_connection(server.getsockname())
    data = b"\x5a" * block
    start = time.monotonic()
    sent = 0
    while sent < total:
        client.sendall(data)
        sent += block
    client.shutdown(socket.SHUT_WR)
    reader.join()
    elapsed = time.monotonic() - start
    client.close()
    server.close()
    return got[0] / elapsed


class Vm:
    """A `manda run` process whose ticks are timestamped as they arrive."""

    def __init__(self, runtime, args):
        env = dict(os.environ, MOVA_RUNTIME_DIR=runtime, MOVA_LISTEN="127.0.0.1:0")
        env.pop("MOVA_TOKEN", None)
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "manda"), "run", "--max-memory", "3G"] + args,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self.ticks = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            now = time.monotonic()
            with self.lock:
                self.ticks.append((now, int(line)))

    def wait_ticks(self, n, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.ticks) >= n:
                    return
            time.sleep(0.005)
        raise RuntimeError("the VM does not tick")

    def pid(self):
        return str(self.proc.pid)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def wait_registered(runtime, pid, timeout=60):
    path = os.path.join(runtime, pid + ".json")
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise RuntimeError("the VM never registered")
        time.sleep(0.01)


MODES = {
    "stop-copy": ["--max-rounds", "0", "--compress", "off"],
    "pre-copy": ["--compress", "off"],
    "pre-copy, lz4": ["--compress", "on"],
    "post-copy": ["--postcopy", "--compress", "off"],
}


def migrate_once(pages, writes, mode, measure_rss=True):
    runtime = tempfile.mkdtemp(prefix="live-bench-")
    os.chmod(runtime, 0o700)
    # Every word of the heap pseudo-random (ticker's NOISE 1): memory as a real program's, not zeros.
    source = Vm(runtime, [TICKER, str(pages), str(writes), "1"])
    target = Vm(runtime, ["--wait", TICKER])
    try:
        wait_registered(runtime, source.pid())
        wait_registered(runtime, target.pid())
        source.wait_ticks(200)  # memory filled, ticking for 0.2 s
        args = ["migrate", source.pid(), "--to", target.pid(), "--stats"] + MODES[mode]
        env = dict(os.environ, MOVA_RUNTIME_DIR=runtime)
        # /usr/bin/time (for hv's peak memory) is a process of its own: not when timing hv's process.
        timer = ["/usr/bin/time", "-f", "maxrss=%M"] if measure_rss and os.path.exists("/usr/bin/time") else []
        began = time.monotonic()
        done = subprocess.run(timer + [os.path.join(BIN, "hv")] + args, capture_output=True, text=True, env=env)
        hv_wall = time.monotonic() - began
        if done.returncode != 0:
            return {"error": done.stderr.strip().splitlines()[-1]}
        target.wait_ticks(50)
        source.proc.wait(timeout=30)
        source.reader.join(timeout=5)
        last = source.ticks[-1]
        first = target.ticks[0]
        if first[1] != last[1] + 1:
            return {"error": f"ticks {last[1]} then {first[1]}: not exactly once"}
        stats = done.stdout
        figure = lambda pattern: re.search(pattern, stats).group(1)
        rss = re.search(r"maxrss=(\d+)", done.stderr)
        return {
            "gap_ms": (first[0] - last[0]) * 1e3,
            "total_ms": float(figure(r"total time: ([\d.]+) ms")),
            "bytes": int(figure(r"bytes sent: (\d+)")),
            "rounds": int(figure(r"rounds: (\d+)")),
            "hv_rss_kib": int(rss.group(1)) if rss else None,
            "hv_wall_ms": hv_wall * 1e3,
            "compression": re.search(r"compression: (.*)", stats).group(1),
            "postcopy_ms": float(m.group(1)) if (m := re.search(r"the last arrived ([\d.]+) ms after it ran", stats)) else None,
        }
    finally:
        source.stop()
        target.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="16,256,1024", help="machine sizes in MiB ('' for the small machine only)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each row (medians are shown)")
    options = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "cli"], cwd=ROOT, check=True)
    bandwidth = loopback_bandwidth()
    print(f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d', time.gmtime())}; "
          f"loopback: {bandwidth / 1e6:.0f} MB/s (one TCP connection, 1 MiB writes)")
    print()
    print("| memory | program | mode | downtime (gap in its output) | total time | bytes on the wire "
          "| rounds | total / (bytes / loopback) | hv peak RSS | compression | pages after the target ran |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for size in [int(s) for s in options.sizes.split(",") if s]:
        pages = size * (1 << 20) // PAGE
        # A tick a millisecond: 12 pages of 4 KiB is 49 MB/s.
        for workload, writes in [("idle", 0), ("writing 50 MB/s", 12)]:
            for mode in MODES:
                runs = [migrate_once(pages, writes, mode) for _ in range(options.runs)]
                good = [r for r in runs if "error" not in r]
                if not good:
                    print(f"| {size} MiB | {workload} | {mode} | failed: {runs[0]['error']} | | | | | | |")
                    continue
                med = lambda key: statistics.median(r[key] for r in good)
                ideal_ms = med("bytes") / bandwidth * 1e3
                rss = [r["hv_rss_kib"] for r in good if r["hv_rss_kib"]]
                rss_text = f"{max(rss) / 1024:.1f} MiB" if rss else "n/a"
                after = [r["postcopy_ms"] for r in good if r["postcopy_ms"] is not None]
                after_text = f"the last {statistics.median(after):.0f} ms after" if after else "none"
                print(
                    f"| {size} MiB | {workload} | {mode} | {med('gap_ms'):.1f} ms | {med('total_ms'):.0f} ms "
                    f"| {med('bytes') / (1 << 20):.1f} MiB | {med('rounds'):.0f} | {med('total_ms') / ideal_ms:.2f} "
                    f"| {rss_text} | {good[0]['compression']} | {after_text} |"
                )
                sys.stdout.flush()
    # A small machine, as a whole `hv migrate` process sees it (start, connect, move, commit).
    small = [migrate_once(4, 0, "pre-copy", measure_rss=False) for _ in range(max(options.runs, 11))]
    small = [r for r in small if "error" not in r]
    if small:
        print()
        print(f"A small machine (4 heap pages, idle), pre-copy: `hv migrate` took "
              f"{statistics.median(r['hv_wall_ms'] for r in small):.1f} ms as a process (median of {len(small)}, "
              f"fastest {min(r['hv_wall_ms'] for r in small):.1f} ms), "
              f"its own total {statistics.median(r['total_ms'] for r in small):.1f} ms; the program's gap "
              f"{statistics.median(r['gap_ms'] for r in small):.1f} ms.")


if __name__ == "__main__":
    main()
