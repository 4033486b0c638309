#!/usr/bin/env python3
"""spanflow against a fleet of simulated targets on 127.0.0.1 for a set time: samples
spanflow's RSS and CPU and the latency of its /metrics while a scraper reads it every
second. Fails (exit 1) when RSS is not flat after warm-up, when spanflow dies, or when
/metrics fails or exceeds its budget.

Collector targets serve the real Collector 0.124.1 page; Tempo targets serve every endpoint
of the real Tempo 2.7.2 capture (testdata/fixtures/tempo-2.7.2/healthy, by its INDEX.tsv).
Counters advance on every /metrics request. A share of the targets can flap.

    scripts/fleet.py --spanflow target/release/spanflow --duration 600 --targets 200 --flapping 0.33

With --dns the targets are one discovering target: a local dnsmasq answers one name with an
A record per instance, each instance on its own loopback address (127.0.x.y, one port: Linux
answers the whole 127.0.0.0/8 on lo), and --churn replaces that share of the instances
every --churn-every seconds (the records change; spanflow follows at its next refresh,
every --refresh). Then every scrape also checks that the instances with spanflow_target_*
series are exactly the instances spanflow has discovered (none left behind by one that
went), and before every churn that those are the instances published.

With --canary, a fake entry on 127.0.0.1 takes spanflow's canary traces over OTLP/HTTP
(every second) and, as a Tempo target of the same pipeline, gives each back by its ID from
/api/traces/<id> (the export request is wire-compatible with the trace Tempo returns).

Everything listens on loopback only; every loop is bounded by --duration.
Started by scripts/soak.sh and scripts/bench-poll.sh, which build spanflow first.
"""

import argparse
import asyncio
import os
import random
import re
import subprocess
import shutil
import socket
import sys
import tempfile
import time
import urllib.request

COLLECTOR_PAGE = "fixtures/otelcol/otelio-opamp-contrib-0.124.1/metrics.txt"
TEMPO_CAPTURE = "fixtures/tempo-2.7.2/healthy"
METRICS_BUDGET_S = 0.25
# No scrape may take longer than this, however loaded the machine; over METRICS_BUDGET_S
# at most one scrape in a hundred (rounded up): a debug build on a busy 2-core CI machine
# stalls now and then, a /metrics stuck behind polls or locks is slow every time.
METRICS_HARD_LIMIT_S = 1.0


def testdata_path(testdata, rel):
    path = os.path.join(testdata, rel)
    if not os.path.exists(path):
        sys.exit(f"fleet: {path} is missing (the repository's testdata/)")
    return path


def load_page(path):
    lines = open(path, encoding="utf-8").read().splitlines()
    counters = {l.split()[2] for l in lines if l.startswith("# TYPE ") and l.split()[3] == "counter"}
    template = []
    for line in lines:
        name = line.split("{")[0].split(" ")[0]
        # A healthy pipeline's failure counters stay put: only the others advance.
        failure = any(w in name for w in ("fail", "refused", "discarded", "error"))
        if not line.startswith("#") and name in counters and not failure:
            head, value = line.rsplit(" ", 1)
            template.append((head, float(value)))
        else:
            template.append((line, None))
    return template


def render(template, n):
    out = []
    for head, value in template:
        out.append(head if value is None else f"{head} {value + 1000.0 * n}")
    return ("\n".join(out) + "\n").encode()


def load_tempo_routes(testdata):
    """(path, wants JSON) -> (status line, content type, body) of a Tempo capture."""
    folder = testdata_path(testdata, TEMPO_CAPTURE)
    routes = {}
    with open(os.path.join(folder, "INDEX.tsv"), encoding="utf-8") as index:
        next(index)
        for row in index:
            file, path, accept, code, content_type = row.rstrip("\n").split("\t")[:5]
            missing = not os.path.isfile(os.path.join(folder, file))
            if missing or not code.isdigit() or code == "0" or (path == "/metrics" and accept != "-"):
                continue
            body = open(os.path.join(folder, file), "rb").read()
            routes.setdefault((path, "json" in accept), (f"{code} X", content_type, body))
    return routes


class Target:
    """One simulated Collector or Tempo. Flapping targets fail every other /metrics
    request, cycling through an HTTP 500, a garbage body, and an answer slower than
    spanflow's timeout."""

    def __init__(self, template, flapping, routes=None):
        self.template = template
        self.flapping = flapping
        self.routes = routes
        self.requests = 0
        self.other_requests = 0

    async def handle(self, reader, writer):
        """Answers requests on one connection, kept alive as Tempo and the Collector keep
        theirs (a failing answer closes it)."""
        try:
            while True:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
                keep = await self.answer(head, reader, writer)
                await writer.drain()
                if not keep:
                    break
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def answer(self, head, reader, writer):
        lines = head.decode("latin-1").split("\r\n")
        path = lines[0].split(" ")[1]
        json = any(l.lower().startswith("accept: application/json") for l in lines)
        content_type = "text/plain; version=0.0.4"
        keep = True
        if self.routes is not None and path != "/metrics":
            self.other_requests += 1
            status, content_type, body = self.routes.get(
                (path, json), self.routes.get((path, False), ("404 Not Found", "text/plain", b"404 page not found\n")))
        else:
            self.requests += 1
            n = self.requests
            failure = self.flapping and n % 2 == 0
            keep = not failure
            if failure and (n // 2) % 3 == 0:
                body, status = b"flapping\n", "500 Internal Server Error"
            elif failure and (n // 2) % 3 == 1:
                body, status = os.urandom(2048), "200 OK"
            else:
                if failure:
                    await asyncio.sleep(1.0)  # beyond the 500 ms timeout
                body, status = render(self.template, n), "200 OK"
        connection = "keep-alive" if keep else "close"
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: {connection}\r\n\r\n".encode() + body
        )
        return keep


class CanaryEntry(Target):
    """A fake entry and Tempo for the canary: POST /v1/traces is kept (the last 64), GET
    /api/traces/<hex id> answers the kept request holding that trace ID (404 when none);
    every other path is the Tempo capture's."""

    def __init__(self, template, routes):
        super().__init__(template, flapping=False, routes=routes)
        self.kept = []
        self.writes = 0

    async def answer(self, head, reader, writer):
        lines = head.decode("latin-1").split("\r\n")
        method, path = lines[0].split(" ")[:2]
        if method == "POST" and path == "/v1/traces":
            length = next((int(l.split(":", 1)[1]) for l in lines if l.lower().startswith("content-length:")), 0)
            body = await reader.readexactly(length)
            self.kept = (self.kept + [body])[-64:]
            self.writes += 1
            status, content_type, body = "200 OK", "application/x-protobuf", b""
        elif path.startswith("/api/traces/"):
            try:
                wanted = bytes.fromhex(path.rsplit("/", 1)[1])
            except ValueError:
                wanted = b"\0" * 17
            found = next((b for b in reversed(self.kept) if wanted in b), None)
            status, content_type, body = ("200 OK", "application/protobuf", found) if found else (
                "404 Not Found", "text/plain", b"trace not found\n")
        else:
            return await super().answer(head, reader, writer)
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n".encode() + body)
        return True


def loopback(i):
    """The i-th loopback address of a --dns fleet: 127.0.1.1, 127.0.1.2, … (250 per /24)."""
    return f"127.0.{1 + i // 250}.{1 + i % 250}"


async def listen_all(pool, make):
    """Starts one server per loopback address on a common port; returns (servers, port)."""
    for _ in range(20):
        s = socket.socket()
        s.bind((loopback(0), 0))
        port = s.getsockname()[1]
        s.close()
        servers = []
        try:
            for i in range(pool):
                target = make(i)
                server = await asyncio.start_server(target.handle, loopback(i), port, backlog=64)
                servers.append((server, target))
            return servers, port
        except OSError:
            for server, _ in servers:
                server.close()
    sys.exit("fleet: no port free on every loopback address")


def free_udp_and_tcp_port():
    """A port on 127.0.0.1 free for both UDP and TCP (dnsmasq listens on both)."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    sys.exit("fleet: no port free for dnsmasq")


class Dns:
    """A dnsmasq on 127.0.0.1 answering NAME with an A record per active instance."""

    NAME = "fleet.spanflow.test"

    def __init__(self, workdir, dnsmasq):
        if not os.access(dnsmasq, os.X_OK):
            sys.exit(f"fleet: {dnsmasq} is required for --dns (Debian dnsmasq-base)")
        self.hosts = os.path.join(workdir, "hosts")
        os.mkdir(self.hosts)
        self.port = free_udp_and_tcp_port()
        self.log = os.path.join(workdir, "dnsmasq.log")
        self.proc = subprocess.Popen(
            [dnsmasq, "--keep-in-foreground", "--log-facility=-", f"--port={self.port}",
             "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
             "--no-poll", "--conf-file=/dev/null", f"--hostsdir={self.hosts}",
             "--local=/spanflow.test/", "--local-ttl=0", "--user=root", "--pid-file="],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "w"))
        deadline = time.monotonic() + 10
        while "started" not in open(self.log).read():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                sys.exit("fleet: dnsmasq did not start: " + open(self.log).read())
            time.sleep(0.05)

    def publish(self, active):
        staged = self.hosts + ".new"
        with open(staged, "w") as f:
            for i in sorted(active):
                f.write(f"{loopback(i)} {self.NAME}\n")
        os.replace(staged, os.path.join(self.hosts, "fleet"))

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def proc_sample(pid):
    """(RSS KiB, CPU seconds) of a process, from /proc."""
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss, (int(fields[11]) + int(fields[12])) / ticks


def discovered_view(body, name):
    """What one /metrics page says of the discovering target `name`: the instances spanflow
    discovered (None when not shown) and the addresses that have spanflow_target_* series."""
    instances, addresses = None, set()
    for line in body.decode("utf-8", "replace").splitlines():
        if f'target="{name}"' not in line:
            continue
        if line.startswith("spanflow_discovery_instances{"):
            instances = int(float(line.rsplit(" ", 1)[1]))
        elif line.startswith("spanflow_target_"):
            m = re.search(r'address="([^"]*)"', line)
            if m:
                addresses.add(m.group(1))
    return instances, addresses


def canary_totals(body):
    """spanflow_canary_traces_total by result."""
    totals = {}
    for m in re.finditer(rb'^spanflow_canary_traces_total\{[^}]*result="([a-z_]+)"\} (\S+)$', body, re.M):
        totals[m.group(1).decode()] = float(m.group(2))
    return totals


def scrape(url):
    started = time.monotonic()
    with urllib.request.urlopen(url, timeout=5) as r:
        body = r.read()
    return time.monotonic() - started, body


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spanflow", required=True)
    ap.add_argument("--testdata", default=os.path.join(os.path.dirname(__file__), "..", "testdata"))
    ap.add_argument("--duration", type=float, default=600, help="seconds (default 600)")
    ap.add_argument("--targets", type=int, default=200)
    ap.add_argument("--role", choices=["collector", "tempo"], default="collector")
    ap.add_argument("--interval", default="1s", help="spanflow's poll_interval (default 1s)")
    ap.add_argument("--window", default="30s",
                    help="spanflow's window (default 30s); warm-up (the first third) should outlast it")
    ap.add_argument("--flapping", type=float, default=1 / 3, help="share of flapping targets")
    ap.add_argument("--sample-every", type=float, default=5)
    ap.add_argument("--scrape-every", type=float, default=1,
                    help="seconds between /metrics scrapes (default 1; Prometheus' usual is 15)")
    ap.add_argument("--csv", help="write the samples here")
    ap.add_argument("--dns", action="store_true",
                    help="one discovering target: instances found by A records on a local dnsmasq")
    ap.add_argument("--churn", type=float, default=0,
                    help="with --dns: share of the instances replaced every --churn-every seconds")
    ap.add_argument("--churn-every", type=float, default=60, help="seconds (default 60)")
    ap.add_argument("--refresh", default="30s", help="with --dns: the DNS refresh_interval (default 30s)")
    ap.add_argument("--canary", action="store_true",
                    help="a canary every second to a fake entry that gives the traces back")
    ap.add_argument("--dnsmasq", default="/usr/sbin/dnsmasq")
    ap.add_argument("--wrk", type=float, default=0,
                    help="after warm-up, load /metrics with wrk at ~500 requests/s for this many seconds")
    args = ap.parse_args()
    if args.wrk > 0 and shutil.which("wrk") is None:
        ap.error("--wrk needs wrk on PATH (Debian: apt-get install -y wrk)")
    if args.role == "tempo":
        template = load_page(testdata_path(args.testdata, TEMPO_CAPTURE + "/metrics.txt"))
        routes = load_tempo_routes(args.testdata)
    else:
        template = load_page(testdata_path(args.testdata, COLLECTOR_PAGE))
        routes = None

    servers, ports = [], []
    every = round(1 / args.flapping) if args.flapping > 0 else 0
    make = lambda i: Target(template, flapping=every > 0 and i % every == 0, routes=routes)
    workdir = tempfile.mkdtemp(prefix="spanflow-soak-")
    config = os.path.join(workdir, "spanflow.yml")
    dns, active, spares, churn = None, set(), [], 0
    path = "" if args.role == "tempo" else "/metrics"
    # Probes are off: the capture's ring points at 127.0.0.1:9095, which is nobody here.
    head = f"poll_interval: {args.interval}\nwindow: {args.window}\nprobes: {{grpc_health: false}}\ntargets:\n"
    if args.dns:
        churn = round(args.targets * args.churn)
        servers, port = await listen_all(args.targets + churn, make)
        dns = Dns(workdir, args.dnsmasq)
        active, spares = set(range(args.targets)), list(range(args.targets, args.targets + churn))
        dns.publish(active)
        with open(config, "w") as f:
            f.write(head + f"  - name: {args.role}s\n    role: {args.role}\n"
                    f"    url: 'http://{Dns.NAME}:{port}{path}'\n    timeout: 500ms\n"
                    f"    discovery: {{max_instances: {2 * len(servers)}, dns: {{type: A, refresh_interval: {args.refresh}, "
                    f"nameserver: '127.0.0.1:{dns.port}'}}}}\n")
    else:
        for i in range(args.targets):
            target = make(i)
            server = await asyncio.start_server(target.handle, "127.0.0.1", 0, backlog=64)
            servers.append((server, target))
            ports.append(server.sockets[0].getsockname()[1])
        with open(config, "w") as f:
            f.write(head)
            for i, port in enumerate(ports):
                url = f"http://127.0.0.1:{port}{path}"
                f.write(f"  - {{name: {args.role}-{i:04}, role: {args.role}, url: '{url}', timeout: 500ms}}\n")
    entry = None
    if args.canary:
        entry = CanaryEntry(load_page(testdata_path(args.testdata, TEMPO_CAPTURE + "/metrics.txt")),
                            load_tempo_routes(args.testdata))
        entry_server = await asyncio.start_server(entry.handle, "127.0.0.1", 0, backlog=64)
        servers.append((entry_server, entry))
        entry_url = f"http://127.0.0.1:{entry_server.sockets[0].getsockname()[1]}"
        with open(config, "a") as f:
            f.write(f"  - {{name: canary-tempo, role: tempo, url: '{entry_url}', timeout: 500ms}}\n"
                    f"canary:\n  interval: 1s\n  timeout: 5s\n  write: {{endpoint: '{entry_url}'}}\n"
                    f"  read: {{target: canary-tempo}}\n")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    log = open(os.path.join(workdir, "spanflow.log"), "w")
    proc = await asyncio.create_subprocess_exec(
        args.spanflow, "--config.file", config, "--web.listen-address", f"127.0.0.1:{port}",
        "--log.level", "error", stdout=asyncio.subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}/metrics"
    deadline = time.monotonic() + 20
    while True:
        try:
            scrape(url)
            break
        except OSError:
            if time.monotonic() > deadline or proc.returncode is not None:
                sys.exit("fleet: spanflow did not start; see " + log.name)
            await asyncio.sleep(0.1)

    flapping = sum(1 for _, t in servers if t.flapping)
    shape = (f"instances of one DNS name, {churn} replaced every {args.churn_every:.0f} s" if args.dns
             else "targets")
    print(f"fleet: {args.targets} {args.role} {shape} ({flapping} flapping), poll every {args.interval}, "
          f"{args.duration:.0f} s, spanflow pid {proc.pid}, log {log.name}", flush=True)
    print(f"{'t_s':>6} {'rss_kib':>9} {'cpu_%':>6} {'metrics_ms_max':>14} {'up':>5} "
          f"{'instances':>9} {'series':>9} {'found':>7} {'missing':>7}", flush=True)
    samples, worst, failures = [], 0.0, 0
    scrape_times = []
    started = time.monotonic()
    _, cpu_before = proc_sample(proc.pid)
    last_t, last_cpu = started, cpu_before
    next_sample = started + args.sample_every
    loop = asyncio.get_running_loop()
    up = 0
    wrk_at = started + args.duration / 3 if args.wrk > 0 else None
    next_churn = started + args.churn_every
    leaks, stale, instances, series, canary = 0, 0, 0, 0, {}
    rng = random.Random(1)
    while time.monotonic() - started < args.duration:
        if churn and time.monotonic() >= next_churn:
            # A whole period since the last change: spanflow must have what was published.
            if instances != len(active):
                stale += 1
                print(f"fleet: FAIL: {instances} instances discovered, {len(active)} published", flush=True)
            leaving = rng.sample(sorted(active), churn)
            active.difference_update(leaving)
            active.update(spares)
            spares = leaving
            dns.publish(active)
            next_churn += args.churn_every
        if wrk_at is not None and time.monotonic() >= wrk_at:
            wrk_at = None
            pace = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wrk-pace.lua")
            out = await asyncio.create_subprocess_exec(
                "wrk", "-t2", "-c4", f"-d{args.wrk:.0f}s", "--latency", "-s", pace, url,
                stdout=asyncio.subprocess.PIPE)
            text, _ = await out.communicate()
            print("fleet: wrk against /metrics while polling:", flush=True)
            print(text.decode(), flush=True)
        await asyncio.sleep(args.scrape_every)
        if proc.returncode is not None:
            sys.exit(f"fleet: spanflow exited ({proc.returncode}); see {log.name}")
        try:
            took, body = await loop.run_in_executor(None, scrape, url)
            worst = max(worst, took)
            scrape_times.append(took)
            up = body.count(f'role="{args.role}"}} 1'.encode())
            if args.dns:
                shown, addresses = discovered_view(body, f"{args.role}s")
                instances, series = shown, len(addresses)
                if shown is not None and series != shown:
                    leaks += 1
                    print(f"fleet: FAIL: {series} instances with series, {shown} discovered", flush=True)
            canary = canary_totals(body)
        except OSError as e:
            failures += 1
            print(f"fleet: /metrics failed: {e}", flush=True)
        now = time.monotonic()
        if now >= next_sample:
            rss, cpu = proc_sample(proc.pid)
            cpu_pct = 100.0 * (cpu - last_cpu) / (now - last_t)
            found, missing = int(canary.get("found", 0)), int(canary.get("missing", 0))
            samples.append((now - started, rss, cpu_pct, worst * 1000, up, instances or 0, series,
                            found, missing))
            print(f"{now - started:6.0f} {rss:9d} {cpu_pct:6.1f} {worst * 1000:14.1f} {up:5d} "
                  f"{instances or 0:9d} {series:9d} {found:7d} {missing:7d}", flush=True)
            last_t, last_cpu, worst = now, cpu, 0.0
            next_sample += args.sample_every
    proc_sample_last = proc_sample(proc.pid)
    proc.terminate()
    await proc.wait()
    if dns is not None:
        dns.stop()
    for server, _ in servers:
        server.close()

    if args.csv:
        with open(args.csv, "w") as f:
            f.write("t_s,rss_kib,cpu_percent,metrics_ms_max,targets_up,instances,instances_with_series,"
                    "canary_found,canary_missing\n")
            for row in samples:
                f.write(",".join(f"{v:.1f}" if isinstance(v, float) else str(v) for v in row) + "\n")
    if len(samples) < 4:
        sys.exit("fleet: too short to judge (fewer than 4 samples)")
    # Warm-up: the first third of the run (history buffers fill over the window).
    warm = [r for r in samples if r[0] >= args.duration / 3]
    rss_warm, rss_end = warm[0][1], samples[-1][1]
    rss_peak = max(r[1] for r in warm)
    cpu_mean = sum(r[2] for r in warm) / len(warm)
    metrics_max = max(r[3] for r in samples)
    polls = sum(t.requests for _, t in servers)
    others = sum(t.other_requests for _, t in servers)
    _, cpu_end = proc_sample_last
    per_poll_us = 1e6 * (cpu_end - cpu_before) / polls if polls else float("nan")
    print(f"fleet: RSS after warm-up {rss_warm} KiB, at end {rss_end} KiB, peak {rss_peak} KiB; "
          f"CPU {cpu_mean:.1f} % of one core after warm-up; {per_poll_us:.0f} us CPU per poll "
          f"({polls} polls, {others} status-endpoint requests); /metrics max {metrics_max:.1f} ms; "
          f"{failures} failed scrapes")
    ok = True
    # CPU flat: the last third no busier than the middle one (a quarter more and two points
    # of one core allowed: a loaded machine's samples scatter).
    middle = [r[2] for r in samples if args.duration / 3 <= r[0] < 2 * args.duration / 3]
    last = [r[2] for r in samples if r[0] >= 2 * args.duration / 3]
    if middle and last:
        cpu_middle, cpu_last = sum(middle) / len(middle), sum(last) / len(last)
        print(f"fleet: CPU {cpu_middle:.1f} % in the middle third, {cpu_last:.1f} % in the last")
        if cpu_last > cpu_middle * 1.25 + 2:
            print("fleet: FAIL: CPU grew over the run")
            ok = False
    if args.dns:
        first, end = samples[0], samples[-1]
        print(f"fleet: instances discovered / with series: {first[5]} / {first[6]} at the first sample, "
              f"{end[5]} / {end[6]} at the end; {leaks} scrapes with series of gone instances, "
              f"{stale} periods ending with a stale list")
        if leaks or stale:
            print("fleet: FAIL: spanflow_target_* series are not the live instances")
            ok = False
    if args.canary:
        print(f"fleet: canary traces: {canary}; {entry.writes} writes taken")
        if canary.get("found", 0) < args.duration / 4:
            print("fleet: FAIL: the canary found fewer than one trace in four seconds")
            ok = False
    if rss_end > rss_warm * 1.10 + 4096:
        print("fleet: FAIL: RSS grew after warm-up")
        ok = False
    if failures:
        print("fleet: FAIL: /metrics failed")
        ok = False
    over = [t for t in scrape_times if t > METRICS_BUDGET_S]
    allowed = -(-len(scrape_times) // 100)
    print(f"fleet: {len(over)} of {len(scrape_times)} scrapes over {METRICS_BUDGET_S * 1000:.0f} ms "
          f"(at most {allowed}), slowest {max(scrape_times, default=0) * 1000:.1f} ms")
    if max(scrape_times, default=0) > METRICS_HARD_LIMIT_S:
        print(f"fleet: FAIL: a /metrics scrape took over {METRICS_HARD_LIMIT_S * 1000:.0f} ms")
        ok = False
    if len(over) > allowed:
        print(f"fleet: FAIL: /metrics slower than {METRICS_BUDGET_S * 1000:.0f} ms more than once in a hundred")
        ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    asyncio.run(main())
