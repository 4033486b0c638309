//! The fault table: spanflow (the real binary) polls a real Tempo capture served on
//! 127.0.0.1 through a fault-injecting proxy, and each fault is switched on after the
//! distributor stage was seen `ok`. For every fault: `/metrics` keeps answering promptly
//! (judged from the moment the fault is on by [`assert_prompt`]), the stage goes `unknown`
//! (never `failing`), the right
//! `spanflow_target_scrape_errors_total` reason counts up, the stage's ratio and rates
//! vanish instead of showing the last good values, no poll outlives its timeout, and the
//! stage comes back `ok` when the fault ends. The proxy also gives what tc cannot here
//! (netem is missing from this kernel): delay, resets and lost answers; the partition and
//! the bandwidth limit are in `tests/netns.rs`. Restart (counters reset) is not a fault: it
//! must produce no error, no negative rate and no `failing`.

mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{FixtureServer, Spanflow, TEMPO_CONTENT_TYPE, extrapolated_series, sample};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CAPTURE: &str = "fixtures/tempo-2.7.2/healthy";

/// The target's timeout in the config below; a poll must end within it plus scheduling.
const TARGET_TIMEOUT: Duration = Duration::from_millis(300);

/// What a poll may take beyond its timeout on a loaded machine. A poll that gave the
/// status endpoints or the probes their own full timeouts would take three times the
/// timeout (900 ms); 300 + 350 ms still tells that apart from scheduling delays.
const POLL_SLACK: Duration = Duration::from_millis(350);

/// `/metrics` answered promptly over `views` ([`common::assert_prompt`]).
fn assert_prompt(views: &[View], what: &str) {
    let took: Vec<Duration> = views.iter().map(|v| v.took).collect();
    common::assert_prompt(&took, what);
}

const BODY_SIZE_LIMIT: u64 = 4 << 20;

/// What the proxy does to requests for `/metrics` (other paths are always passed on).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// Nothing listens on the port.
    Refuse,
    /// Accepts, reads the request, never answers.
    Hang,
    /// Sends the headers and half the body, then nothing.
    StallMidBody,
    /// Sends the answer one byte every 20 ms, headers included.
    SlowLoris,
    Status(u16),
    /// A chunked body that never ends.
    Endless,
    /// 4 KiB of bytes that are not an exposition.
    Garbage,
    /// The page cut in the middle of a line, with a Content-Length that says so.
    TruncatedMidLine,
    /// Content-Length of the whole page, 60 % of it sent, then the connection closed.
    ClosedMidBody,
    /// Every other request answers 503.
    Flap,
    /// The accepted-spans series twice.
    Duplicate,
    /// The accepted-spans counter with this value.
    Counter(&'static str),
    /// The whole answer, after this long: a slow network or an overloaded target.
    Delay(Duration),
    /// The request read, then the connection reset (RST): a middlebox or a crashing peer.
    Reset,
    /// One answer in three never arrives, as when a link drops packets past retransmission.
    Loss,
}

/// A proxy in front of a [`FixtureServer`] that applies [`Fault`]s to `/metrics`; every
/// answer closes its connection, so each poll meets the current fault.
struct FaultProxy {
    port: u16,
    upstream: String,
    fault: Mutex<Fault>,
    /// `/metrics` requests seen, for [`Fault::Flap`].
    requests: AtomicUsize,
    /// Bytes of the largest endless body sent on one connection before the peer hung up.
    endless_sent_max: AtomicU64,
    endless_hangups: AtomicUsize,
}

impl FaultProxy {
    async fn start(upstream: String) -> Arc<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Arc::new(FaultProxy {
            port: listener.local_addr().unwrap().port(),
            upstream,
            fault: Mutex::new(Fault::None),
            requests: AtomicUsize::new(0),
            endless_sent_max: AtomicU64::new(0),
            endless_hangups: AtomicUsize::new(0),
        });
        tokio::spawn(proxy.clone().accept_loop(listener));
        proxy
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    fn fault(&self) -> Fault {
        *self.fault.lock().unwrap()
    }

    /// Accepts until the fault is [`Fault::Refuse`], then closes the port until it is not.
    async fn accept_loop(self: Arc<Self>, mut listener: TcpListener) {
        loop {
            if self.fault() == Fault::Refuse {
                drop(listener);
                while self.fault() == Fault::Refuse {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
            }
            let accepted = tokio::time::timeout(Duration::from_millis(50), listener.accept()).await;
            if let Ok(Ok((stream, _))) = accepted {
                tokio::spawn(self.clone().serve(stream));
            }
        }
    }

    /// Answers one connection under the current fault. One match arm per fault, each a few
    /// lines: the whole table of faults reads in one place, which is why this is long.
    async fn serve(self: Arc<Self>, mut stream: TcpStream) {
        let Some((path, accept)) = read_request(&mut stream).await else {
            return;
        };
        let (status, content_type, body) = self.fetch_upstream(&path, &accept).await;
        let mut fault = if path == "/metrics" {
            self.fault()
        } else {
            Fault::None
        };
        // Flap: every other answer passes; Loss: two in three do.
        let passes = |n: usize| match fault {
            Fault::Flap => n.is_multiple_of(2),
            Fault::Loss => !n.is_multiple_of(3),
            _ => false,
        };
        if matches!(fault, Fault::Flap | Fault::Loss)
            && passes(self.requests.fetch_add(1, Ordering::SeqCst))
        {
            fault = Fault::None;
        }
        let head = |status: u16, content_type: &str, length: usize| {
            format!(
                "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
            )
            .into_bytes()
        };
        let whole = |body: &[u8]| [head(status, &content_type, body.len()), body.to_vec()].concat();
        let _ = match fault {
            Fault::None | Fault::Refuse => stream.write_all(&whole(&body)).await,
            Fault::Delay(delay) => {
                tokio::time::sleep(delay).await;
                stream.write_all(&whole(&body)).await
            }
            Fault::Reset => {
                let _ = stream.set_zero_linger();
                return; // dropped with a zero linger: the kernel sends RST
            }
            Fault::Loss => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            }
            Fault::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            }
            Fault::StallMidBody => {
                let _ = stream
                    .write_all(&head(status, &content_type, body.len()))
                    .await;
                let _ = stream.write_all(&body[..body.len() / 2]).await;
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            }
            Fault::SlowLoris => {
                for byte in whole(&body) {
                    if stream.write_all(&[byte]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(())
            }
            Fault::Status(code) => {
                let text = format!("{code} from the fault proxy\n");
                let answer = [head(code, "text/plain", text.len()), text.into_bytes()].concat();
                stream.write_all(&answer).await
            }
            Fault::Endless => self.endless(&mut stream).await,
            Fault::Garbage => {
                let mut x = 0x2545_f491_4f6c_dd1du64;
                let garbage: Vec<u8> = (0..4096)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect();
                stream.write_all(&whole(&garbage)).await
            }
            Fault::TruncatedMidLine => {
                let text = String::from_utf8(body).unwrap();
                let cut = text.find("tempo_receiver_accepted_spans{").unwrap() + 40;
                stream.write_all(&whole(&text.as_bytes()[..cut])).await
            }
            Fault::ClosedMidBody => {
                let _ = stream
                    .write_all(&head(status, &content_type, body.len()))
                    .await;
                stream.write_all(&body[..body.len() * 6 / 10]).await
            }
            Fault::Flap => {
                let text = "503 from the fault proxy (flapping)\n";
                let answer = [head(503, "text/plain", text.len()), text.into()].concat();
                stream.write_all(&answer).await
            }
            Fault::Duplicate => {
                let text = String::from_utf8(body).unwrap();
                let line = text
                    .lines()
                    .find(|l| l.starts_with("tempo_receiver_accepted_spans{"))
                    .unwrap();
                stream
                    .write_all(&whole(format!("{text}{line}\n").as_bytes()))
                    .await
            }
            Fault::Counter(value) => {
                let text: String = String::from_utf8(body)
                    .unwrap()
                    .lines()
                    .map(|l| match l.strip_prefix("tempo_receiver_accepted_spans{") {
                        Some(rest) => format!(
                            "tempo_receiver_accepted_spans{{{} {value}\n",
                            rest.rsplit_once(' ').unwrap().0
                        ),
                        None => format!("{l}\n"),
                    })
                    .collect();
                stream.write_all(&whole(text.as_bytes())).await
            }
        };
        let _ = stream.shutdown().await;
    }

    /// Writes 64 KiB chunks until the peer hangs up, and records how much it took.
    async fn endless(&self, stream: &mut TcpStream) -> std::io::Result<()> {
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {TEMPO_CONTENT_TYPE}\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await?;
        let line = "tempo_receiver_accepted_spans{receiver=\"otlp/grpc\",tenant=\"single-tenant\",transport=\"grpc\"} 1\n";
        let payload = line.repeat(65536 / line.len());
        let chunk = format!("{:x}\r\n{payload}\r\n", payload.len());
        let mut sent = 0u64;
        let result = loop {
            if let Err(e) = stream.write_all(chunk.as_bytes()).await {
                break Err(e);
            }
            sent += chunk.len() as u64;
            if sent > 1 << 30 {
                break Ok(()); // 1 GiB: the client is reading without limit
            }
        };
        self.endless_sent_max.fetch_max(sent, Ordering::SeqCst);
        if result.is_err() {
            self.endless_hangups.fetch_add(1, Ordering::SeqCst);
        }
        result
    }

    async fn fetch_upstream(&self, path: &str, accept: &str) -> (u16, String, Vec<u8>) {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.upstream))
            .header(reqwest::header::ACCEPT, accept)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .map_or("text/plain", |v| v.to_str().unwrap())
            .to_owned();
        (
            status,
            content_type,
            response.bytes().await.unwrap().to_vec(),
        )
    }
}

/// Reads a request head (at most 16 KiB); returns its path and Accept header.
async fn read_request(stream: &mut TcpStream) -> Option<(String, String)> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 || head.len() > 16 << 10 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split(' ').nth(1)?.to_owned();
    let accept = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("accept"))
        })
        .map_or("*/*".to_owned(), |(_, v)| v.trim().to_owned());
    Some((path, accept))
}

/// A Tempo capture advancing one extrapolated page per poll, behind a fault proxy,
/// polled by spanflow every 500 ms.
struct Rig {
    fixture: FixtureServer,
    proxy: Arc<FaultProxy>,
    spanflow: Spanflow,
}

const DISTRIBUTOR: &str = "tempo_distributor";

impl Rig {
    async fn start() -> Rig {
        let fixture = FixtureServer::start(CAPTURE).await;
        fixture.play_metrics(extrapolated_series(CAPTURE, 400));
        let proxy = FaultProxy::start(fixture.base.clone()).await;
        let yaml = format!(
            "poll_interval: 500ms\nwindow: 5s\nbody_size_limit: {BODY_SIZE_LIMIT}\nprobes: {{grpc_health: false}}\ntargets:\n  - {{name: tempo, role: tempo, url: '{}', timeout: {}ms}}\n",
            proxy.base(),
            TARGET_TIMEOUT.as_millis()
        );
        let spanflow = Spanflow::start(&yaml, &[], std::process::Stdio::null()).await;
        let rig = Rig {
            fixture,
            proxy,
            spanflow,
        };
        rig.wait_for(|v| v.status == "ok", "the distributor ok before the fault")
            .await;
        rig
    }

    /// Reads `/metrics` every 50 ms until `done` holds (at most 15 s), timing each answer;
    /// returns every view seen (judge their times with [`assert_prompt`]).
    async fn wait_for(&self, done: impl Fn(&View) -> bool, what: &str) -> Vec<View> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut views = Vec::new();
        loop {
            let asked = Instant::now();
            let page = self.spanflow.metrics().await;
            let view = View::of(&page, asked.elapsed());
            let finished = done(&view);
            views.push(view);
            if finished {
                return views;
            }
            assert!(
                Instant::now() < deadline,
                "waited 15 s for {what}; last /metrics:\n{page}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every view of `/metrics` over the next `how_long`.
    async fn watch(&self, how_long: Duration, what: &str) -> Vec<View> {
        let until = Instant::now() + how_long;
        self.wait_for(move |_| Instant::now() > until, what).await
    }

    /// Switches `fault` on and checks the contract of the module doc, with `reason` the
    /// scrape error it must count.
    async fn check_fault(&self, fault: Fault, reason: &str) {
        let before = self.wait_for(|_| true, "a first look").await.remove(0);
        self.proxy.set(fault);
        let mut views = self
            .wait_for(
                |v| {
                    v.status == "unknown"
                        && v.errors(reason) >= before.errors(reason) + 3.0
                        && v.up == Some(0.0)
                },
                &format!("{fault:?}: stage unknown and three {reason} errors"),
            )
            .await;
        let last = views.last().unwrap();
        assert!(
            views.iter().all(|v| v.status != "failing"),
            "{fault:?}: a target fault is not a failing stage"
        );
        assert_eq!(
            last.ratio, None,
            "{fault:?}: last good ratio shown as current"
        );
        assert_eq!(
            last.rate, None,
            "{fault:?}: last good rate shown as current"
        );
        for other in spanflow::source::scrape::ScrapeError::REASONS {
            if other != reason {
                assert_eq!(
                    last.errors(other),
                    before.errors(other),
                    "{fault:?} counted as {other}"
                );
            }
        }
        assert!(
            last.duration <= (TARGET_TIMEOUT + POLL_SLACK).as_secs_f64(),
            "{fault:?}: a poll took {} s, beyond its {TARGET_TIMEOUT:?} timeout",
            last.duration
        );
        let status = self.spanflow.status().await;
        let reported = status["pipelines"][0]["targets"][0]["last_error"]
            .as_str()
            .unwrap_or("");
        assert!(
            !reported.is_empty(),
            "{fault:?}: no last_error in the status"
        );

        self.proxy.set(Fault::None);
        views.extend(
            self.wait_for(|v| v.status == "ok" && v.up == Some(1.0), "recovery")
                .await,
        );
        assert_prompt(&views, &format!("{fault:?} and its recovery"));
    }
}

/// What one `/metrics` page says about the distributor stage and the target.
#[derive(Debug)]
struct View {
    status: String,
    ratio: Option<f64>,
    rate: Option<f64>,
    up: Option<f64>,
    duration: f64,
    page: String,
    /// How long `/metrics` took to answer.
    took: Duration,
}

impl View {
    fn of(page: &str, took: Duration) -> View {
        let status = ["ok", "idle", "degraded", "failing", "unknown"]
            .into_iter()
            .find(|s| {
                sample(
                    page,
                    &format!("spanflow_stage_status{{stage=\"{DISTRIBUTOR}\",status=\"{s}\"}}"),
                ) == Some(1.0)
            })
            .unwrap_or("absent")
            .to_owned();
        View {
            status,
            ratio: sample(
                page,
                &format!("spanflow_stage_success_ratio{{stage=\"{DISTRIBUTOR}\"}}"),
            ),
            rate: sample(
                page,
                &format!(
                    "spanflow_stage_spans_per_second{{stage=\"{DISTRIBUTOR}\",outcome=\"success\"}}"
                ),
            ),
            up: sample(page, "spanflow_target_up{target=\"tempo\",role=\"tempo\"}"),
            duration: sample(
                page,
                "spanflow_target_scrape_duration_seconds{target=\"tempo\"}",
            )
            .unwrap_or(0.0),
            page: page.to_owned(),
            took,
        }
    }

    fn errors(&self, reason: &str) -> f64 {
        sample(
            &self.page,
            &format!("spanflow_target_scrape_errors_total{{target=\"tempo\",reason=\"{reason}\"}}"),
        )
        .unwrap_or(0.0)
    }
}

#[tokio::test]
async fn refused_connections_are_connect_errors() {
    Rig::start()
        .await
        .check_fault(Fault::Refuse, "connect")
        .await;
}

#[tokio::test]
async fn a_target_that_never_answers_is_a_timeout() {
    Rig::start().await.check_fault(Fault::Hang, "timeout").await;
}

#[tokio::test]
async fn a_body_that_stalls_halfway_is_a_timeout() {
    Rig::start()
        .await
        .check_fault(Fault::StallMidBody, "timeout")
        .await;
}

#[tokio::test]
async fn a_slow_loris_is_cut_at_the_timeout() {
    Rig::start()
        .await
        .check_fault(Fault::SlowLoris, "timeout")
        .await;
}

#[tokio::test]
async fn error_statuses_are_http_status_errors() {
    let rig = Rig::start().await;
    for code in [500, 401, 403, 404] {
        rig.check_fault(Fault::Status(code), "http_status").await;
    }
}

#[tokio::test]
async fn an_endless_body_is_refused_at_the_cap_and_memory_stays_flat() {
    let rig = Rig::start().await;
    rig.proxy.set(Fault::Endless);
    // Warm-up: the first refusals size the allocator's pools. glibc raises its mmap
    // threshold to the size of the first large buffer freed; from then on each thread's
    // arena keeps a body's worth of freed memory, so RSS climbs over the first several
    // refusals (once by 5 MiB between the fifth and the sixth, seen here) and then stays
    // put (±2 MiB over 25 more). A leak would add 4 MiB per refusal.
    const WARM_UP: u32 = 8;
    const MEASURED: u32 = 24;
    let mut views = rig
        .wait_for(
            |v| v.errors("too_large") >= f64::from(WARM_UP),
            "warm-up refusals",
        )
        .await;
    let warm = rig.spanflow.rss_kib();
    // Four refusals per wait, so that no single wait nears its deadline.
    for refused in (WARM_UP + 4..=WARM_UP + MEASURED).step_by(4) {
        views.extend(
            rig.wait_for(|v| v.errors("too_large") >= f64::from(refused), "refusals")
                .await,
        );
    }
    assert_prompt(&views, "32 endless bodies");
    let after = rig.spanflow.rss_kib();
    assert!(
        after < warm + 8 * 1024,
        "RSS grew from {warm} KiB to {after} KiB over {MEASURED} refused 4 MiB bodies \
         (a leak would add {} MiB)",
        MEASURED * 4
    );
    // spanflow hung up on every body; what it was sent is the cap plus what loopback
    // socket buffers hold, never the 1 GiB the proxy would send a client reading on.
    assert!(rig.proxy.endless_hangups.load(Ordering::SeqCst) >= 3);
    let sent = rig.proxy.endless_sent_max.load(Ordering::SeqCst);
    assert!(
        sent < BODY_SIZE_LIMIT + (32 << 20),
        "{sent} bytes sent before spanflow hung up"
    );
    rig.proxy.set(Fault::None);
    rig.wait_for(|v| v.status == "ok", "recovery").await;
    // And the whole contract once more.
    rig.check_fault(Fault::Endless, "too_large").await;
}

#[tokio::test]
async fn garbage_is_a_parse_error() {
    Rig::start()
        .await
        .check_fault(Fault::Garbage, "parse")
        .await;
}

#[tokio::test]
async fn a_page_cut_mid_line_is_a_parse_error() {
    Rig::start()
        .await
        .check_fault(Fault::TruncatedMidLine, "parse")
        .await;
}

#[tokio::test]
async fn a_connection_closed_mid_body_is_a_connect_error() {
    Rig::start()
        .await
        .check_fault(Fault::ClosedMidBody, "connect")
        .await;
}

#[tokio::test]
async fn a_repeated_series_is_a_parse_error() {
    Rig::start()
        .await
        .check_fault(Fault::Duplicate, "parse")
        .await;
}

#[tokio::test]
async fn nan_and_infinite_counters_are_parse_errors() {
    let rig = Rig::start().await;
    for value in ["NaN", "+Inf", "-Inf"] {
        rig.check_fault(Fault::Counter(value), "parse").await;
    }
}

/// A target that fails every other poll: each failure counts, the stage is `unknown` or
/// `ok` but never `failing`, and whenever the last poll failed no rate is shown.
#[tokio::test]
async fn a_flapping_target_is_never_failing_and_never_stale() {
    let rig = Rig::start().await;
    rig.proxy.set(Fault::Flap);
    let views = rig
        .wait_for(|v| v.errors("http_status") >= 6.0, "six failed polls")
        .await;
    for v in &views {
        assert!(v.status == "ok" || v.status == "unknown", "{}", v.status);
        if v.up == Some(0.0) {
            assert_eq!(v.status, "unknown");
            assert_eq!((v.ratio, v.rate), (None, None));
        }
    }
    assert!(views.iter().any(|v| v.up == Some(1.0) && v.status == "ok"));
    assert!(views.iter().any(|v| v.up == Some(0.0)));
    assert_prompt(&views, "flapping");
}

/// A target slower than usual but within the timeout is no error; slower than the timeout
/// it is a `timeout`, never a reading of what arrived late.
#[tokio::test]
async fn a_delay_within_the_timeout_is_no_error_and_beyond_it_a_timeout() {
    let rig = Rig::start().await;
    let before = rig.wait_for(|_| true, "a first look").await.remove(0);
    rig.proxy.set(Fault::Delay(Duration::from_millis(120)));
    let views = rig
        .wait_for(|v| v.duration >= 0.12, "a poll that waited the delay out")
        .await;
    let settle = rig.watch(Duration::from_secs(2), "a delayed target").await;
    for v in views.iter().chain(&settle) {
        assert_eq!(v.status, "ok", "a 120 ms delay under a 300 ms timeout");
    }
    for reason in spanflow::source::scrape::ScrapeError::REASONS {
        assert_eq!(settle.last().unwrap().errors(reason), before.errors(reason));
    }
    rig.check_fault(Fault::Delay(Duration::from_millis(800)), "timeout")
        .await;
}

#[tokio::test]
async fn a_reset_connection_is_a_connect_error() {
    Rig::start()
        .await
        .check_fault(Fault::Reset, "connect")
        .await;
}

/// One answer in three lost: each loss a timeout, the stage `ok` or `unknown` and never
/// `failing`, nothing shown as current after a lost poll.
#[tokio::test]
async fn lost_answers_are_timeouts_never_failing_and_never_stale() {
    let rig = Rig::start().await;
    rig.proxy.set(Fault::Loss);
    let views = rig
        .wait_for(|v| v.errors("timeout") >= 4.0, "four lost answers")
        .await;
    for v in &views {
        assert!(v.status == "ok" || v.status == "unknown", "{}", v.status);
        if v.up == Some(0.0) {
            assert_eq!((v.ratio, v.rate), (None, None));
        }
    }
    assert!(views.iter().any(|v| v.up == Some(1.0) && v.status == "ok"));
    assert_prompt(&views, "lossy");
}

/// Tempo restarts: down for a few polls, then back with every counter from zero. That is
/// not an error: the increase after a reset counts from zero (as Prometheus' rate()
/// does), no rate goes negative and the stage never turns `failing`.
#[tokio::test]
async fn a_restart_resets_counters_without_errors_or_negative_rates() {
    let rig = Rig::start().await;
    let before = rig.wait_for(|_| true, "a first look").await.remove(0);
    rig.proxy.set(Fault::Refuse);
    rig.wait_for(|v| v.up == Some(0.0), "tempo down").await;
    rig.fixture.play_metrics(extrapolated_series(CAPTURE, 400));
    rig.proxy.set(Fault::None);
    let views = rig
        .wait_for(
            |v| v.status == "ok" && v.up == Some(1.0),
            "tempo back after its restart",
        )
        .await;
    // Watch a few polls past the reset.
    let after = rig.watch(Duration::from_secs(2), "past the restart").await;
    for v in views.iter().chain(&after) {
        assert_ne!(v.status, "failing");
        assert!(v.rate.unwrap_or(0.0) >= 0.0, "negative rate: {v:?}");
        assert!(v.ratio.is_none_or(|r| (0.0..=1.0).contains(&r)));
    }
    let last = after.last().unwrap();
    assert_eq!(last.status, "ok");
    assert!(last.rate.unwrap() > 0.0);
    for reason in ["timeout", "tls", "http_status", "too_large", "parse"] {
        assert_eq!(last.errors(reason), before.errors(reason), "{reason}");
    }
    let all: Vec<View> = views.into_iter().chain(after).collect();
    assert_prompt(&all, "restart");
}

/// Scrapers that never finish sending their request, or never read the answer, hold
/// connections but neither the polls nor other scrapes: the target keeps being polled
/// and `/metrics` answers within the budget meanwhile.
#[tokio::test]
async fn slow_scrapers_block_neither_polling_nor_other_scrapes() {
    let rig = Rig::start().await;
    let address = rig.spanflow.base.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for i in 0..60 {
        let mut stream = TcpStream::connect(&address).await.unwrap();
        let request = "GET /metrics HTTP/1.1\r\nHost: spanflow\r\n";
        if i % 2 == 0 {
            // Half a request head, never finished.
            stream.write_all(&request.as_bytes()[..20]).await.unwrap();
        } else {
            // A whole request whose answer is never read.
            stream
                .write_all(format!("{request}\r\n").as_bytes())
                .await
                .unwrap();
        }
        held.push(stream);
    }
    let first = rig.spanflow.status().await["pipelines"][0]["targets"][0]["last_success_unix"]
        .as_f64()
        .unwrap();
    let views = rig
        .wait_for(
            {
                let until = Instant::now() + Duration::from_secs(3);
                move |_| Instant::now() > until
            },
            "three seconds of held connections",
        )
        .await;
    let last = rig.spanflow.status().await["pipelines"][0]["targets"][0]["last_success_unix"]
        .as_f64()
        .unwrap();
    assert!(
        last - first >= 2.0,
        "polls stalled while scrapers held connections: last success {first} → {last}"
    );
    assert!(views.iter().all(|v| v.status == "ok"));
    assert_prompt(&views, "60 held connections");
    drop(held);
}
