//! Real data end to end: a real HTTP server on 127.0.0.1 replays the captures of real Tempo
//! 2.7.2 and 3.0.3 (`testdata/fixtures/`), spanflow polls it through its real client and
//! page reader, and the stage statuses, ratios and blocked stage are asserted.

mod common;

use common::{
    PageServer, Poller, TEMPO_CONTENT_TYPE, replay_pair, series_pages, stage_list, status, statuses,
};
use spanflow::model::stage::{Stage, StageStatus};
use spanflow::snapshot::Snapshot;

/// Per step, a column of the series' `deltas.tsv` (empty cells read as 0).
fn deltas(dir: &str, column: &str) -> Vec<f64> {
    let text = common::read_testdata(&format!("{dir}/deltas.tsv"));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = header
        .iter()
        .position(|h| *h == column)
        .unwrap_or_else(|| panic!("{dir}: no column {column}"));
    lines
        .map(|l| {
            l.split('\t')
                .nth(col)
                .unwrap_or("")
                .trim_start_matches('=')
                .parse()
                .unwrap_or(0.0)
        })
        .collect()
}

/// Replays a series, returning the snapshot after each page (index = step).
async fn replay(dir: &str) -> Vec<Snapshot> {
    let server = PageServer::start().await;
    let mut poller = Poller::tempo(&server.base);
    let mut snapshots = Vec::new();
    for page in series_pages(dir) {
        server.set(page, TEMPO_CONTENT_TYPE);
        snapshots.push(poller.poll().await);
    }
    snapshots
}

fn never_failing_or_degraded(snapshots: &[Snapshot], from: usize) {
    for (step, s) in snapshots.iter().enumerate().skip(from) {
        for r in &s.pipelines[0].stages {
            assert!(
                !matches!(
                    r.status,
                    StageStatus::Failing | StageStatus::Degraded | StageStatus::Unknown
                ),
                "step {step}: {}",
                statuses(s)
            );
        }
    }
}

// ---- before/after captures of Tempo 2.7.2 --------------------------------------------

#[tokio::test]
async fn healthy_capture_is_all_ok() {
    let s = replay_pair("fixtures/tempo-2.7.2/healthy").await;
    assert_eq!(
        stage_list(&s),
        [
            Stage::TempoDistributor,
            Stage::TempoIngester,
            Stage::TempoStorage
        ]
    );
    assert_eq!(
        status(&s, Stage::TempoDistributor),
        StageStatus::Ok,
        "{}",
        statuses(&s)
    );
    assert_eq!(
        status(&s, Stage::TempoIngester),
        StageStatus::Ok,
        "{}",
        statuses(&s)
    );
    // One block was flushed between the two captures.
    assert_eq!(
        status(&s, Stage::TempoStorage),
        StageStatus::Ok,
        "{}",
        statuses(&s)
    );
    assert!(s.healthy);
    assert_eq!(s.pipelines[0].blocked_stage, None);
    let d = &s.pipelines[0].stages[0];
    assert_eq!(
        (d.judged.success, d.judged.failure, d.success_ratio),
        (150.0, 0.0, Some(1.0))
    );
    assert_eq!(s.pipelines[0].targets[0].version.as_deref(), Some("v2.7.2"));
    assert_eq!(s.pipelines[0].targets[0].mode, Some("monolithic"));
}

#[tokio::test]
async fn tls_mismatch_blocks_the_ingester_stage() {
    let s = replay_pair("fixtures/tempo-2.7.2/tls-mismatch").await;
    assert_eq!(
        status(&s, Stage::TempoDistributor),
        StageStatus::Failing,
        "{}",
        statuses(&s)
    );
    assert_eq!(
        status(&s, Stage::TempoIngester),
        StageStatus::Failing,
        "{}",
        statuses(&s)
    );
    // Where the spans stop, not where the refusal shows (docs/architecture.md).
    assert_eq!(s.pipelines[0].blocked_stage, Some(Stage::TempoIngester));
    let d = &s.pipelines[0].stages[0];
    assert_eq!((d.judged.success, d.judged.failure), (0.0, 310.0));
    assert_eq!(d.success_ratio, Some(0.0));
    let i = &s.pipelines[0].stages[1];
    assert_eq!((i.judged.success, i.judged.failure), (0.0, 13.0));
    assert!(s.pipelines[0].discarded_per_second["internal_error"] > 0.0);
    assert!(!s.healthy);
}

#[tokio::test]
async fn ring_rf3_fails_the_distributor_without_any_append() {
    let s = replay_pair("fixtures/tempo-2.7.2/ring-rf3").await;
    assert_eq!(
        status(&s, Stage::TempoDistributor),
        StageStatus::Failing,
        "{}",
        statuses(&s)
    );
    assert_eq!(
        status(&s, Stage::TempoIngester),
        StageStatus::Idle,
        "{}",
        statuses(&s)
    );
    assert_eq!(s.pipelines[0].blocked_stage, Some(Stage::TempoDistributor));
}

#[tokio::test]
async fn rate_limited_degrades_the_distributor_with_rate_limited_discards() {
    let s = replay_pair("fixtures/tempo-2.7.2/rate-limited").await;
    assert_eq!(
        status(&s, Stage::TempoDistributor),
        StageStatus::Degraded,
        "{}",
        statuses(&s)
    );
    let d = &s.pipelines[0].stages[0];
    assert_eq!((d.judged.success, d.judged.failure), (61.0, 260.0));
    assert!(s.pipelines[0].discarded_per_second["rate_limited"] > 0.0);
    assert_eq!(s.pipelines[0].blocked_stage, None);
}

#[tokio::test]
async fn healthy_steady_capture_is_all_ok() {
    let s = replay_pair("fixtures/tempo-2.7.2/healthy-steady").await;
    assert!(s.healthy, "{}", statuses(&s));
}

#[tokio::test]
async fn startup_never_shows_a_failing_stage_before_tempo_is_ready() {
    let server = PageServer::start().await;
    let mut poller = Poller::tempo(&server.base);
    for phase in [
        "t0-just-started",
        "before-ready-after-100-spans",
        "after-ready",
    ] {
        server.set(
            common::read_testdata(&format!("fixtures/tempo-2.7.2/startup/{phase}/metrics.txt")),
            TEMPO_CONTENT_TYPE,
        );
        let s = poller.poll().await;
        for r in &s.pipelines[0].stages {
            assert_ne!(r.status, StageStatus::Failing, "{phase}: {}", statuses(&s));
            assert_ne!(r.status, StageStatus::Degraded, "{phase}: {}", statuses(&s));
        }
        if phase == "before-ready-after-100-spans" {
            // /ready still says 503, yet the spans are accepted: the stage is ok.
            assert_eq!(
                status(&s, Stage::TempoDistributor),
                StageStatus::Ok,
                "{}",
                statuses(&s)
            );
        }
    }
}

// ---- 2 s time series ----------------------------------------------------------------------

#[tokio::test]
async fn healthy_series_of_tempo_2_is_never_failing() {
    let dir = "fixtures/tempo-2.7.2-series/healthy";
    let accepted = deltas(dir, "accepted");
    let snapshots = replay(dir).await;
    never_failing_or_degraded(&snapshots, 1);
    let busy = accepted.iter().rposition(|&a| a >= 40.0).unwrap();
    let last = &snapshots[busy];
    assert_eq!(status(last, Stage::TempoDistributor), StageStatus::Ok);
    let rate = last.pipelines[0].stages[0].success_per_second.unwrap();
    assert!(
        (rate - 20.0).abs() < 1.0,
        "20 spans/s were sent, spanflow saw {rate}"
    );
}

#[tokio::test]
async fn tls_mismatch_series_fails_distributor_and_ingester_at_every_step_with_traffic() {
    let dir = "fixtures/tempo-2.7.2-series/tls-mismatch";
    let refused = deltas(dir, "refused");
    let snapshots = replay(dir).await;
    let mut checked = 0;
    for (step, s) in snapshots.iter().enumerate().skip(1) {
        if refused[step] > 0.0 {
            assert_eq!(
                status(s, Stage::TempoDistributor),
                StageStatus::Failing,
                "step {step}: {}",
                statuses(s)
            );
            assert_eq!(
                status(s, Stage::TempoIngester),
                StageStatus::Failing,
                "step {step}: {}",
                statuses(s)
            );
            assert_eq!(
                s.pipelines[0].blocked_stage,
                Some(Stage::TempoIngester),
                "step {step}"
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} steps with refusals");
}

#[tokio::test]
async fn transition_follows_within_two_polls_each_way_without_false_failures_at_resets() {
    let dir = "fixtures/tempo-2.7.2-series/transition";
    let refused = deltas(dir, "refused");
    let accepted = deltas(dir, "accepted");
    let resets: Vec<bool> = {
        let text = common::read_testdata(&format!("{dir}/deltas.tsv"));
        text.lines()
            .skip(1)
            .map(|l| l.split('\t').nth(4).is_some_and(|c| c.contains('R')))
            .collect()
    };
    let snapshots = replay(dir).await;
    let first_refused = refused.iter().position(|&r| r > 0.0).unwrap();
    let last_refused = refused.iter().rposition(|&r| r > 0.0).unwrap();
    let recovered = (last_refused + 1..accepted.len())
        .find(|&i| accepted[i] > 0.0)
        .unwrap();

    for (step, s) in snapshots.iter().enumerate().skip(1) {
        let d = status(s, Stage::TempoDistributor);
        if step < first_refused {
            assert_ne!(
                d,
                StageStatus::Failing,
                "step {step} (healthy phase): {}",
                statuses(s)
            );
        }
        if resets[step] {
            // The restart itself: counters reset, no spans yet. Not a failure.
            assert_ne!(
                d,
                StageStatus::Failing,
                "reset at step {step}: {}",
                statuses(s)
            );
            assert!(
                s.pipelines[0]
                    .stages
                    .iter()
                    .all(|r| r.success_per_second.unwrap_or(0.0) >= 0.0
                        && r.failure_per_second.unwrap_or(0.0) >= 0.0)
            );
        }
        if step > first_refused && step <= last_refused {
            assert_eq!(
                d,
                StageStatus::Failing,
                "step {step}: detection within two polls: {}",
                statuses(s)
            );
            assert_eq!(
                s.pipelines[0].blocked_stage,
                Some(Stage::TempoIngester),
                "step {step}"
            );
        }
        if step > recovered && accepted[step] > 0.0 {
            assert_eq!(
                d,
                StageStatus::Ok,
                "step {step}: recovery within two polls: {}",
                statuses(s)
            );
            assert_ne!(
                status(s, Stage::TempoIngester),
                StageStatus::Failing,
                "step {step}"
            );
        }
    }
    assert!(
        resets.iter().filter(|r| **r).count() >= 2,
        "the series has two restarts"
    );
}

#[tokio::test]
async fn rate_limited_series_degrades_the_distributor() {
    let dir = "fixtures/tempo-2.7.2-series/rate-limited";
    let refused = deltas(dir, "refused");
    let snapshots = replay(dir).await;
    let mut checked = 0;
    for (step, s) in snapshots.iter().enumerate().skip(1) {
        if refused[step] > 0.0 {
            assert_eq!(
                status(s, Stage::TempoDistributor),
                StageStatus::Degraded,
                "step {step}: {}",
                statuses(s)
            );
            assert_ne!(
                status(s, Stage::TempoIngester),
                StageStatus::Failing,
                "step {step}"
            );
            checked += 1;
        }
    }
    assert!(checked > 10);
    assert!(snapshots.last().unwrap().pipelines[0].discarded_per_second["rate_limited"] > 0.0);
}

#[tokio::test]
async fn tempo_3_healthy_series_has_live_store_stages_and_no_ingester() {
    let snapshots = replay("fixtures/tempo-3.0.3-series/healthy").await;
    let last = snapshots.last().unwrap();
    assert_eq!(
        stage_list(last),
        [
            Stage::TempoDistributor,
            Stage::TempoLiveStore,
            Stage::TempoStorage
        ],
        "{}",
        statuses(last)
    );
    never_failing_or_degraded(&snapshots, 1);
    assert_eq!(
        status(last, Stage::TempoLiveStore),
        StageStatus::Ok,
        "{}",
        statuses(last)
    );
    assert_eq!(
        last.pipelines[0].targets[0].version.as_deref(),
        Some("v3.0.3")
    );
    assert_eq!(last.pipelines[0].targets[0].mode, Some("monolithic"));
}

#[tokio::test]
async fn tempo_3_rate_limited_series_degrades_the_distributor() {
    let dir = "fixtures/tempo-3.0.3-series/rate-limited";
    let refused = deltas(dir, "refused");
    let snapshots = replay(dir).await;
    for (step, s) in snapshots.iter().enumerate().skip(1) {
        assert!(
            !stage_list(s).contains(&Stage::TempoIngester),
            "step {step}: a 3.x Tempo has no ingester"
        );
        if refused[step] > 0.0 {
            assert_eq!(
                status(s, Stage::TempoDistributor),
                StageStatus::Degraded,
                "step {step}: {}",
                statuses(s)
            );
        }
    }
}

/// Replication factor 3: the distributor writes every push to three ingesters and cancels
/// the third once two succeed. Built from the real healthy series: appends ×3, one third
/// of them failing, nothing refused.
#[tokio::test]
async fn healthy_replication_factor_3_pattern_is_healthy() {
    let server = PageServer::start().await;
    let mut poller = Poller::tempo(&server.base);
    let mut checked = 0;
    let mut previous_appends = 0;
    for (step, page) in series_pages("fixtures/tempo-2.7.2-series/healthy")
        .into_iter()
        .enumerate()
    {
        let appends = page
            .lines()
            .find(|l| l.starts_with("tempo_distributor_ingester_appends_total{"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok());
        let mut rf3 = String::with_capacity(page.len() + 256);
        for line in page.lines() {
            if line.starts_with("tempo_distributor_ingester_appends_total{") {
                let n = appends.unwrap();
                for ingester in ["10.0.0.1:9095", "10.0.0.2:9095", "10.0.0.3:9095"] {
                    rf3.push_str(&format!(
                        "tempo_distributor_ingester_appends_total{{ingester=\"{ingester}\"}} {n}\n"
                    ));
                }
                // Each push's third write is cancelled, spread over the ingesters.
                for ingester in ["10.0.0.1:9095", "10.0.0.2:9095", "10.0.0.3:9095"] {
                    rf3.push_str(&format!(
                        "tempo_distributor_ingester_append_failures_total{{ingester=\"{ingester}\"}} {}\n",
                        n / 3
                    ));
                }
            } else {
                rf3.push_str(line);
                rf3.push('\n');
            }
        }
        server.set(rf3, TEMPO_CONTENT_TYPE);
        let s = poller.poll().await;
        let appended = appends.unwrap_or(0).saturating_sub(previous_appends);
        previous_appends = appends.unwrap_or(0);
        if step > 0 && appended > 0 {
            assert_eq!(
                status(&s, Stage::TempoIngester),
                StageStatus::Ok,
                "step {step}: {}",
                statuses(&s)
            );
            assert!(s.healthy || status(&s, Stage::TempoDistributor) != StageStatus::Failing);
            // No cause either: append failures without refusals are the normal RF3 pattern.
            assert!(
                s.pipelines[0].causes.is_empty(),
                "step {step}: {:?}",
                s.pipelines[0].causes
            );
            checked += 1;
        }
    }
    assert!(checked > 20);
}

// ---- Collector pages of several naming eras -------------------------------------------

#[tokio::test]
async fn collector_pages_of_every_naming_era_are_read() {
    let root = common::testdata("fixtures/otelcol");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 8);
    let mut read_any = 0;
    for dir in dirs {
        for file in ["metrics.txt", "metrics_v0.118.0.txt"] {
            let Ok(page) = std::fs::read_to_string(dir.join(file)) else {
                continue;
            };
            let name = format!("{}/{file}", dir.file_name().unwrap().to_string_lossy());
            let server = PageServer::start().await;
            let mut poller = Poller::new(&format!(
                "poll_interval: 2s\nwindow: 1m\ntargets:\n  - {{name: otelcol, role: collector, url: '{}/metrics', timeout: 1s}}\n",
                server.base
            ));
            // A lone page has no rate: serve it as a series whose counters start at zero and
            // grow by the published value every poll.
            let mut last = None;
            for k in 0..3 {
                server.set(scale_counters(&page, k), "text/plain; version=0.0.4");
                last = Some(poller.poll().await);
            }
            let s = last.unwrap();
            assert_eq!(
                stage_list(&s),
                [Stage::CollectorReceiver, Stage::CollectorExporter],
                "{name}"
            );
            assert!(
                s.pipelines[0].targets[0].up,
                "{name}: {:?}",
                s.pipelines[0].targets[0].last_error
            );
            let published = |prefix: &str| {
                page.lines()
                    .filter(|l| l.starts_with(prefix))
                    .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                    .sum::<f64>()
            };
            for (stage, success, failure) in [
                (
                    Stage::CollectorReceiver,
                    "otelcol_receiver_accepted_spans",
                    "otelcol_receiver_refused_spans",
                ),
                (
                    Stage::CollectorExporter,
                    "otelcol_exporter_sent_spans",
                    "otelcol_exporter_send_failed_spans",
                ),
            ] {
                let report = s.pipelines[0]
                    .stages
                    .iter()
                    .find(|r| r.stage == stage)
                    .unwrap();
                let (want_s, want_f) = (published(success), published(failure));
                assert_eq!(
                    (report.judged.success, report.judged.failure),
                    (want_s, want_f),
                    "{name} {stage:?}"
                );
                let want = if want_s + want_f > 0.0 {
                    StageStatus::Ok
                } else {
                    StageStatus::Idle
                };
                assert_eq!(report.status, want, "{name} {stage:?}: {}", statuses(&s));
                if want_s > 0.0 {
                    read_any += 1;
                }
            }
            if page.contains("otelcol_exporter_queue_size") {
                assert_eq!(
                    s.pipelines[0].targets[0].queue_fill_ratio,
                    Some(0.0),
                    "{name}"
                );
            }
        }
    }
    assert!(read_any >= 5, "spans read on only {read_any} stage pages");
}

/// Multiplies every counter sample (typed counter, or a `_total`/span counter on an untyped
/// page) by `k`; gauges keep their value.
fn scale_counters(page: &str, k: u32) -> String {
    let mut counters = std::collections::HashSet::new();
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            if let (Some(name), Some("counter")) = (parts.next(), parts.next()) {
                counters.insert(name.to_owned());
            }
        }
    }
    let mut out = String::new();
    for line in page.lines() {
        if line.starts_with('#') || line.is_empty() {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let name = line.split(['{', ' ']).next().unwrap();
        let is_counter = counters.contains(name)
            || counters.contains(name.trim_end_matches("_total"))
            || name.ends_with("_total")
            || name.ends_with("_spans");
        let (head, value) = line.rsplit_once(' ').unwrap();
        match value.parse::<f64>() {
            Ok(v) if is_counter => out.push_str(&format!("{head} {}\n", v * f64::from(k))),
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// A target of `role` (an app without selectors) polled three times over a page whose
/// counters grow by the page's values every poll; the last snapshot.
async fn poll_page(role: &str, page: &str) -> spanflow::snapshot::Snapshot {
    poll_pages(role, "text/plain; version=0.0.4", |k| {
        scale_counters(page, k)
    })
    .await
}

/// Polls three pages of one target, `page(k)` for k = 0, 1, 2, and returns the last snapshot.
async fn poll_pages(
    role: &str,
    content_type: &str,
    page: impl Fn(u32) -> String,
) -> spanflow::snapshot::Snapshot {
    let server = PageServer::start().await;
    let mut poller = Poller::new(&format!(
        "poll_interval: 2s\nwindow: 1m\ntargets:\n  - {{name: {role}, role: {role}, url: '{}/metrics', timeout: 1s}}\n",
        server.base
    ));
    let mut last = None;
    for k in 0..3 {
        server.set(page(k), content_type);
        last = Some(poller.poll().await);
    }
    last.unwrap()
}

async fn poll_app_page(page: &str) -> spanflow::snapshot::Snapshot {
    poll_page("app", page).await
}

fn app_causes(s: &spanflow::snapshot::Snapshot) -> Vec<(&'static str, &'static str)> {
    s.pipelines[0]
        .causes
        .iter()
        .map(|d| (d.cause.as_str(), d.severity.as_str()))
        .collect()
}

#[tokio::test]
async fn sdk_self_metrics_are_read_without_selectors() {
    // Real pages of the OpenTelemetry Python SDK 1.45.2 with its self-metrics on.
    let healthy = common::read_testdata("fixtures/sdk/python-1.45.2-healthy-http/metrics.txt");
    let s = poll_app_page(&healthy).await;
    let app = &s.pipelines[0].stages[0];
    assert_eq!(app.stage, Stage::App);
    assert_eq!(app.status, StageStatus::Ok, "{}", app.reason);
    assert_eq!((app.judged.success, app.judged.failure), (220.0, 0.0));
    assert!(app_causes(&s).is_empty(), "{:?}", app_causes(&s));

    // Exporting to a closed port: every span counted under error_type="ConnectionError".
    let failing = common::read_testdata("fixtures/sdk/python-1.45.2-failing-http/metrics.txt");
    let s = poll_app_page(&failing).await;
    let app = &s.pipelines[0].stages[0];
    assert_eq!(app.status, StageStatus::Failing, "{}", app.reason);
    assert_eq!((app.judged.success, app.judged.failure), (0.0, 186.0));
    assert_eq!(app_causes(&s), [("app_export_failing", "critical")]);

    // The Java agent's legacy names (2020): processedSpans{dropped="false"} is no drop and
    // the page has no export counter: the app is read, and idle (exports unseen: info).
    let legacy = common::read_testdata("fixtures/sdk/javaagent-issue1880-2020-legacy/metrics.txt");
    let s = poll_app_page(&legacy).await;
    assert!(s.pipelines[0].targets[0].up);
    assert_eq!(status(&s, Stage::App), StageStatus::Idle);
    assert_eq!(app_causes(&s), [("app_not_exporting", "info")]);
    // The same page with drops (constructed: dropped="true" as the legacy counter writes it).
    let dropping = format!(
        "{legacy}processedSpans{{dropped=\"true\",spanProcessorType=\"BatchSpanProcessor\",}} 7.0\n"
    );
    let s = poll_app_page(&dropping).await;
    assert_eq!(
        app_causes(&s),
        [("app_queue_full", "warning"), ("app_not_exporting", "info")]
    );
}

#[tokio::test]
async fn semantic_convention_sdk_pages_of_other_sdks_read_the_same() {
    // Constructed from the semantic conventions (otel.sdk.*, Development), as a Go SDK with
    // OTEL_GO_X_OBSERVABILITY=true and a Prometheus exporter that adds no _total would
    // write them: success series without error_type, failures with it, queue drops.
    let page = "# TYPE otel_sdk_exporter_span_exported counter\n\
        otel_sdk_exporter_span_exported{otel_component_name=\"otlp_grpc_span_exporter/0\",otel_component_type=\"otlp_grpc_span_exporter\"} 90\n\
        otel_sdk_exporter_span_exported{error_type=\"\",otel_component_name=\"otlp_grpc_span_exporter/0\",otel_component_type=\"otlp_grpc_span_exporter\"} 5\n\
        otel_sdk_exporter_span_exported{error_type=\"rpc error: code = Unavailable\",otel_component_name=\"otlp_grpc_span_exporter/0\",otel_component_type=\"otlp_grpc_span_exporter\"} 5\n\
        # TYPE otel_sdk_processor_span_processed counter\n\
        otel_sdk_processor_span_processed{otel_component_name=\"batching_span_processor/0\",otel_component_type=\"batching_span_processor\"} 100\n\
        otel_sdk_processor_span_processed{error_type=\"queue_full\",otel_component_name=\"batching_span_processor/0\",otel_component_type=\"batching_span_processor\"} 20\n\
        # TYPE otel_sdk_processor_span_queue_size gauge\n\
        otel_sdk_processor_span_queue_size{otel_component_name=\"batching_span_processor/0\",otel_component_type=\"batching_span_processor\"} 2048\n\
        # TYPE otel_sdk_processor_span_queue_capacity gauge\n\
        otel_sdk_processor_span_queue_capacity{otel_component_name=\"batching_span_processor/0\",otel_component_type=\"batching_span_processor\"} 2048\n";
    let s = poll_app_page(page).await;
    let app = &s.pipelines[0].stages[0];
    // 95 of 100 exported (with and without error_type=""), 5 failed: degraded.
    assert_eq!((app.judged.success, app.judged.failure), (95.0, 5.0));
    assert_eq!(app.status, StageStatus::Degraded, "{}", app.reason);
    assert_eq!(
        app_causes(&s),
        [
            ("app_export_failing", "warning"),
            ("app_queue_full", "warning")
        ]
    );
    let full = &s.pipelines[0].causes[1];
    assert_eq!(
        full.evidence[1], "app: span processor queue 100 % full now",
        "{:?}",
        full.evidence
    );
    // A page without any SDK self-metric does not look like an app.
    let s =
        poll_app_page("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 3\n")
            .await;
    assert_eq!(status(&s, Stage::App), StageStatus::Unknown);
}

#[tokio::test]
async fn every_spelling_of_a_collector_counter_reads_as_the_same_counter() {
    // Constructed pages: the same counts as the default reader writes them (no suffix), as
    // v0.119–v0.151 with explicit readers write them (_total), and as v0.130.0's bug wrote
    // them (the unit doubled: __spans__total).
    for suffix in ["", "_total", "__spans__total"] {
        let page = format!(
            "# TYPE otelcol_receiver_accepted_spans{suffix} counter\notelcol_receiver_accepted_spans{suffix}{{receiver=\"otlp\",transport=\"grpc\"}} 30\n\
             # TYPE otelcol_receiver_refused_spans{suffix} counter\notelcol_receiver_refused_spans{suffix}{{receiver=\"otlp\",transport=\"grpc\"}} 10\n\
             # TYPE otelcol_exporter_sent_spans{suffix} counter\notelcol_exporter_sent_spans{suffix}{{exporter=\"otlp\"}} 25\n\
             # TYPE otelcol_exporter_send_failed_spans{suffix} counter\notelcol_exporter_send_failed_spans{suffix}{{exporter=\"otlp\"}} 5\n"
        );
        let s = poll_page("collector", &page).await;
        let judged: Vec<(f64, f64)> = s.pipelines[0]
            .stages
            .iter()
            .map(|r| (r.judged.success, r.judged.failure))
            .collect();
        assert_eq!(judged, [(30.0, 10.0), (25.0, 5.0)], "suffix {suffix:?}");
    }
}

#[tokio::test]
async fn the_collector_pipeline_item_counters_read_as_the_stages_in_every_spelling() {
    // Constructed (no published page has them): a Collector with only the pipeline telemetry
    // of v0.123+ (gate telemetry.newPipelineTelemetry) — no classic span counters — as the
    // default reader writes it, as a reader with _total and scope labels writes it, and with
    // Prometheus 3's quoted UTF-8 names. Items of metrics beside the spans must not count.
    let plain = |k: u32, name: &str, outcome: &str, signal: &str, v: u32| {
        format!(
            "{name}{{otelcol_component_outcome=\"{outcome}\",otelcol_signal=\"{signal}\"}} {}\n",
            v * k
        )
    };
    let total = |k: u32, name: &str, outcome: &str, signal: &str, v: u32| {
        format!(
            "{name}_total{{otel_scope_name=\"go.opentelemetry.io/collector/service\",otelcol_component_outcome=\"{outcome}\",otel_scope_otelcol_signal=\"{signal}\"}} {}\n",
            v * k
        )
    };
    let utf8 = |k: u32, name: &str, outcome: &str, signal: &str, v: u32| {
        format!(
            "{{\"{}\",\"otelcol.component.outcome\"=\"{outcome}\",\"otelcol.signal\"=\"{signal}\"}} {}\n",
            name.replace('_', "."),
            v * k
        )
    };
    type Line = fn(u32, &str, &str, &str, u32) -> String;
    let spellings: [(&str, Line, &str); 3] = [
        ("no suffix", plain, "text/plain; version=0.0.4"),
        ("_total", total, "text/plain; version=0.0.4"),
        (
            "UTF-8",
            utf8,
            "text/plain; version=1.0.0; escaping=allow-utf-8",
        ),
    ];
    for (spelling, line, content_type) in spellings {
        let page = |k: u32| {
            [
                ("otelcol_receiver_produced_items", "success", "traces", 30),
                ("otelcol_receiver_produced_items", "refused", "traces", 6),
                ("otelcol_receiver_produced_items", "failure", "traces", 4),
                (
                    "otelcol_receiver_produced_items",
                    "success",
                    "metrics",
                    1000,
                ),
                ("otelcol_exporter_consumed_items", "success", "traces", 25),
                ("otelcol_exporter_consumed_items", "failure", "traces", 5),
                ("otelcol_exporter_consumed_items", "failure", "logs", 700),
            ]
            .iter()
            .map(|(name, outcome, signal, v)| line(k, name, outcome, signal, *v))
            .collect::<String>()
        };
        let s = poll_pages("collector", content_type, page).await;
        let judged: Vec<(f64, f64)> = s.pipelines[0]
            .stages
            .iter()
            .map(|r| (r.judged.success, r.judged.failure))
            .collect();
        assert_eq!(judged, [(30.0, 10.0), (25.0, 5.0)], "{spelling}");
    }
}

#[tokio::test]
async fn permanent_send_failures_are_dropping_not_retrying() {
    // Constructed from the exporterhelper's detailed-level labels (v0.146+: error_type,
    // error_permanent), with v0.152's in-flight gauge and v0.133's receiver requests.
    let page = |k: u32| {
        format!(
            "otelcol_receiver_accepted_spans{{receiver=\"otlp\",transport=\"grpc\"}} {}\n\
             otelcol_receiver_refused_spans{{receiver=\"otlp\",transport=\"grpc\"}} 0\n\
             otelcol_receiver_requests{{receiver=\"otlp\",transport=\"grpc\",outcome=\"success\"}} {}\n\
             otelcol_receiver_requests{{receiver=\"otlp\",transport=\"grpc\",outcome=\"refused\"}} {}\n\
             otelcol_exporter_sent_spans{{exporter=\"otlp\"}} {}\n\
             otelcol_exporter_send_failed_spans{{exporter=\"otlp\",error_type=\"InvalidArgument\",error_permanent=\"true\"}} {}\n\
             otelcol_exporter_send_failed_spans{{exporter=\"otlp\",error_type=\"Unavailable\",error_permanent=\"false\"}} {}\n\
             otelcol_exporter_in_flight_requests{{exporter=\"otlp\",data_type=\"traces\"}} 3\n",
            40 * k,
            4 * k,
            k,
            10 * k,
            24 * k,
            6 * k
        )
    };
    let s = poll_pages("collector", "text/plain; version=0.0.4", page).await;
    let p = &s.pipelines[0];
    assert_eq!(status(&s, Stage::CollectorExporter), StageStatus::Degraded);
    let d = p
        .causes
        .iter()
        .find(|d| d.stage == Stage::CollectorExporter)
        .unwrap();
    assert_eq!(d.cause.as_str(), "collector_exporter_dropping");
    assert_eq!(d.certainty.as_str(), "confirmed");
    assert_eq!(
        d.evidence[1..],
        [
            "48 of 60 failed spans were permanent failures (error_permanent=\"true\"): dropped at once, not retried",
            "3 export requests in flight now",
            "the receivers answered 2 requests with an error over the last 4 s: 2 refused (a downstream error: exporter or queue), 0 failed (the Collector's own)",
        ],
        "{:#?}",
        d.evidence
    );
    // Retryable failures the most: the exporter fails (and retries), named as before.
    let retrying = |k: u32| page(k).replace("error_permanent=\"true\"", "error_permanent=\"x\"");
    let s = poll_pages("collector", "text/plain; version=0.0.4", retrying).await;
    let causes: Vec<&str> = s.pipelines[0]
        .causes
        .iter()
        .map(|d| d.cause.as_str())
        .collect();
    assert!(causes.contains(&"collector_exporter_failing"), "{causes:?}");
}

#[tokio::test]
async fn alloy_as_the_collector_is_recognised_and_judged_by_its_otelcol_counters() {
    // Real Alloy pages (controller families only, published by others): recognised as the
    // collector — up, not "something else" — with no span counted yet.
    for dir in ["foreach3-1.7-dev-controller", "issue1825-1.x-controller"] {
        let page = common::read_testdata(&format!("fixtures/alloy/{dir}/metrics.txt"));
        let s = poll_page("collector", &page).await;
        let t = &s.pipelines[0].targets[0];
        assert!(t.up && t.last_error.is_none(), "{dir}: {:?}", t.last_error);
        assert_eq!(
            status(&s, Stage::CollectorReceiver),
            StageStatus::Idle,
            "{dir}"
        );
    }
    // Constructed from Alloy's documentation (otelcol series with _total and component_id /
    // component_path labels, alloy_build_info): every export fails while Alloy calls the
    // component healthy — spanflow must not.
    let page = "# TYPE alloy_build_info gauge\n\
        alloy_build_info{branch=\"HEAD\",goversion=\"go1.24.1\",revision=\"abc\",version=\"v1.7.0\"} 1\n\
        # TYPE alloy_component_controller_running_components gauge\n\
        alloy_component_controller_running_components{controller_id=\"\",controller_path=\"/\",health_type=\"healthy\"} 2\n\
        # TYPE otelcol_receiver_accepted_spans_total counter\n\
        otelcol_receiver_accepted_spans_total{component_id=\"otelcol.receiver.otlp.default\",component_path=\"/\",receiver=\"otlp\",transport=\"grpc\"} 40\n\
        # TYPE otelcol_exporter_sent_spans_total counter\n\
        otelcol_exporter_sent_spans_total{component_id=\"otelcol.exporter.otlp.tempo\",component_path=\"/\",exporter=\"otlp\"} 0\n\
        # TYPE otelcol_exporter_send_failed_spans_total counter\n\
        otelcol_exporter_send_failed_spans_total{component_id=\"otelcol.exporter.otlp.tempo\",component_path=\"/\",exporter=\"otlp\"} 40\n";
    let s = poll_page("collector", page).await;
    assert_eq!(
        s.pipelines[0].targets[0].version.as_deref(),
        Some("alloy v1.7.0")
    );
    assert_eq!(status(&s, Stage::CollectorReceiver), StageStatus::Ok);
    assert_eq!(status(&s, Stage::CollectorExporter), StageStatus::Failing);
    assert!(
        s.pipelines[0]
            .causes
            .iter()
            .any(|d| d.cause.as_str() == "collector_exporter_failing"),
        "{:?}",
        s.pipelines[0].causes
    );
}

#[tokio::test]
async fn alloy_with_two_exporters_says_which_one_fails() {
    // Constructed, as above: one receiver, two exporters — the backup exporter passes, the
    // Tempo one fails every export. The stage sums both (degraded, not failing); the
    // component table and the cause say which.
    let page = "alloy_build_info{version=\"v1.7.0\"} 1\n\
        # TYPE otelcol_receiver_accepted_spans_total counter\n\
        otelcol_receiver_accepted_spans_total{component_id=\"otelcol.receiver.otlp.default\",component_path=\"/\",receiver=\"otlp\",transport=\"grpc\"} 40\n\
        # TYPE otelcol_exporter_sent_spans_total counter\n\
        otelcol_exporter_sent_spans_total{component_id=\"otelcol.exporter.otlp.tempo\",component_path=\"/\",exporter=\"otlp\"} 0\n\
        otelcol_exporter_sent_spans_total{component_id=\"otelcol.exporter.otlp.backup\",component_path=\"/\",exporter=\"otlp\"} 40\n\
        # TYPE otelcol_exporter_send_failed_spans_total counter\n\
        otelcol_exporter_send_failed_spans_total{component_id=\"otelcol.exporter.otlp.tempo\",component_path=\"/\",exporter=\"otlp\"} 40\n";
    let s = poll_page("collector", page).await;
    let p = &s.pipelines[0];
    assert_eq!(status(&s, Stage::CollectorExporter), StageStatus::Degraded);
    let components: Vec<(&str, StageStatus)> = p
        .components
        .iter()
        .map(|c| (c.component.as_str(), c.status))
        .collect();
    // One receiver is the stage itself: only the exporters are broken down.
    assert_eq!(
        components,
        [
            ("otelcol.exporter.otlp.backup", StageStatus::Ok),
            ("otelcol.exporter.otlp.tempo", StageStatus::Failing),
        ]
    );
    let cause = p
        .causes
        .iter()
        .find(|d| d.cause.as_str() == "collector_exporter_failing")
        .unwrap();
    assert!(
        cause.evidence.contains(
            &"component otelcol.exporter.otlp.tempo failing: 0 of 80 spans succeeded over the last 4 s (1 other component(s) pass)"
                .to_owned()
        ),
        "{:#?}",
        cause.evidence
    );
    let html = spanflow::serve::status_page::render(&s, "/metrics");
    assert!(html.contains("id=\"default/component-otelcol.exporter.otlp.tempo\""));
    let json = spanflow::serve::report::json(&s, None);
    assert!(
        json.contains("\"component\": \"otelcol.exporter.otlp.tempo\""),
        "{json}"
    );
}

/// A multi-tenant Tempo where one tenant is rate limited while the others pass. Constructed
/// (no published capture has several tenants): the real Tempo 2.7.2 healthy page, with the
/// series a second and a third tenant would add — `team-b` passing, `team-a` refused by the
/// rate limiter, counted where Tempo counts it (`tempo_discarded_spans_total{reason=
/// "rate_limited",tenant}` and `tempo_receiver_refused_spans`, never in
/// `tempo_distributor_spans_received_total`, as in the real rate-limited capture).
fn multi_tenant_page() -> String {
    let healthy = common::read_testdata("fixtures/tempo-2.7.2/healthy/metrics.txt");
    let mut page = String::new();
    for line in healthy.lines() {
        let line = match line {
            "tempo_receiver_accepted_spans{receiver=\"tempo/otlp_receiver\",transport=\"grpc\"} 100" => {
                "tempo_receiver_accepted_spans{receiver=\"tempo/otlp_receiver\",transport=\"grpc\"} 400"
            }
            "tempo_receiver_refused_spans{receiver=\"tempo/otlp_receiver\",transport=\"grpc\"} 0" => {
                "tempo_receiver_refused_spans{receiver=\"tempo/otlp_receiver\",transport=\"grpc\"} 4"
            }
            other => other,
        };
        page.push_str(line);
        page.push('\n');
        if line == "tempo_distributor_spans_received_total{tenant=\"single-tenant\"} 150" {
            page.push_str("tempo_distributor_spans_received_total{tenant=\"team-b\"} 300\n");
        }
        if line.starts_with("tempo_discarded_spans_total{reason=\"live_traces_exceeded\"") {
            page.push_str(
                "tempo_discarded_spans_total{reason=\"rate_limited\",tenant=\"team-a\"} 4\n",
            );
        }
    }
    page
}

#[tokio::test]
async fn one_tenant_rate_limited_among_passing_tenants_degrades_the_distributor_and_is_named() {
    let s = poll_page("tempo", &multi_tenant_page()).await;
    let p = &s.pipelines[0];
    let distributor = p
        .stages
        .iter()
        .find(|st| st.stage == Stage::TempoDistributor)
        .unwrap();
    // 450 of 454 spans passed: 99.1 %, "ok" as a whole — but team-a gets nothing through.
    assert_eq!(
        (distributor.judged.success, distributor.judged.failure),
        (450.0, 4.0)
    );
    assert_eq!(
        distributor.status,
        StageStatus::Degraded,
        "{}",
        distributor.reason
    );
    assert!(
        distributor.reason.ends_with(
            "; tenant team-a failing: 0 of 4 spans succeeded in the last poll (4 rate_limited)"
        ),
        "{}",
        distributor.reason
    );
    let tenants: Vec<(&str, StageStatus)> = p
        .tenants
        .iter()
        .map(|t| (t.tenant.as_str(), t.status))
        .collect();
    assert_eq!(
        tenants,
        [
            ("single-tenant", StageStatus::Ok),
            ("team-a", StageStatus::Failing),
            ("team-b", StageStatus::Ok),
        ]
    );
    let causes: Vec<&str> = p.causes.iter().map(|d| d.cause.as_str()).collect();
    assert_eq!(causes, ["tenant_rate_limited"], "{:#?}", p.causes);
    assert!(p.causes[0].evidence[0].starts_with("tenant team-a failing:"));

    let metrics = common::metrics_text(&s);
    for line in [
        "spanflow_tenant_status{pipeline=\"default\",stage=\"tempo_distributor\",tenant=\"team-a\",status=\"failing\"} 1",
        "spanflow_tenant_status{pipeline=\"default\",stage=\"tempo_distributor\",tenant=\"team-b\",status=\"ok\"} 1",
        "spanflow_tenant_success_ratio{pipeline=\"default\",stage=\"tempo_distributor\",tenant=\"team-a\"} 0",
        "spanflow_tenant_success_ratio{pipeline=\"default\",stage=\"tempo_distributor\",tenant=\"team-b\"} 1",
        "spanflow_stage_status{pipeline=\"default\",stage=\"tempo_distributor\",status=\"degraded\"} 1",
    ] {
        assert!(metrics.contains(line), "{line}\n{metrics}");
    }
    let page = spanflow::serve::status_page::render(&s, "/metrics");
    assert!(page.contains("id=\"default/tenant-team-a\""), "{page}");
}

#[tokio::test]
async fn tenants_past_max_tenants_are_summed_as_other() {
    let server = PageServer::start().await;
    let mut poller = Poller::new(&format!(
        "poll_interval: 2s\nwindow: 1m\nmax_tenants: 3\ntargets:\n  - {{name: tempo, role: tempo, url: '{}/metrics', timeout: 1s}}\n",
        server.base
    ));
    // Constructed: ten tenants, t0 busiest; t9 rate limited.
    let mut page = String::from(
        "tempo_build_info{version=\"v2.7.2\"} 1\n# TYPE tempo_receiver_accepted_spans counter\ntempo_receiver_accepted_spans 550\n# TYPE tempo_receiver_refused_spans counter\ntempo_receiver_refused_spans 1\n# TYPE tempo_distributor_spans_received_total counter\n",
    );
    for i in 0..10 {
        page.push_str(&format!(
            "tempo_distributor_spans_received_total{{tenant=\"t{i}\"}} {}\n",
            100 - 10 * i
        ));
    }
    page.push_str("# TYPE tempo_discarded_spans_total counter\ntempo_discarded_spans_total{reason=\"rate_limited\",tenant=\"t9\"} 1\n");
    for k in 0..3 {
        server.set(scale_counters(&page, k), "text/plain; version=0.0.4");
        poller.poll().await;
    }
    let s = poller.poll().await;
    let tenants: Vec<&str> = s.pipelines[0]
        .tenants
        .iter()
        .map(|t| t.tenant.as_str())
        .collect();
    // The failing tenant first, then the busiest; the other eight summed.
    assert_eq!(tenants, ["other", "t0", "t9"]);
}

/// Tempo 3.x microservices, constructed from the families Tempo's source registers (no
/// published capture of a microservices Tempo exists): a live-store pod whose page alone
/// reads as monolithic, listed first, and a distributor pod that produces to Kafka. The
/// distributor's buffer fills (`reason="buffer-full"`), the live-store drops records too old
/// to keep (`reason="too_old"`), and the distributor discards spans for a reason no rule of
/// spanflow knows.
#[tokio::test]
async fn tempo_3_microservices_pods_read_as_one_pipeline_with_kafka_reasons() {
    let live_store = PageServer::start().await;
    let distributor = PageServer::start().await;
    let mut poller = Poller::new(&format!(
        "poll_interval: 2s\nwindow: 1m\ntargets:\n  - {{name: live-store, role: tempo, url: '{}/metrics', timeout: 1s}}\n  - {{name: distributor, role: tempo, url: '{}/metrics', timeout: 1s}}\n",
        live_store.base, distributor.base
    ));
    let mut s = None;
    for k in 0..3u32 {
        live_store.set(
            format!(
                "tempo_build_info{{version=\"v3.0.3\"}} 1\n\
                 tempo_live_store_traces_created_total{{tenant=\"single-tenant\"}} {}\n\
                 tempo_live_store_blocks_completed_total 0\n\
                 tempo_live_store_failed_completions_total 0\n\
                 tempo_live_store_kafka_records_processed_total{{tenant=\"single-tenant\"}} {}\n\
                 tempo_live_store_kafka_records_dropped_total{{tenant=\"single-tenant\",reason=\"too_old\"}} {}\n\
                 tempo_ingest_group_partition_lag_seconds{{group=\"live-store\",partition=\"0\"}} 412\n\
                 tempo_block_builder_flushed_blocks{{tenant=\"single-tenant\"}} {}\n",
                50 * k,
                90 * k,
                10 * k,
                k
            ),
            "text/plain; version=0.0.4",
        );
        distributor.set(
            format!(
                "tempo_build_info{{version=\"v3.0.3\"}} 1\n\
                 tempo_receiver_accepted_spans{{receiver=\"otlp/otlp_receiver\",transport=\"grpc\"}} {}\n\
                 tempo_receiver_refused_spans{{receiver=\"otlp/otlp_receiver\",transport=\"grpc\"}} {}\n\
                 tempo_distributor_spans_received_total{{tenant=\"single-tenant\"}} {}\n\
                 tempo_distributor_produce_records_total {}\n\
                 tempo_distributor_produce_failures_total{{reason=\"buffer-full\"}} {}\n\
                 tempo_distributor_produce_failures_total{{reason=\"timeout\"}} {}\n\
                 tempo_discarded_spans_total{{reason=\"newer_limit\",tenant=\"single-tenant\"}} {}\n",
                100 * k,
                30 * k,
                100 * k,
                100 * k,
                25 * k,
                5 * k,
                3 * k
            ),
            "text/plain; version=0.0.4",
        );
        s = Some(poller.poll().await);
    }
    let s = s.unwrap();
    let p = &s.pipelines[0];
    let stages: Vec<Stage> = p.stages.iter().map(|st| st.stage).collect();
    let modes: Vec<_> = p
        .targets
        .iter()
        .map(|t| (&t.name, &t.version, t.mode))
        .collect();
    assert_eq!(
        stages,
        [
            Stage::TempoDistributor,
            Stage::TempoKafka,
            Stage::TempoLiveStore,
            Stage::TempoStorage
        ],
        "{modes:?}"
    );
    assert_eq!(status(&s, Stage::TempoKafka), StageStatus::Degraded);
    let cause = |id: &str| {
        p.causes
            .iter()
            .find(|d| d.cause.as_str() == id)
            .unwrap_or_else(|| panic!("{id} in {:#?}", p.causes))
    };
    let kafka = cause("kafka_produce_failing");
    assert!(
        kafka.evidence[1].starts_with(
            "50 failed with reason=\"buffer-full\": the distributor's produce buffer is full"
        ),
        "{:#?}",
        kafka.evidence
    );
    assert!(kafka.evidence[2].starts_with("10 failed with reason=\"timeout\""));
    let drops = cause("live_store_dropping_records");
    assert_eq!(
        drops.evidence,
        [
            "20 of 200 Kafka records dropped by the live-store over the last 4 s",
            "20 dropped with reason=\"too_old\"",
            "the most a Kafka consumer group lags now: 412 s (tempo_ingest_group_partition_lag_seconds)",
        ]
    );
    let other = cause("tempo_discarding_other_reason");
    assert_eq!(
        other.evidence,
        ["6 spans discarded with reason=\"newer_limit\" over the last 4 s"]
    );
    // The block-builder's flushes are the storage stage's successes.
    let storage = p
        .stages
        .iter()
        .find(|st| st.stage == Stage::TempoStorage)
        .unwrap();
    assert_eq!(storage.judged.success, 2.0, "{}", storage.reason);
}
