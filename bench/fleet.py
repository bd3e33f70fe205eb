#!/usr/bin/env python3
"""The fleet on etcd, measured (docs/performance.md, "A fleet on etcd").

Starts two three-member etcd clusters on loopback ports (Debian's
etcd-server, or $MOVA_ETCD), one in clear and one under TLS with client
certificates required (credentials made by `hv tls-init`), then measures,
with the release binaries:

1. `hv ps --cluster` (table and --json) over N simulated registrations
   (entries written through etcd's JSON gateway, as a VM writes them), on
   each cluster;
2. one `hv migrate` of a running hv-counter with --cluster (recorded in
   etcd, VMs registered there), in clear and under TLS, beside the same
   without (runtime directory), alternating, so all see the same machine.

    cargo build --release -p cli
    python3 bench/fleet.py [--vms 1000] [--runs 20]
"""

import argparse
import base64
import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def start_etcd(work, tls=None):
    """A cluster with its data under `work`; its clients under TLS with the
    credentials in `tls` (client certificates required) if given."""
    etcd = os.environ.get("MOVA_ETCD", "etcd")
    if shutil.which(etcd) is None:
        sys.exit("no etcd: apt-get install etcd-server, or set MOVA_ETCD")
    os.makedirs(work, exist_ok=True)
    ports = free_ports(9)
    scheme = "https" if tls else "http"
    secure = ["--cert-file", os.path.join(tls, "cert.pem"), "--key-file", os.path.join(tls, "key.pem"),
              "--trusted-ca-file", os.path.join(tls, "ca.pem"), "--client-cert-auth"] if tls else []
    peers = ",".join(f"m{i}=http://127.0.0.1:{ports[3 * i + 1]}" for i in range(3))
    members = []
    for i in range(3):
        client, peer = f"{scheme}://127.0.0.1:{ports[3 * i]}", f"http://127.0.0.1:{ports[3 * i + 1]}"
        members.append(subprocess.Popen(
            [etcd, "--name", f"m{i}", "--data-dir", os.path.join(work, f"m{i}"), *secure,
             "--listen-client-urls", client, "--advertise-client-urls", client,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--listen-metrics-urls", f"http://127.0.0.1:{ports[3 * i + 2]}",
             "--initial-cluster", peers, "--initial-cluster-state", "new",
             "--heartbeat-interval", "50", "--election-timeout", "500"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, f"m{i}.log"), "w")))
    urls = ",".join(f"{scheme}://127.0.0.1:{ports[3 * i]}" for i in range(3))
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ports[2]}/health", timeout=1) as r:
                if b'"health":"true"' in r.read():
                    return members, urls
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit("etcd did not become healthy")


def tls_init(work, name, ca):
    """Credentials made by `hv tls-init` in work/name, for 127.0.0.1, of the authority in `ca`."""
    creds = os.path.join(work, name)
    subprocess.run([os.path.join(RELEASE, "hv"), "tls-init", creds, "--name", "127.0.0.1", "--ca", ca],
                   check=True, capture_output=True)
    return creds


def register(urls, n, tls=None):
    """n entries as VMs write them, through etcd's JSON gateway (/v3/kv/put)."""
    first = urls.split(",")[0]
    context = None
    if tls:
        context = ssl.create_default_context(cafile=os.path.join(tls, "ca.pem"))
        context.load_cert_chain(os.path.join(tls, "cert.pem"), os.path.join(tls, "key.pem"))
    b64 = lambda s: base64.b64encode(s.encode()).decode()
    for i in range(n):
        instance = f"{i:016x}"
        entry = {"host": f"host-{i % 10:02}", "pid": 10000 + i, "instance": instance, "machine": "manda",
                 "program": "prog.mx", "program_hash": "3c6a7844130b" * 5 + "abcd", "endpoint": f"10.0.{i // 250}.{i % 250}:34567",
                 "started": int(time.time()) - i, "state": "running", "detail": "contexts=4 memory=42.0MiB"}
        body = json.dumps({"key": b64(f"/mova/vms/{instance}"), "value": b64(json.dumps(entry))}).encode()
        request = urllib.request.Request(f"{first}/v3/kv/put", body, {"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=5, context=context).read()


def timed(command, env, runs):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run(command, env=env, capture_output=True)
        times.append(time.perf_counter() - start)
        if out.returncode != 0:
            sys.exit(f"{command}: {out.stderr.decode()}")
    return times, out.stdout


def counter(env, *args):
    vm = subprocess.Popen([os.path.join(RELEASE, "hv-counter"), "--period-ms", "1", *args], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    entry = os.path.join(env["MOVA_RUNTIME_DIR"], f"{vm.pid}.json")
    deadline = time.time() + 10
    while not os.path.exists(entry) and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # its registration in etcd, when it has --cluster
    return vm


def migrations(env, cluster, runs, tls=None):
    """`hv migrate` of a running counter into a waiting one, `runs` times; seconds each."""
    extra = (["--cluster", cluster] if cluster else []) + (["--tls", tls] if tls else [])
    source = counter(env, *extra)
    times = []
    for _ in range(runs):
        target = counter(env, "--wait", *extra)
        start = time.perf_counter()
        out = subprocess.run([os.path.join(RELEASE, "hv"), *extra, "migrate", str(source.pid), "--to", str(target.pid)],
                             env=env, capture_output=True)
        times.append(time.perf_counter() - start)
        if out.returncode != 0:
            sys.exit(f"hv migrate: {out.stderr.decode()}")
        source.wait(timeout=10)
        source = target
    source.kill()
    return times


def ms(times):
    return f"median {statistics.median(times) * 1e3:.1f} ms, min {min(times) * 1e3:.1f} ms, max {max(times) * 1e3:.1f} ms"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="mova-fleet-bench-")
    runtime = os.path.join(work, "runtime")
    os.mkdir(runtime, 0o700)
    env = dict(os.environ, MOVA_RUNTIME_DIR=runtime, MOVA_LISTEN="127.0.0.1:0")
    env.pop("MOVA_CLUSTER", None)
    ca = os.path.join(work, "ca")
    members_tls, host_tls = tls_init(work, "etcd-tls", ca), tls_init(work, "host-tls", ca)
    members, urls = start_etcd(os.path.join(work, "clear"))
    members_under_tls, urls_tls = start_etcd(os.path.join(work, "tls"), members_tls)
    try:
        hv = os.path.join(RELEASE, "hv")
        for name, cluster, tls in [("in clear", urls, None), ("under TLS", urls_tls, host_tls)]:
            register(cluster, args.vms, tls)
            extra = ["--cluster", cluster] + (["--tls", tls] if tls else [])
            table, out = timed([hv, *extra, "ps"], env, args.runs)
            rows = len(out.decode().splitlines()) - 1
            listed, out = timed([hv, *extra, "ps", "--json"], env, args.runs)
            print(f"hv ps --cluster ({name}) over {rows} registrations: {ms(table)}")
            print(f"hv ps --cluster --json ({name}) over {len(json.loads(out))} registrations: {ms(listed)}")
        plain, fleet, fleet_tls = [], [], []
        for _ in range(2):  # alternating halves: all see the same machine
            plain += migrations(env, None, args.runs // 2)
            fleet += migrations(env, urls, args.runs // 2)
            fleet_tls += migrations(env, urls_tls, args.runs // 2, host_tls)
        print(f"hv migrate (runtime directory): {ms(plain)}")
        print(f"hv migrate --cluster (recorded in etcd, in clear): {ms(fleet)}")
        print(f"hv migrate --cluster (recorded in etcd, under TLS): {ms(fleet_tls)}")
        for name, times in [("in clear", fleet), ("under TLS", fleet_tls)]:
            print(f"etcd {name} adds {(statistics.median(times) - statistics.median(plain)) * 1e3:.1f} ms to a "
                  f"migration (x{statistics.median(times) / statistics.median(plain):.2f})")
    finally:
        for m in members + members_under_tls:
            m.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
