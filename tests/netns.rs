//! Across a real network boundary: spanflow runs on a host of its own (a network namespace
//! joined by veth pairs, `common::netns`) and polls a Tempo (the 2.7.2 healthy capture,
//! extrapolated a page a poll) on the other side of a link the test controls:
//!
//! - a **partition** (the link down: packets dropped, no RST, no ICMP) makes the stage
//!   `unknown`, never `failing`; every poll ends at its timeout; `/metrics` answers within
//!   its budget over the other link; when the link is back, the stage is `ok` again within
//!   two polls;
//! - a **bandwidth limit** (`tc qdisc … tbf`) under which the 88 KB page takes longer than
//!   the timeout is a `timeout`, never a reading of part of the page;
//! - a target host whose **address changes** is followed through DNS (dnsmasq on the link).
//!
//! Needs root and iproute2 (CI has both); without them the tests fail, naming what is
//! missing. Everything made is removed on drop, also when a test fails.

mod common;

use std::time::{Duration, Instant};

use common::dnsmasq::Dnsmasq;
use common::netns::Host;
use common::{FixtureServer, Spanflow, assert_prompt, sample, stage_status};

const HEALTHY: &str = "fixtures/tempo-2.7.2/healthy";
const POLL: Duration = Duration::from_millis(500);
const TIMEOUT: Duration = Duration::from_millis(300);
/// What a poll may take beyond its timeout on a loaded machine (as in tests/faults.rs).
const POLL_SLACK: Duration = Duration::from_millis(350);

/// The fields are dropped in order: spanflow before its host.
struct Rig {
    spanflow: Spanflow,
    tempo: FixtureServer,
    host: Host,
}

/// spanflow polling `url` every 500 ms with `timeout`, with this `discovery` block if any.
fn yaml(url: &str, timeout: Duration, discovery: Option<&str>) -> String {
    let discovery = discovery.map_or(String::new(), |d| format!(", discovery: {d}"));
    format!(
        "poll_interval: {}ms\nwindow: 5s\nprobes: {{grpc_health: false}}\ntargets:\n  - {{name: tempo, role: tempo, url: '{url}', timeout: {}ms{discovery}}}\n",
        POLL.as_millis(),
        timeout.as_millis()
    )
}

async fn replaying_tempo_at(address: &str) -> FixtureServer {
    let tempo = FixtureServer::start_at(HEALTHY, &format!("{address}:0"))
        .await
        .unwrap();
    tempo.play_metrics(common::extrapolated_series(HEALTHY, 600));
    tempo
}

impl Rig {
    /// spanflow on its own host polling a Tempo across the data link, `timeout` a poll;
    /// waits until the distributor is `ok`.
    async fn start(timeout: Duration) -> Rig {
        let host = Host::new();
        let tempo = replaying_tempo_at(&host.data_address(1)).await;
        let spanflow = Spanflow::start_in_netns(
            &yaml(&tempo.base, timeout, None),
            &host.name,
            &host.management_listen(),
        )
        .await;
        let rig = Rig {
            spanflow,
            tempo,
            host,
        };
        rig.until("the distributor ok across the link", |p| stage(p) == "ok")
            .await;
        rig
    }

    async fn until(&self, what: &str, done: impl FnMut(&str) -> bool) -> (String, Vec<Duration>) {
        self.spanflow
            .metrics_until(what, Duration::from_secs(30), done)
            .await
    }
}

fn stage(page: &str) -> &'static str {
    stage_status(page, "tempo_distributor")
}

fn up(page: &str) -> Option<f64> {
    sample(page, "spanflow_target_up{target=\"tempo\",role=\"tempo\"}")
}

fn errors(page: &str, reason: &str) -> f64 {
    sample(
        page,
        &format!("spanflow_target_scrape_errors_total{{target=\"tempo\",reason=\"{reason}\"}}"),
    )
    .unwrap_or(0.0)
}

fn poll_seconds(page: &str) -> f64 {
    sample(
        page,
        "spanflow_target_scrape_duration_seconds{target=\"tempo\"}",
    )
    .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_is_unknown_and_heals_within_two_polls() {
    let rig = Rig::start(TIMEOUT).await;
    let before = rig.spanflow.metrics().await;
    rig.host.set_data_link(false);
    let (page, mut took) = rig
        .until("three polls timed out across the partition", |p| {
            assert_ne!(stage(p), "failing", "a partition is not a failure:\n{p}");
            errors(p, "timeout") >= errors(&before, "timeout") + 3.0
        })
        .await;
    assert_eq!(stage(&page), "unknown");
    assert_eq!(up(&page), Some(0.0));
    assert!(
        !page.contains(
            "spanflow_stage_success_ratio{pipeline=\"default\",stage=\"tempo_distributor\"}"
        ),
        "a ratio shown across the partition:\n{page}"
    );
    let poll = poll_seconds(&page);
    assert!(
        poll <= (TIMEOUT + POLL_SLACK).as_secs_f64(),
        "a poll took {poll} s across the partition, beyond its {TIMEOUT:?} timeout"
    );
    for reason in ["connect", "http_status", "parse", "too_large", "tls"] {
        assert_eq!(errors(&page, reason), errors(&before, reason), "{reason}");
    }

    // The link back: by the time Tempo has answered a third poll, two answered polls have
    // been judged and the stage must be `ok`.
    let healed_at = Instant::now();
    rig.host.set_data_link(true);
    let polls_since = || {
        rig.tempo
            .metrics_times()
            .iter()
            .filter(|t| **t > healed_at)
            .count()
    };
    let (_, more) = rig
        .until("the distributor ok after the partition", |p| {
            let answered = polls_since();
            assert!(
                stage(p) == "ok" || answered < 3,
                "{answered} polls answered since the link came back, the stage still {}:\n{p}",
                stage(p)
            );
            stage(p) == "ok" && up(p) == Some(1.0)
        })
        .await;
    eprintln!(
        "ok again {:?} after the link came back, {} polls answered by then",
        healed_at.elapsed(),
        polls_since()
    );
    took.extend(more);
    assert_prompt(&took, "a partition");
}

/// 88 KB through 200 kbit/s takes 3.5 s: every poll (1 s timeout) is cut as a `timeout`
/// and none is read as a page — no `parse` error, no ratio. Through 20 Mbit/s the page
/// takes 35 ms and the stage is `ok`: it is the limit, not the link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bandwidth_limit_slower_than_the_timeout_is_a_timeout() {
    let rig = Rig::start(Duration::from_millis(450)).await;
    rig.host.limit_bandwidth("20mbit");
    let (_, mut took) = rig
        .until("two seconds at 20 Mbit/s", {
            let until = Instant::now() + Duration::from_secs(2);
            move |p| {
                assert_eq!(stage(p), "ok", "20 Mbit/s is enough for a 450 ms timeout");
                Instant::now() > until
            }
        })
        .await;
    let before = rig.spanflow.metrics().await;
    rig.host.limit_bandwidth("200kbit");
    let (page, more) = rig
        .until("three polls cut by the bandwidth limit", |p| {
            assert_ne!(stage(p), "failing");
            errors(p, "timeout") >= errors(&before, "timeout") + 3.0
        })
        .await;
    took.extend(more);
    assert_eq!(stage(&page), "unknown");
    assert_eq!(errors(&page, "parse"), errors(&before, "parse"));
    assert!(!page.contains(
        "spanflow_stage_success_ratio{pipeline=\"default\",stage=\"tempo_distributor\"}"
    ));
    rig.host.unlimit_bandwidth();
    let (_, more) = rig
        .until("the distributor ok without the limit", |p| stage(p) == "ok")
        .await;
    took.extend(more);
    assert_prompt(&took, "a bandwidth limit");
}

/// Tempo's host gets a new address (its pod rescheduled): DNS, answered on the link, says
/// so, and spanflow polls the new address and drops the old one's series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_whose_address_changes_is_followed_through_dns() {
    let host = Host::new();
    let old_address = host.data_address(1);
    let tempo = replaying_tempo_at(&old_address).await;
    let port = tempo.base.rsplit(':').next().unwrap().to_owned();
    let dns = Dnsmasq::start_on(&old_address, &[]).await;
    dns.set_hosts("tempo", &format!("{old_address} tempo.spanflow.test\n"));
    let discovery = format!(
        "{{dns: {{refresh_interval: 1s, nameserver: '{}'}}}}",
        dns.nameserver()
    );
    let spanflow = Spanflow::start_in_netns(
        &yaml(
            &format!("http://tempo.spanflow.test:{port}"),
            TIMEOUT,
            Some(&discovery),
        ),
        &host.name,
        &host.management_listen(),
    )
    .await;
    let at = |address: &str| {
        format!(
            "spanflow_target_up{{target=\"tempo\",address=\"{address}:{port}\",role=\"tempo\"}}"
        )
    };
    let (_, mut took) = spanflow
        .metrics_until("ok at the old address", Duration::from_secs(30), |p| {
            stage(p) == "ok" && sample(p, &at(&old_address)) == Some(1.0)
        })
        .await;

    let new_address = host.add_data_address(7);
    let moved = FixtureServer::start_at(HEALTHY, &format!("{new_address}:{port}"))
        .await
        .unwrap();
    moved.play_metrics(common::extrapolated_series(HEALTHY, 600));
    dns.set_hosts("tempo", &format!("{new_address} tempo.spanflow.test\n"));
    drop(tempo);
    let moved_at = Instant::now();
    let (page, more) = spanflow
        .metrics_until("ok at the new address", Duration::from_secs(30), |p| {
            assert_ne!(stage(p), "failing", "a move is not a failure:\n{p}");
            stage(p) == "ok" && sample(p, &at(&new_address)) == Some(1.0)
        })
        .await;
    eprintln!("followed to the new address in {:?}", moved_at.elapsed());
    took.extend(more);
    assert_eq!(
        sample(&page, &at(&old_address)),
        None,
        "the old address's series stayed"
    );
    assert_prompt(&took, "an address change");
    drop(spanflow);
    drop(host);
}
