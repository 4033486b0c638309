//! Discovery against a real DNS server and a real file: Debian's `dnsmasq` on 127.0.0.1
//! (installed by `scripts/test.sh`; its absence fails the test) answering A and SRV records
//! that point at real HTTP servers replaying the Tempo 2.7.2 healthy capture; records and
//! files changed while spanflow runs.
//!
//! Three Tempo instances behind one A name need three addresses with one port: they listen
//! on 127.0.0.1, 127.0.0.2 and 127.0.0.3, all on the loopback interface (Linux answers the
//! whole 127.0.0.0/8 there); nothing leaves the machine. SRV instances share 127.0.0.1 and
//! differ by port.
//!
//! Time bounds: a change must be followed within one refresh interval plus two polls
//! (1 s + 2 × 0.5 s here); the tests allow 10 s more for a loaded machine and print what
//! they measured.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::FixtureServer;
use common::dnsmasq::Dnsmasq;
use spanflow::config::Config;
use spanflow::engine::Engine;
use spanflow::model::stage::{Stage, StageStatus};
use spanflow::snapshot::Snapshot;

const HEALTHY: &str = "fixtures/tempo-2.7.2/healthy";
/// One refresh interval plus two polls, and room for a loaded 2-core machine.
const FOLLOW_WITHIN: Duration = Duration::from_secs(12);

/// Three replay servers of the healthy capture on one port at 127.0.0.1, .2 and .3.
async fn three_on_one_port() -> (u16, Vec<FixtureServer>) {
    for _ in 0..20 {
        let port = common::free_port();
        let mut servers = Vec::new();
        for ip in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
            match FixtureServer::start_at(HEALTHY, &format!("{ip}:{port}")).await {
                Ok(s) => servers.push(s),
                Err(_) => break,
            }
        }
        if servers.len() == 3 {
            for s in &servers {
                s.play_metrics(common::extrapolated_series(HEALTHY, 600));
            }
            return (port, servers);
        }
    }
    panic!("no port free on 127.0.0.1, .2 and .3");
}

/// spanflow polling every 500 ms, probes off, one Tempo target `name` at `url` with this
/// `discovery:` block (flow-style YAML).
fn discovering(name: &str, url: &str, discovery: &str) -> Engine {
    spanflow::engine::start(config(name, url, discovery)).unwrap()
}

fn config(name: &str, url: &str, discovery: &str) -> Arc<Config> {
    let yaml = format!(
        "poll_interval: 500ms\nwindow: 10s\nprobes: {{grpc_health: false}}\ntargets:\n  - name: {name}\n    role: tempo\n    url: {url}\n    discovery: {discovery}\n"
    );
    Arc::new(Config::from_yaml(&yaml, "discovery.yml").unwrap())
}

/// Waits until `done` holds of the snapshot, checking every 50 ms that `always` does too;
/// returns the snapshot and how long it took.
async fn until(
    engine: &Engine,
    what: &str,
    done: impl Fn(&Snapshot) -> bool,
    always: impl Fn(&Snapshot) -> Result<(), String>,
) -> (Arc<Snapshot>, Duration) {
    let from = Instant::now();
    loop {
        let s = engine.snapshot.load_full();
        if let Err(e) = always(&s) {
            panic!("while waiting for {what}: {e}");
        }
        if done(&s) {
            return (s, from.elapsed());
        }
        assert!(
            from.elapsed() < FOLLOW_WITHIN + Duration::from_secs(8),
            "{what}: not within {FOLLOW_WITHIN:?}; last snapshot: {:#?}",
            s.pipelines[0].stages
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn addresses(s: &Snapshot) -> Vec<String> {
    s.pipelines[0]
        .targets
        .iter()
        .map(|t| t.address.clone())
        .collect()
}

fn all_up(s: &Snapshot, n: usize) -> bool {
    let t = &s.pipelines[0].targets;
    t.len() == n && t.iter().all(|t| t.up)
}

/// Every instance up, the distributor ok and judged on all of them (none left out yet: a
/// new instance is judged from its second poll).
fn judged_ok(s: &Snapshot, n: usize) -> bool {
    all_up(s, n)
        && status(s, Stage::TempoDistributor) == Some(StageStatus::Ok)
        && !s.pipelines[0].stages[0].reason.contains("left out")
}

fn status(s: &Snapshot, stage: Stage) -> Option<StageStatus> {
    s.pipelines[0]
        .stages
        .iter()
        .find(|r| r.stage == stage)
        .map(|r| r.status)
}

/// Once judged, the distributor stays ok: an instance leaving or joining is neither a drop
/// nor a failure.
fn stays_ok(s: &Snapshot) -> Result<(), String> {
    match status(s, Stage::TempoDistributor) {
        Some(StageStatus::Ok) => Ok(()),
        other => Err(format!(
            "tempo_distributor {other:?}: {}",
            s.pipelines[0].stages[0].reason
        )),
    }
}

fn anything(_: &Snapshot) -> Result<(), String> {
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_records_are_three_instances_of_one_pipeline_and_are_followed_as_they_come_and_go() {
    let (port, _servers) = three_on_one_port().await;
    let dns = Dnsmasq::start(&[]).await;
    let all = "127.0.0.1 tempo.spanflow.test\n127.0.0.2 tempo.spanflow.test\n127.0.0.3 tempo.spanflow.test\n";
    dns.set_hosts("tempo", all);
    let engine = discovering(
        "distributor",
        &format!("http://tempo.spanflow.test:{port}"),
        &format!(
            "{{dns: {{type: A, refresh_interval: 1s, nameserver: '{}'}}}}",
            dns.nameserver()
        ),
    );
    let (s, took) = until(
        &engine,
        "three instances judged ok",
        |s| judged_ok(s, 3),
        anything,
    )
    .await;
    eprintln!("three instances judged ok after {took:?}");
    let want: Vec<String> = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
        .iter()
        .map(|ip| format!("{ip}:{port}"))
        .collect();
    assert_eq!(addresses(&s), want);
    assert_eq!(s.pipelines.len(), 1);
    assert_eq!(s.discovery[0].instances, 3);
    assert_eq!(s.discovery[0].last_error, None);
    assert!(s.pipelines[0].targets.iter().all(|t| t.discovered));
    // The three instances' counters sum into the stage: three times one replay's rate.
    let rate = s.pipelines[0].stages[0].success_per_second.unwrap();
    assert!(rate > 0.0);

    // One instance leaves DNS: followed, and the stage never looks worse for it.
    dns.set_hosts(
        "tempo",
        "127.0.0.1 tempo.spanflow.test\n127.0.0.2 tempo.spanflow.test\n",
    );
    let (s, took) = until(&engine, "127.0.0.3 gone", |s| all_up(s, 2), stays_ok).await;
    eprintln!("an instance removed from DNS left the snapshot after {took:?}");
    assert!(took < FOLLOW_WITHIN, "{took:?}");
    assert_eq!(addresses(&s), want[..2]);
    assert_eq!(s.discovery[0].instances, 2);
    let metrics = common::metrics_text(&s);
    assert!(!metrics.contains(&want[2]), "{metrics}");
    assert_eq!(
        common::sample(
            &metrics,
            "spanflow_discovery_instances{pipeline=\"default\",target=\"distributor\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        common::sample(
            &metrics,
            &format!(
                "spanflow_target_up{{pipeline=\"default\",target=\"distributor\",address=\"{}\",role=\"tempo\"}}",
                want[1]
            )
        ),
        Some(1.0)
    );

    // It comes back: judged from its second poll, the stage ok all along.
    dns.set_hosts("tempo", all);
    let (_, took) = until(&engine, "127.0.0.3 back", |s| all_up(s, 3), stays_ok).await;
    eprintln!("an instance added to DNS was polled after {took:?}");
    assert!(took < FOLLOW_WITHIN, "{took:?}");
    let (s, _) = until(
        &engine,
        "127.0.0.3 judged",
        |s| !s.pipelines[0].stages[0].reason.contains("left out"),
        stays_ok,
    )
    .await;
    assert_eq!(s.discovery[0].errors_total["nxdomain"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srv_records_give_each_instance_its_port_and_a_dead_nameserver_keeps_the_list() {
    let mut servers = Vec::new();
    for _ in 0..3 {
        let s = FixtureServer::start(HEALTHY).await;
        s.play_metrics(common::extrapolated_series(HEALTHY, 600));
        servers.push(s);
    }
    let ports: Vec<u16> = servers
        .iter()
        .map(|s| s.base.rsplit(':').next().unwrap().parse().unwrap())
        .collect();
    let records = |n: usize| -> Vec<String> {
        (0..n)
            .map(|i| {
                format!(
                    "_http._tcp.tempo.spanflow.test,i{i}.spanflow.test,{}",
                    ports[i]
                )
            })
            .collect()
    };
    let mut dns = Dnsmasq::start(&records(3)).await;
    dns.set_hosts(
        "instances",
        "127.0.0.1 i0.spanflow.test\n127.0.0.1 i1.spanflow.test\n127.0.0.1 i2.spanflow.test\n",
    );
    let engine = discovering(
        "ingesters",
        "http://unused.spanflow.test:1",
        &format!(
            "{{dns: {{type: SRV, name: _http._tcp.tempo.spanflow.test, refresh_interval: 1s, nameserver: '{}'}}}}",
            dns.nameserver()
        ),
    );
    let (s, _) = until(
        &engine,
        "three SRV instances judged ok",
        |s| judged_ok(s, 3),
        anything,
    )
    .await;
    let mut want: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    want.sort();
    assert_eq!(addresses(&s), want);

    // The nameserver dies: refreshes fail, the three instances stay and are still judged.
    dns.stop().await;
    let (s, took) = until(
        &engine,
        "a failed refresh counted",
        |s| {
            let e = &s.discovery[0].errors_total;
            e["timeout"] + e["dns"] > 0
        },
        |s| {
            if all_up(s, 3) {
                stays_ok(s)
            } else {
                Err(format!("instances dropped: {:?}", addresses(s)))
            }
        },
    )
    .await;
    eprintln!("a refresh against the dead nameserver failed after {took:?}");
    let error = s.discovery[0].last_error.clone().unwrap();
    assert!(error.contains("_http._tcp.tempo.spanflow.test."), "{error}");
    assert_eq!(s.discovery[0].instances, 3);

    // It comes back with two good records and one naming a host that does not resolve:
    // the two are followed, the third is named in the error.
    let mut two_and_a_bad_one = records(2);
    two_and_a_bad_one.push("_http._tcp.tempo.spanflow.test,gone.spanflow.test,9".into());
    dns.spawn(&two_and_a_bad_one).await;
    let (s, took) = until(&engine, "one SRV record gone", |s| all_up(s, 2), stays_ok).await;
    eprintln!("an SRV record removed was followed after {took:?}");
    let mut want: Vec<String> = ports[..2]
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    want.sort();
    assert_eq!(addresses(&s), want);
    assert_eq!(
        s.discovery[0].last_error.as_deref(),
        Some("gone.spanflow.test.: no such name (NXDOMAIN)")
    );
    assert!(s.discovery[0].errors_total["nxdomain"] > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_does_not_exist_is_no_instance_and_an_unknown_stage_with_the_error() {
    let dns = Dnsmasq::start(&[]).await;
    let engine = discovering(
        "distributor",
        "http://nope.spanflow.test:3200",
        &format!(
            "{{dns: {{refresh_interval: 1s, nameserver: '{}'}}}}",
            dns.nameserver()
        ),
    );
    let (s, _) = until(
        &engine,
        "NXDOMAIN reported",
        |s| s.discovery[0].errors_total["nxdomain"] > 0,
        anything,
    )
    .await;
    assert_eq!(s.discovery[0].instances, 0);
    assert_eq!(
        s.discovery[0].last_error.as_deref(),
        Some("nope.spanflow.test.: no such name (NXDOMAIN)")
    );
    let stage = &s.pipelines[0].stages[0];
    assert_eq!(stage.stage, Stage::TempoDistributor);
    assert_eq!(stage.status, StageStatus::Unknown);
    assert_eq!(
        stage.reason,
        "target distributor: no instances discovered: nope.spanflow.test.: no such name (NXDOMAIN)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_sd_list_is_followed_when_it_changes_and_a_broken_file_keeps_the_last_list() {
    let a = FixtureServer::start(HEALTHY).await;
    let b = FixtureServer::start(HEALTHY).await;
    for s in [&a, &b] {
        s.play_metrics(common::extrapolated_series(HEALTHY, 600));
    }
    let host = |s: &FixtureServer| s.base.trim_start_matches("http://").to_owned();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tempos.json");
    let write = |body: String| {
        let staged = dir.path().join("staged");
        std::fs::write(&staged, body).unwrap();
        std::fs::rename(&staged, &file).unwrap();
    };
    write(format!(
        r#"[{{"targets": ["{}", "{}"], "labels": {{"zone": "a"}}}}]"#,
        host(&a),
        host(&b)
    ));
    // A long refresh interval: the change itself must be noticed.
    let engine = discovering(
        "tempos",
        "http://placeholder:3200",
        &format!(
            "{{file: {{path: '{}', refresh_interval: 5m}}}}",
            file.display()
        ),
    );
    until(
        &engine,
        "two file_sd instances judged ok",
        |s| judged_ok(s, 2),
        anything,
    )
    .await;
    write(format!(r#"[{{"targets": ["{}"]}}]"#, host(&a)));
    let (s, took) = until(&engine, "the file's change", |s| all_up(s, 1), stays_ok).await;
    eprintln!("a file_sd change was followed after {took:?}");
    assert_eq!(addresses(&s), [host(&a)]);

    write("[{\"targets\": [".into());
    let (s, _) = until(
        &engine,
        "the broken file reported",
        |s| s.discovery[0].errors_total["file_parse"] > 0,
        stays_ok,
    )
    .await;
    assert_eq!(addresses(&s), [host(&a)], "the last good list is kept");
    let error = s.discovery[0].last_error.clone().unwrap();
    assert!(error.starts_with(&file.display().to_string()), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_discovered_instances_their_history_and_their_timeline() {
    let a = FixtureServer::start(HEALTHY).await;
    a.play_metrics(common::extrapolated_series(HEALTHY, 600));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tempos.json");
    let address = a.base.trim_start_matches("http://").to_owned();
    std::fs::write(&file, format!(r#"[{{"targets": ["{address}"]}}]"#)).unwrap();
    let discovery = format!(
        "{{file: {{path: '{}', refresh_interval: 5m}}}}",
        file.display()
    );
    let engine = discovering("tempos", "http://placeholder:3200", &discovery);
    let (before, _) = until(&engine, "judged ok", |s| judged_ok(s, 1), anything).await;
    let since = before.pipelines[0].stages[0].since_unix;
    let events = before.events.len();

    // The same configuration again, as a SIGHUP does: the new engine takes the old one's
    // history; the stage stays ok and keeps its since-time, with no new status change.
    let shared = engine.snapshot.clone();
    let again =
        spanflow::engine::prepare(config("tempos", "http://placeholder:3200", &discovery)).unwrap();
    let carried = engine.stop().await;
    let engine = again.start(shared, carried);
    let (after, _) = until(
        &engine,
        "a snapshot of the new engine",
        |s| s.generated_unix > before.generated_unix && all_up(s, 1),
        stays_ok,
    )
    .await;
    assert_eq!(after.pipelines[0].stages[0].since_unix, since);
    assert_eq!(after.events.len(), events, "{:?}", after.events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_instance_is_verified_against_the_name_it_was_found_by() {
    // A certificate for the DNS name only; the instance is reached at its address.
    let cert = rcgen::generate_simple_self_signed(vec!["tempo.spanflow.test".to_owned()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    let page = common::read_testdata(&format!("{HEALTHY}/metrics.txt"));
    let (port, _server) = common::https_server(&cert_pem, &key_pem, page).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("tempo.crt");
    std::fs::write(&ca, &cert_pem).unwrap();
    let dns = Dnsmasq::start(&[]).await;
    dns.set_hosts("tempo", "127.0.0.1 tempo.spanflow.test\n");
    let yaml = format!(
        "poll_interval: 500ms\nwindow: 10s\nprobes: {{grpc_health: false}}\ntargets:\n  - name: tempo\n    role: tempo\n    url: https://tempo.spanflow.test:{port}\n    tls: {{ca_file: '{}'}}\n    discovery: {{dns: {{refresh_interval: 1s, nameserver: '{}'}}}}\n",
        ca.display(),
        dns.nameserver()
    );
    let engine =
        spanflow::engine::start(Arc::new(Config::from_yaml(&yaml, "https.yml").unwrap())).unwrap();
    let (s, _) = until(&engine, "the https instance up", |s| all_up(s, 1), anything).await;
    let target = &s.pipelines[0].targets[0];
    assert_eq!(target.address, format!("127.0.0.1:{port}"));
    assert!(
        target.url.starts_with("https://tempo.spanflow.test:"),
        "{}",
        target.url
    );
}
