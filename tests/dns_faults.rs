//! The DNS fault table: the spanflow binary discovers a Tempo (the 2.7.2 healthy capture,
//! served on 127.0.0.1) through a real DNS server (dnsmasq on 127.0.0.1, every answer with a
//! TTL of 0), and the DNS server misbehaves. For every fault: `/metrics` keeps answering
//! within its budget, the error is counted under its named reason, the series of the
//! instances are exactly the instances discovered (none left behind by one that went), and
//! the last good list is kept where `source::discovery` says it is (a nameserver that fails
//! or times out, SRV targets none of which resolve) and dropped where the name is gone
//! (NXDOMAIN: the stage turns `unknown`, never `failing`).
//!
//! SERVFAIL comes from dnsmasq forwarding the name to an upstream that fails: a UDP socket
//! in this test answering every question with SERVFAIL, the one constructed part here.

mod common;

use std::time::Duration;

use common::dnsmasq::Dnsmasq;
use common::{FixtureServer, Spanflow, assert_prompt, sample};

const HEALTHY: &str = "fixtures/tempo-2.7.2/healthy";
const NAME: &str = "tempo.spanflow.test";
/// A refresh every second, a poll every 500 ms; a fault shows within a few refreshes, on a
/// loaded machine within this.
const LIMIT: Duration = Duration::from_secs(20);

/// A Tempo discovered by `discovery` (flow-style YAML) through `dns`, polled by spanflow.
struct Rig {
    dns: Dnsmasq,
    _tempo: FixtureServer,
    spanflow: Spanflow,
}

impl Rig {
    /// An A-record discovery of [`NAME`], which names the Tempo at 127.0.0.1, with at most
    /// `max_instances`; waits until that instance's distributor is `ok`.
    async fn a_record(max_instances: usize) -> Rig {
        let dns = Dnsmasq::start(&[]).await;
        dns.set_hosts("tempo", &format!("127.0.0.1 {NAME}\n"));
        let discovery = format!(
            "{{dns: {{refresh_interval: 1s, nameserver: '{}'}}, max_instances: {max_instances}}}",
            dns.nameserver()
        );
        let tempo = replaying_tempo().await;
        let url = format!("http://{NAME}:{}", tempo_port(&tempo));
        Rig::start(dns, tempo, &url, &discovery).await
    }

    async fn start(dns: Dnsmasq, tempo: FixtureServer, url: &str, discovery: &str) -> Rig {
        let yaml = format!(
            "poll_interval: 500ms\nwindow: 5s\nprobes: {{grpc_health: false}}\ntargets:\n  - name: tempo\n    role: tempo\n    url: '{url}'\n    timeout: 300ms\n    discovery: {discovery}\n"
        );
        let spanflow = Spanflow::start(&yaml, &[], std::process::Stdio::null()).await;
        let rig = Rig {
            dns,
            _tempo: tempo,
            spanflow,
        };
        rig.until("the discovered distributor ok", |p| {
            stage(p) == "ok" && instances(p) == 1.0
        })
        .await;
        rig
    }

    /// Reads `/metrics` until `done`; on every page the instances' series are exactly the
    /// instances and the stage is never `failing`.
    async fn until(
        &self,
        what: &str,
        mut done: impl FnMut(&str) -> bool,
    ) -> (String, Vec<Duration>) {
        self.spanflow
            .metrics_until(what, LIMIT, |page| {
                assert_eq!(
                    target_series(page),
                    instances(page),
                    "{what}: the target series are not the instances:\n{page}"
                );
                assert_ne!(
                    stage(page),
                    "failing",
                    "{what}: a DNS fault is not a failure"
                );
                done(page)
            })
            .await
    }

    /// Watches `/metrics` for `how_long`, with the checks of [`Rig::until`].
    async fn watch(&self, what: &str, how_long: Duration) -> (String, Vec<Duration>) {
        let until = std::time::Instant::now() + how_long;
        self.until(what, move |_| std::time::Instant::now() > until)
            .await
    }

    /// Waits for two refreshes failed as `dns`, checks the one instance is kept and still
    /// `ok`, and returns the error shown and the answers' times.
    async fn two_failed_refreshes_keep_the_list(&self, what: &str) -> (String, Vec<Duration>) {
        let (page, took) = self
            .until(&format!("two refreshes failed: {what}"), |p| {
                errors(p, "dns") >= 2.0
            })
            .await;
        assert_eq!(instances(&page), 1.0, "{what}: the last good list is kept");
        assert_eq!(stage(&page), "ok", "{what}");
        (self.last_error().await, took)
    }

    async fn last_error(&self) -> String {
        self.spanflow.status().await["discovery"][0]["last_error"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

async fn replaying_tempo() -> FixtureServer {
    let tempo = FixtureServer::start(HEALTHY).await;
    tempo.play_metrics(common::extrapolated_series(HEALTHY, 600));
    tempo
}

fn tempo_port(tempo: &FixtureServer) -> u16 {
    tempo.base.rsplit(':').next().unwrap().parse().unwrap()
}

fn instances(page: &str) -> f64 {
    sample(page, "spanflow_discovery_instances{target=\"tempo\"}").unwrap_or(-1.0)
}

fn errors(page: &str, reason: &str) -> f64 {
    sample(
        page,
        &format!("spanflow_discovery_errors_total{{target=\"tempo\",reason=\"{reason}\"}}"),
    )
    .unwrap_or(0.0)
}

/// How many instances have series: one `spanflow_target_up` each.
fn target_series(page: &str) -> f64 {
    page.lines()
        .filter(|l| l.starts_with("spanflow_target_up{"))
        .count() as f64
}

fn stage(page: &str) -> &'static str {
    common::stage_status(page, "tempo_distributor")
}

/// A nameserver that answers every question with SERVFAIL, on 127.0.0.1 over UDP.
async fn servfail_upstream() -> u16 {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            if n < 12 {
                continue;
            }
            let mut answer = buf[..n].to_vec();
            answer[2] |= 0x80; // QR: a response
            answer[3] = (answer[3] & 0xf0) | 2; // RCODE 2: SERVFAIL
            answer[6..12].fill(0); // no answer, authority or additional records
            let _ = socket.send_to(&answer, from).await;
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nameserver_keeps_the_last_list_and_its_polls() {
    let mut rig = Rig::a_record(50).await;
    rig.dns.stop().await;
    let (page, mut took) = rig
        .until("two timed-out refreshes", |p| errors(p, "timeout") >= 2.0)
        .await;
    assert_eq!(instances(&page), 1.0, "the last good list is kept");
    assert_eq!(stage(&page), "ok", "the kept instance is still polled");
    assert!(rig.last_error().await.contains("did not answer in time"));
    rig.dns.spawn(&[]).await;
    let (page, more) = rig
        .watch("the nameserver back", Duration::from_secs(3))
        .await;
    took.extend(more);
    let (_, more) = rig.watch("no more timeouts", Duration::from_secs(3)).await;
    let after = rig.spanflow.metrics().await;
    assert!(
        errors(&after, "timeout") <= errors(&page, "timeout") + 1.0,
        "refreshes still time out with the nameserver back"
    );
    took.extend(more);
    assert_prompt(&took, "a dead nameserver");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servfail_keeps_the_last_list() {
    let mut rig = Rig::a_record(50).await;
    let upstream = servfail_upstream().await;
    std::fs::remove_file(rig.dns.hosts().join("tempo")).unwrap();
    rig.dns
        .spawn_with(&[], &[format!("--server=/{NAME}/127.0.0.1#{upstream}")])
        .await;
    let (error, took) = rig.two_failed_refreshes_keep_the_list("SERVFAIL").await;
    assert!(error.starts_with(&format!("{NAME}.: ")), "{error}");
    assert!(error.ends_with("error response: Server Failure"), "{error}");
    let page = rig.spanflow.metrics().await;
    assert_eq!(errors(&page, "nxdomain") + errors(&page, "empty"), 0.0);
    assert_prompt(&took, "SERVFAIL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nxdomain_is_no_instance_and_an_unknown_stage() {
    let rig = Rig::a_record(50).await;
    std::fs::remove_file(rig.dns.hosts().join("tempo")).unwrap();
    let (page, took) = rig
        .until("the name gone", |p| {
            errors(p, "nxdomain") >= 1.0 && instances(p) == 0.0
        })
        .await;
    assert_eq!(stage(&page), "unknown");
    assert_eq!(
        target_series(&page),
        0.0,
        "the gone instance's series are gone"
    );
    assert_eq!(
        rig.last_error().await,
        format!("{NAME}.: no such name (NXDOMAIN)")
    );
    rig.dns.set_hosts("tempo", &format!("127.0.0.1 {NAME}\n"));
    let (_, more) = rig
        .until("the name back", |p| stage(p) == "ok" && instances(p) == 1.0)
        .await;
    assert_prompt(&[took, more].concat(), "NXDOMAIN");
}

/// A hosts file of `count` addresses for [`NAME`]: 127.0.0.1 (the Tempo) and the rest in
/// 127.1.0.0/16, where nothing listens.
fn many_addresses(count: u32) -> String {
    let mut hosts = format!("127.0.0.1 {NAME}\n");
    for i in 1..count {
        hosts.push_str(&format!("127.1.{}.{} {NAME}\n", i >> 8, i & 0xff));
    }
    hosts
}

/// Four thousand addresses for one name (too many for UDP; one TCP message holds them):
/// spanflow keeps the first `max_instances` by address, names the cut, and polls 50
/// instances, not thousands. Memory after ten more such answers stays within 8 MiB of
/// where it was after the first eight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_thousand_records_are_cut_at_max_instances() {
    let rig = Rig::a_record(50).await;
    rig.dns.set_hosts("tempo", &many_addresses(4000));
    let (page, mut took) = rig
        .until("the answer cut", |p| {
            errors(p, "too_many") >= 8.0 && instances(p) == 50.0
        })
        .await;
    assert_eq!(target_series(&page), 50.0);
    assert_eq!(
        rig.last_error().await,
        "4000 instances found, more than max_instances (50): the first 50 by address are polled"
    );
    let warm = rig.spanflow.rss_kib();
    let (page, more) = rig
        .until("ten more cut refreshes", |p| errors(p, "too_many") >= 18.0)
        .await;
    took.extend(more);
    let after = rig.spanflow.rss_kib();
    eprintln!("RSS {warm} KiB after 8 answers of 4,000 records, {after} KiB after 18");
    // Each refresh makes 4,000 instances and drops all but 50; glibc's arenas keep some of
    // that transient memory (+4.5 MiB over 10 answers after only 3 of warm-up in one CI
    // run, −3.8 MiB in another). Instances kept from every answer would add 4,000 a time.
    assert!(
        after < warm + 8 * 1024,
        "RSS grew from {warm} KiB to {after} KiB over 10 answers of 4,000 records"
    );
    assert_eq!(instances(&page), 50.0);
    assert_prompt(&took, "4,000 records");
}

/// Ten thousand addresses for one name do not fit one DNS message even over TCP: dnsmasq
/// sends the 4,093 that fit and marks the answer truncated. What was cut is unknown, so
/// spanflow uses none of it: the refresh fails (`dns`, with what to do instead) and the last
/// good list stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_records_are_a_truncated_answer_and_keep_the_last_list() {
    let rig = Rig::a_record(50).await;
    rig.dns.set_hosts("tempo", &many_addresses(10_000));
    let (page, took) = rig
        .until("two truncated answers", |p| errors(p, "dns") >= 2.0)
        .await;
    assert_eq!(instances(&page), 1.0, "the last good list is kept");
    assert_eq!(stage(&page), "ok");
    assert_eq!(errors(&page, "too_many"), 0.0);
    let error = rig.last_error().await;
    assert!(
        error.starts_with(&format!("{NAME}.: the answer was truncated even over TCP")),
        "{error}"
    );
    assert_prompt(&took, "10,000 records");
}

/// The list changes at every refresh (one instance, then three, then one…): every page's
/// series are the instances of that moment, none is left from the ones that went, and the
/// instance that stays is judged `ok` throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_flapping_every_refresh_leave_no_series_behind() {
    let rig = Rig::a_record(50).await;
    let one = format!("127.0.0.1 {NAME}\n");
    let three = format!("127.0.0.1 {NAME}\n127.0.0.2 {NAME}\n127.0.0.3 {NAME}\n");
    let flapping = {
        let hosts = rig.dns.hosts();
        tokio::spawn(async move {
            for i in 0..12 {
                let text = if i % 2 == 0 { &three } else { &one };
                let staged = hosts.with_extension(format!("new{i}"));
                std::fs::write(&staged, text).unwrap();
                std::fs::rename(&staged, hosts.join("tempo")).unwrap();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let mut seen = std::collections::BTreeSet::new();
    let (_, took) = rig
        .until("twelve seconds of flapping records", |p| {
            seen.insert(instances(p) as u32);
            flapping.is_finished()
        })
        .await;
    assert!(
        seen.contains(&1) && seen.contains(&3),
        "the list never flapped: {seen:?}"
    );
    let (page, _) = rig
        .until("the list settled", |p| {
            instances(p) == 1.0 && stage(p) == "ok"
        })
        .await;
    assert_eq!(target_series(&page), 1.0);
    assert_prompt(&took, "flapping records");
}

/// Answers with a TTL of 0 are asked again at every refresh — and no more often: a TTL of 0
/// neither freezes the list nor makes spanflow spin on the nameserver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_zero_answers_are_asked_once_a_refresh() {
    let rig = Rig::a_record(50).await;
    let before = rig.dns.queries("A", NAME);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let asked = rig.dns.queries("A", NAME) - before;
    eprintln!("{asked} A questions in 5 s at a 1 s refresh");
    assert!(
        (3..=7).contains(&asked),
        "{asked} questions in 5 s with a 1 s refresh"
    );
    rig.dns
        .set_hosts("tempo", &format!("127.0.0.2 {NAME}\n127.0.0.1 {NAME}\n"));
    rig.until("the new record followed at once", |p| instances(p) == 2.0)
        .await;
}

/// SRV records whose targets resolve to nothing: with none resolving the refresh fails and
/// the last good list is kept; the error names the SRV name and the cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srv_records_to_names_that_do_not_resolve_keep_the_last_list() {
    let srv_name = "_http._tcp.tempo.spanflow.test";
    let tempo = replaying_tempo().await;
    let port = tempo_port(&tempo);
    let dns = Dnsmasq::start(&[format!("{srv_name},i0.spanflow.test,{port}")]).await;
    dns.set_hosts("i0", "127.0.0.1 i0.spanflow.test\n");
    let discovery = format!(
        "{{dns: {{type: SRV, name: {srv_name}, refresh_interval: 1s, nameserver: '{}'}}}}",
        dns.nameserver()
    );
    let mut rig = Rig::start(dns, tempo, "http://unused.spanflow.test:1", &discovery).await;
    rig.dns
        .spawn(&[
            format!("{srv_name},gone-1.spanflow.test,{port}"),
            format!("{srv_name},gone-2.spanflow.test,{port}"),
        ])
        .await;
    let (error, took) = rig
        .two_failed_refreshes_keep_the_list("no SRV target resolving")
        .await;
    assert!(
        error.starts_with(&format!("{srv_name}.: no SRV target resolves (gone-")),
        "{error}"
    );
    assert_prompt(&took, "SRV to unresolvable names");
}
