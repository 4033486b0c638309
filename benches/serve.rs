//! What a scrape of spanflow and a poll cost once pages are read, at 1,000 targets
//! (run with `scripts/bench.sh serve`):
//!
//! * `derive_1000_targets`: one snapshot from 1,000 targets' histories (a third Tempo with
//!   the evidence of their status endpoints, a third Collector, a third app; each polled
//!   twelve times from real captures), as the deriver computes after polls land.
//! * `render_1000_targets/{text,openmetrics}`: `/metrics` of that snapshot;
//!   `text_kept`: the same answer from the body the web server keeps per snapshot.
//! * `read_tempo_page`: reading a real Tempo 2.7.2 page (86 KB) for its stages, as every
//!   poll of a Tempo does (HTTP not included; `scripts/bench-poll.sh` measures whole polls).
//! * `tempo_status/{config,services,ring}`: reading Tempo's status endpoints, as polls do.
//! * `poll_tempo_page_cpu`: a whole poll of the real Tempo page over HTTP — spanflow's own
//!   client, from connect to the page read for its stages — served on 127.0.0.1 by a server
//!   on another thread. The figure is the polling thread's CPU time per poll (from
//!   `/proc/thread-self/schedstat`), not wall time: the goal is CPU, and the
//!   server's work and the loopback's latency are not spanflow's.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use spanflow::config::Config;
use spanflow::derive::{PollOutcome, TargetState};
use spanflow::serve::metrics;
use spanflow::serve::reload::ReloadStatus;
use spanflow::snapshot;
use spanflow::source::page;
use spanflow::source::scrape::Page;
use spanflow::source::tempo::{self, Read, TempoEvidence, TempoStatus};
use tokio::time::Instant;

const TARGETS: usize = 1000;
const POLLS: u32 = 12;

/// A file of the repository's `testdata/`.
fn testdata(rel: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn page(body: &str) -> Page {
    Page {
        status: 200,
        body: body.as_bytes().to_vec(),
        content_type: "text/plain; version=0.0.4".into(),
    }
}

/// Every counter of a page advanced by `step × k` (a page `k` polls later).
fn advanced(body: &str, k: u32) -> String {
    body.lines()
        .map(|l| match l.rsplit_once(' ') {
            Some((head, v)) if !l.starts_with('#') && v.parse::<f64>().is_ok() => {
                let v: f64 = v.parse().unwrap();
                let grown = if head.contains("_total") || head.contains("_spans") {
                    v + 100.0 * f64::from(k)
                } else {
                    v
                };
                format!("{head} {grown}\n")
            }
            _ => format!("{l}\n"),
        })
        .collect()
}

fn fleet() -> (Config, Vec<TargetState>) {
    let mut yaml =
        String::from("poll_interval: 15s\nwindow: 5m\nprobes: {grpc_health: false}\ntargets:\n");
    for i in 0..TARGETS {
        let (role, extra) = match i % 3 {
            0 => ("tempo", String::new()),
            1 => ("collector", String::new()),
            _ => (
                "app",
                ", success: 'otel_sdk_exporter_span_exported_total{error_type=\"\"}', failure: 'otel_sdk_exporter_span_exported_total{error_type!=\"\"}'".to_owned(),
            ),
        };
        yaml.push_str(&format!(
            "  - {{name: t{i:04}, role: {role}, url: 'http://127.0.0.1:{}/metrics'{extra}}}\n",
            10000 + i
        ));
    }
    let config = Config::from_yaml(&yaml, "bench").unwrap();
    let tempo = testdata("fixtures/tempo-2.7.2/healthy/metrics.txt");
    let collector = testdata("fixtures/otelcol/otelio-opamp-contrib-0.124.1/metrics.txt");
    let app = "otel_sdk_exporter_span_exported_total{error_type=\"\"} 100\notel_sdk_exporter_span_exported_total{error_type=\"timeout\"} 1\n";
    let dir = "fixtures/tempo-2.7.2/healthy";
    let read = |rel: &str| testdata(&format!("{dir}/{rel}"));
    let evidence = TempoEvidence {
        ready: Read::Ok(tempo::parse_ready(200, read("ready.txt").as_bytes())),
        status: Arc::new(TempoStatus {
            services: Read::Ok(tempo::parse_services(&read("status_services.txt")).unwrap()),
            config: Read::Ok(tempo::parse_config(&read("status_config.yaml")).unwrap()),
            ingester_ring: Read::Ok(
                tempo::parse_ring(read("ingester_ring.json").as_bytes()).unwrap(),
            ),
            generator_ring: Read::Ok(
                tempo::parse_ring(read("metrics_generator_ring.json").as_bytes()).unwrap(),
            ),
            ..TempoStatus::default()
        }),
        ..TempoEvidence::default()
    };
    let t0 = Instant::now();
    let mut states = Vec::new();
    for (index, target) in config.targets.iter().enumerate() {
        let mut state = TargetState::new(
            target.name.clone(),
            target.role,
            target.url.to_string(),
            config.poll_interval,
            config.window,
        );
        let body = match index % 3 {
            0 => &tempo,
            1 => &collector,
            _ => app,
        };
        for k in 0..POLLS {
            let mut reading = page::read_page(
                target.role,
                &page(&advanced(body, k)),
                target.app_selectors.as_ref(),
            )
            .unwrap();
            if index % 3 == 0 {
                reading.tempo = Some(evidence.clone());
            }
            state.record(PollOutcome {
                instance: index as u64,
                at: t0 + config.poll_interval * k,
                wall: SystemTime::now(),
                duration: Duration::from_millis(4),
                result: Ok(reading),
            });
        }
        states.push(state);
    }
    (config, states)
}

fn serve(c: &mut Criterion) {
    let (config, states) = fleet();
    let now = Instant::now();
    let make = || {
        snapshot::make(
            &config,
            &states,
            &[],
            &mut snapshot::Timeline::default(),
            now,
            SystemTime::now(),
        )
    };
    c.bench_function("derive_1000_targets", |b| b.iter(make));
    let snapshot = make();
    let reload = ReloadStatus::loaded_now();
    let mut group = c.benchmark_group("render_1000_targets");
    for (name, accept) in [
        ("text", None),
        (
            "openmetrics",
            Some("application/openmetrics-text;version=1.0.0"),
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| metrics::render(&snapshot, 0.5, &reload, accept).0.len())
        });
    }
    // What a scrape costs when the snapshot has not changed since the last one: the body
    // kept by the web server's cache, with the age written in.
    let shared_snapshot = std::sync::Arc::new(snapshot.clone());
    let cache = metrics::RenderCache::default();
    group.bench_function("text_kept", |b| {
        b.iter(|| cache.render(&shared_snapshot, 0.5, &reload, None).0.len())
    });
    group.finish();
    let (body, _) = metrics::render(&snapshot, 0.5, &reload, None);
    println!(
        "render_1000_targets: {} bytes, {} series",
        body.len(),
        body.lines().filter(|l| !l.starts_with('#')).count()
    );

    let tempo = page(&testdata("fixtures/tempo-2.7.2/healthy/metrics.txt"));
    c.bench_function("read_tempo_page", |b| {
        b.iter(|| page::read_page(spanflow::model::stage::Role::Tempo, &tempo, None).unwrap())
    });
}

fn tempo_status(c: &mut Criterion) {
    let dir = "fixtures/tempo-2.7.2/healthy";
    let config = testdata(&format!("{dir}/status_config.yaml"));
    let services = testdata(&format!("{dir}/status_services.txt"));
    let ring = testdata(&format!("{dir}/ingester_ring.json"));
    let mut group = c.benchmark_group("tempo_status");
    group.bench_function("config", |b| {
        b.iter(|| spanflow::source::tempo::parse_config(&config).unwrap())
    });
    group.bench_function("services", |b| {
        b.iter(|| spanflow::source::tempo::parse_services(&services).unwrap())
    });
    group.bench_function("ring", |b| {
        b.iter(|| spanflow::source::tempo::parse_ring(ring.as_bytes()).unwrap())
    });
    group.finish();
}

/// CPU time this thread has run, from the kernel's scheduler statistics.
fn thread_cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("/proc/thread-self/schedstat (Linux) is readable");
    let nanos = stat
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("schedstat starts with nanoseconds on the CPU");
    Duration::from_nanos(nanos)
}

fn poll_tempo_page(c: &mut Criterion) {
    let body = testdata("fixtures/tempo-2.7.2/healthy/metrics.txt");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let body = body.clone();
                    async move { ([("content-type", "text/plain; version=0.0.4")], body) }
                }),
            );
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    let config = Config::from_yaml(
        &format!("targets:\n  - name: tempo\n    role: tempo\n    url: http://{addr}\n"),
        "bench.yml",
    )
    .unwrap();
    let client = spanflow::source::scrape::TargetClient::new(&config.targets[0], 4 << 20).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let poll = || async {
        let page = client
            .fetch(
                client.endpoint("metrics"),
                spanflow::source::scrape::METRICS_ACCEPT,
            )
            .await
            .unwrap();
        page::read_page(spanflow::model::stage::Role::Tempo, &page, None).unwrap()
    };
    c.bench_function("poll_tempo_page_cpu", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = thread_cpu_time();
                for _ in 0..iters {
                    std::hint::black_box(poll().await);
                }
                thread_cpu_time() - start
            })
        })
    });
}

criterion_group!(benches, serve, tempo_status, poll_tempo_page);
criterion_main!(benches);
