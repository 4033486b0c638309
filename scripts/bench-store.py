#!/usr/bin/env python3
"""Fleet-mode cost: one spanflow reading one real Prometheus that holds many clusters.

Generates synthetic counters for CLUSTERS clusters x (TEMPO Tempo pods + COLLECTORS Collector
pods) — the families spanflow's catalogue reads, with pod, instance and per-family labels as a
Kubernetes scrape gives them — every 15 s from 10 minutes ago to a few minutes past the end of
the run, backfills them into a Prometheus TSDB with `promtool tsdb create-blocks-from
openmetrics`, starts that Prometheus (Debian `prometheus`) on 127.0.0.1, and runs a release
spanflow against it (`source.prometheus`, `split_by: [cluster]`, poll 15 s, window 5 m). Reports
spanflow's CPU (% of one core) and RSS over the run, its query time per poll and samples per
poll (from its own /metrics), the pipelines it shows, and Prometheus' CPU. One cluster in ten
has the incident (every span refused, every append failing) so the stage statuses are mixed.

    scripts/bench-store.py [--clusters 50] [--tempo 20] [--collectors 20] [--seconds 180]

Fails (exit 1) when a tool is missing, spanflow dies, or spanflow does not show every cluster.
Results go to docs/benchmarks.md by hand.
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

# The /proc sampler fleet.py's polling benchmark uses.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fleet import proc_sample  # noqa: E402

STEP = 15


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pod_series(cluster, kind, pod, broken):
    """(name, labels, per-step increase or gauge value, is_counter) of one pod."""
    base = f'job="{kind}",cluster="{cluster}",namespace="tracing",pod="{kind}-{pod}",instance="10.{hash(cluster) % 250}.{pod}.1:{3200 if kind == "tempo" else 8888}"'
    if kind == "tempo":
        ok, bad = (0, 40) if broken else (40, 0)
        rows = [
            ("tempo_receiver_accepted_spans", 'receiver="otlp/otlp_receiver",transport="grpc"', ok, True),
            ("tempo_receiver_refused_spans", 'receiver="otlp/otlp_receiver",transport="grpc"', bad, True),
            ("tempo_distributor_spans_received_total", 'tenant="single-tenant"', ok + bad, True),
            ("tempo_distributor_ingester_appends_total", f'ingester="10.0.{pod}.2:9095"', 4, True),
            ("tempo_distributor_ingester_append_failures_total", f'ingester="10.0.{pod}.2:9095"', 4 if broken else 0, True),
            ("tempo_ingester_blocks_flushed_total", "", 0.1, True),
            ("tempo_ingester_failed_flushes_total", "", 0, True),
            ("tempo_discarded_spans_total", 'reason="rate_limited",tenant="single-tenant"', 0, True),
            ("tempo_build_info", 'version="2.7.2",revision="b0da6b4",branch="HEAD",goversion="go1.23.4"', 1, False),
        ]
        for state, n in (("ACTIVE", 20), ("JOINING", 0), ("LEAVING", 0), ("PENDING", 0), ("Unhealthy", 0)):
            rows.append(("tempo_ring_members", f'name="ingester",state="{state}"', n, False))
    else:
        rows = [
            ("otelcol_receiver_accepted_spans_total", 'receiver="otlp",transport="grpc"', 40, True),
            ("otelcol_receiver_refused_spans_total", 'receiver="otlp",transport="grpc"', 0, True),
            ("otelcol_exporter_sent_spans_total", 'exporter="otlp/tempo"', 40, True),
            ("otelcol_exporter_send_failed_spans_total", 'exporter="otlp/tempo"', 0, True),
            ("otelcol_exporter_enqueue_failed_spans_total", 'exporter="otlp/tempo"', 0, True),
            ("otelcol_exporter_queue_size", 'exporter="otlp/tempo"', 12, False),
            ("otelcol_exporter_queue_capacity", 'exporter="otlp/tempo"', 1000, False),
            ("otelcol_process_uptime_seconds_total", 'service_version="0.120.0"', STEP, True),
        ]
    for name, extra, value, counter in rows:
        labels = base + ("," + extra if extra else "")
        yield name, labels, value, counter


def generate(path, clusters, tempo, collectors, start, steps):
    """Writes OpenMetrics (each family's samples together) and returns the series count."""
    families = {}
    for c in range(clusters):
        cluster = f"c{c:02d}"
        broken = c % 10 == 9
        for kind, pods in (("tempo", tempo), ("otelcol", collectors)):
            for pod in range(pods):
                for name, labels, value, counter in pod_series(cluster, kind, pod, broken):
                    families.setdefault(name, []).append((labels, value, counter))
    count = 0
    with open(path, "w") as f:
        for name in sorted(families):
            for labels, value, counter in families[name]:
                count += 1
                lines = []
                for k in range(steps):
                    v = value * k if counter else value
                    lines.append(f"{name}{{{labels}}} {v} {start + k * STEP}\n")
                f.write("".join(lines))
        f.write("# EOF\n")
    return count


def scrape(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def sample(page, series):
    for line in page.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clusters", type=int, default=50)
    ap.add_argument("--tempo", type=int, default=20)
    ap.add_argument("--collectors", type=int, default=20)
    ap.add_argument("--seconds", type=int, default=180)
    ap.add_argument("--spanflow", default="target/release/spanflow")
    args = ap.parse_args()
    for tool in ("promtool", "/usr/bin/prometheus", args.spanflow):
        if not shutil.which(tool) and not os.access(tool, os.X_OK):
            sys.exit(f"bench-store: {tool} is required (Debian prometheus; cargo build --release)")

    work = tempfile.mkdtemp(prefix="spanflow-bench-store-")
    procs = []
    try:
        now = int(time.time())
        start = now - 600
        steps = (600 + args.seconds + 120) // STEP
        om = os.path.join(work, "series.om")
        t0 = time.time()
        series = generate(om, args.clusters, args.tempo, args.collectors, start, steps)
        data = os.path.join(work, "data")
        subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", om, data],
                       check=True, stdout=subprocess.DEVNULL)
        os.remove(om)
        print(f"bench-store: {series} series x {steps} samples backfilled in {time.time() - t0:.0f} s", flush=True)

        prom_port = free_port()
        with open(os.path.join(work, "prometheus.yml"), "w") as f:
            f.write("global: {}\n")
        prom = subprocess.Popen(
            ["/usr/bin/prometheus", f"--config.file={work}/prometheus.yml",
             f"--storage.tsdb.path={data}", f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "prometheus.log"), "w"))
        procs.append(prom)
        for _ in range(300):
            try:
                scrape(f"http://127.0.0.1:{prom_port}/-/ready")
                break
            except Exception:
                time.sleep(0.2)
        else:
            sys.exit("bench-store: Prometheus did not start")

        port = free_port()
        config = os.path.join(work, "spanflow.yml")
        with open(config, "w") as f:
            f.write(f"""poll_interval: 15s
window: 5m
probes: {{grpc_health: false}}
pipelines:
  - name: fleet
    source:
      prometheus:
        url: http://127.0.0.1:{prom_port}
        split_by: [cluster]
        roles:
          tempo: '{{job="tempo"}}'
          collector: '{{job="otelcol"}}'
""")
        spanflow = subprocess.Popen(
            [args.spanflow, "--config.file", config, "--web.listen-address", f"127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "spanflow.log"), "w"))
        procs.append(spanflow)
        time.sleep(1)
        # Warm-up: the first poll.
        time.sleep(5)
        rss0, cpu0 = proc_sample(spanflow.pid)
        p_rss0, p_cpu0 = proc_sample(prom.pid)
        began = time.time()
        peak = rss0
        query_times = []
        while time.time() - began < args.seconds:
            time.sleep(5)
            if spanflow.poll() is not None:
                sys.exit("bench-store: FAIL: spanflow died")
            rss, _ = proc_sample(spanflow.pid)
            peak = max(peak, rss)
            t = sample(scrape(f"http://127.0.0.1:{port}/metrics"),
                       'spanflow_source_query_duration_seconds{pipeline="fleet"}')
            if t is not None and (not query_times or query_times[-1] != t):
                query_times.append(t)
        elapsed = time.time() - began
        rss1, cpu1 = proc_sample(spanflow.pid)
        p_rss1, p_cpu1 = proc_sample(prom.pid)
        page = scrape(f"http://127.0.0.1:{port}/metrics")
        pipelines = len(set(re.findall(r'spanflow_pipeline_healthy\{pipeline="(fleet/[^"]+)"\}', page)))
        samples = sample(page, 'spanflow_source_samples{pipeline="fleet"}')
        blocked = len(re.findall(r'spanflow_pipeline_blocked_stage\{pipeline="fleet/[^"]+",stage="tempo_ingester"\} 1', page))
        up = sample(page, 'spanflow_source_up{pipeline="fleet",source="prometheus"}')
        polls = max(1, round(elapsed / 15))
        qt = sorted(query_times)
        print(f"bench-store: {args.clusters} clusters x ({args.tempo} Tempo + {args.collectors} Collector pods), "
              f"{series} series; {pipelines} pipelines shown, {blocked} blocked at tempo_ingester, source up {up}")
        print(f"bench-store: spanflow CPU {100 * (cpu1 - cpu0) / elapsed:.2f} % of one core over {elapsed:.0f} s "
              f"({1000 * (cpu1 - cpu0) / polls:.0f} ms CPU per poll); RSS {rss1} KiB at end, peak {peak} KiB")
        if qt:
            print(f"bench-store: query time per poll (all queries) median {1000 * qt[len(qt) // 2]:.0f} ms, "
                  f"max {1000 * qt[-1]:.0f} ms over {len(qt)} polls; {samples:.0f} samples per poll")
        print(f"bench-store: Prometheus CPU {100 * (p_cpu1 - p_cpu0) / elapsed:.2f} % of one core, RSS {p_rss1} KiB")
        if pipelines != args.clusters or up != 1:
            print("bench-store: FAIL: not every cluster shown, or the source is down", file=sys.stderr)
            sys.exit(1)
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
