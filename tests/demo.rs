//! The demo pipeline: spanflow polling the embedded simulator over real HTTP on 127.0.0.1
//! sees each scenario, and a stage turns failing and recovers when the scenario switches.

use std::sync::Arc;
use std::time::Duration;

use spanflow::demo::{self, Scenario};
use spanflow::model::stage::{Stage, StageStatus};

/// The simulator (with its real gRPC ingesters) and an engine polling it every 250 ms.
struct Running {
    sim: String,
    engine: spanflow::engine::Engine,
    _ingesters: demo::DemoIngesters,
}

async fn start(scenario: Scenario) -> Running {
    let ingesters = demo::DemoIngesters::start().await.unwrap();
    let (simulator, _control) = demo::simulator(scenario, &ingesters);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, simulator).await.unwrap() });
    let mut config = demo::config(&base);
    config.poll_interval = Duration::from_millis(250);
    config.window = Duration::from_secs(3);
    config.probes.grpc_timeout = Duration::from_millis(200);
    for t in &mut config.targets {
        t.timeout = Duration::from_millis(200);
    }
    Running {
        sim: base,
        engine: spanflow::engine::start(Arc::new(config)).unwrap(),
        _ingesters: ingesters,
    }
}

fn causes(s: &spanflow::snapshot::Snapshot) -> Vec<(&'static str, &'static str)> {
    s.pipelines[0]
        .causes
        .iter()
        .map(|d| (d.cause.as_str(), d.certainty.as_str()))
        .collect()
}

/// Waits (bounded) until the snapshot satisfies `check`.
async fn wait_until(
    engine: &spanflow::engine::Engine,
    what: &str,
    check: impl Fn(&spanflow::snapshot::Snapshot) -> bool,
) {
    for _ in 0..80 {
        if check(&engine.snapshot.load()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let s = engine.snapshot.load();
    let stages: Vec<_> = s.pipelines[0]
        .stages
        .iter()
        .map(|r| format!("{}={}", r.stage.as_str(), r.status.as_str()))
        .collect();
    panic!("never {what}: {stages:?}");
}

fn status_of(s: &spanflow::snapshot::Snapshot, stage: Stage) -> Option<StageStatus> {
    s.pipelines[0]
        .stages
        .iter()
        .find(|r| r.stage == stage)
        .map(|r| r.status)
}

#[tokio::test]
async fn switching_scenarios_turns_a_stage_failing_and_back() {
    // Bound whole: the ingesters must live as long as the test.
    let running = start(Scenario::Healthy).await;
    let (sim, engine) = (&running.sim, &running.engine);
    wait_until(engine, "healthy", |s| {
        s.healthy && status_of(s, Stage::TempoDistributor) == Some(StageStatus::Ok)
    })
    .await;
    let snapshot = engine.snapshot.load();
    let stages: Vec<_> = snapshot.pipelines[0]
        .stages
        .iter()
        .map(|r| r.stage)
        .collect();
    assert_eq!(
        stages,
        [
            Stage::App,
            Stage::CollectorReceiver,
            Stage::CollectorExporter,
            Stage::TempoDistributor,
            Stage::TempoIngester,
            Stage::TempoStorage,
            // The demo writes a canary trace and reads it back.
            Stage::Canary
        ]
    );

    let client = reqwest::Client::new();
    let switched = client
        .post(format!("{sim}/scenario?name=tls-mismatch"))
        .send()
        .await
        .unwrap();
    assert_eq!(switched.status(), 200);
    wait_until(engine, "blocked at the ingester", |s| {
        s.pipelines[0].blocked_stage == Some(Stage::TempoIngester)
    })
    .await;
    let s = engine.snapshot.load();
    assert_eq!(
        status_of(&s, Stage::TempoDistributor),
        Some(StageStatus::Failing)
    );
    assert_eq!(status_of(&s, Stage::App), Some(StageStatus::Ok));
    // The probe of the demo's TLS-only ingester and its /status/config both prove it.
    wait_until(engine, "grpc_tls_mismatch confirmed", |s| {
        s.pipelines[0]
            .causes
            .iter()
            .any(|d| d.cause.as_str() == "grpc_tls_mismatch" && d.certainty.as_str() == "confirmed")
    })
    .await;
    let s = engine.snapshot.load();
    let mismatch = s.pipelines[0]
        .causes
        .iter()
        .find(|d| d.cause.as_str() == "grpc_tls_mismatch")
        .unwrap();
    assert!(
        mismatch
            .evidence
            .iter()
            .any(|e| e.contains("plaintext no answer") && e.contains("TLS SERVING")),
        "{:?}",
        mismatch.evidence
    );

    client
        .post(format!("{sim}/scenario?name=healthy"))
        .send()
        .await
        .unwrap();
    wait_until(engine, "recovered", |s| {
        s.healthy && s.pipelines[0].blocked_stage.is_none() && s.pipelines[0].causes.is_empty()
    })
    .await;

    let bad = client
        .post(format!("{sim}/scenario?name=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn every_scenario_shows_what_it_simulates() {
    for (scenario, check, cause) in [
        (
            Scenario::RateLimited,
            (Stage::TempoDistributor, StageStatus::Degraded),
            Some("rate_limited"),
        ),
        (
            Scenario::Rf3Healthy,
            (Stage::TempoIngester, StageStatus::Ok),
            None,
        ),
        (
            Scenario::RingRf3,
            (Stage::TempoDistributor, StageStatus::Failing),
            Some("ingesters_below_replication_factor"),
        ),
    ] {
        let running = start(scenario).await;
        let engine = &running.engine;
        wait_until(engine, scenario.name(), |s| {
            status_of(s, check.0) == Some(check.1)
        })
        .await;
        if scenario == Scenario::Rf3Healthy {
            wait_until(engine, "rf3 healthy", |s| s.healthy).await;
        }
        if scenario == Scenario::RingRf3 {
            wait_until(engine, "blocked at the distributor", |s| {
                s.pipelines[0].blocked_stage == Some(Stage::TempoDistributor)
            })
            .await;
        }
        match cause {
            Some(cause) => {
                wait_until(engine, cause, |s| {
                    s.pipelines[0]
                        .causes
                        .iter()
                        .any(|d| d.cause.as_str() == cause)
                })
                .await;
            }
            None => {
                let s = engine.snapshot.load();
                assert!(
                    s.pipelines[0].causes.is_empty(),
                    "{}: {:?}",
                    scenario.name(),
                    causes(&s)
                );
            }
        }
    }
}

/// `spanflow demo --scenario <name>` as a process on a free port; its status JSON when
/// `check` holds for it (60 s at most: a lost canary trace is known after its 8 s timeout).
async fn demo_binary_until(
    scenario: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let port = common_free_port();
    let _child = tokio::process::Command::new(env!("CARGO_BIN_EXE_spanflow"))
        .args(["demo", "--scenario", scenario, "--web.listen-address"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/api/v1/status");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut last = serde_json::Value::Null;
    while std::time::Instant::now() < deadline {
        if let Ok(r) = reqwest::get(&url).await
            && let Ok(status) = r.json::<serde_json::Value>().await
        {
            if check(&status) {
                return status;
            }
            last = status;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{scenario}: never came: {:#}", last["pipelines"][0]);
}

fn common_free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn stage_status<'a>(status: &'a serde_json::Value, stage: &str) -> &'a str {
    status["pipelines"][0]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == stage)
        .and_then(|s| s["status"].as_str())
        .unwrap_or("absent")
}

fn has_cause(status: &serde_json::Value, cause: &str) -> bool {
    status["pipelines"][0]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["cause"] == cause)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_loss_fails_only_the_canary_and_names_it() {
    let status = demo_binary_until("silent-loss", |s| {
        s["pipelines"][0]["blocked_stage"] == "canary" && has_cause(s, "silent_loss")
    })
    .await;
    // Every stage counted from counters is ok; only the canary fails.
    for stage in status["pipelines"][0]["stages"].as_array().unwrap() {
        let expected = if stage["stage"] == "canary" {
            "failing"
        } else {
            "ok"
        };
        assert!(
            stage["status"] == expected
                || (stage["stage"] == "tempo_storage" && stage["status"] == "idle"),
            "{stage:#}"
        );
    }
    assert_eq!(status["pipelines"][0]["canary"]["found"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lossy_hop_shows_the_balance_and_names_the_loss() {
    let status = demo_binary_until("lossy-hop", |s| {
        has_cause(s, "spans_lost_between_hops") && stage_status(s, "canary") == "ok"
    })
    .await;
    let hops = status["pipelines"][0]["hop_balance"].as_array().unwrap();
    let tempo = hops
        .iter()
        .find(|h| h["to"] == "tempo_distributor")
        .unwrap();
    let ratio = tempo["ratio"].as_f64().unwrap();
    assert!((ratio - 0.7).abs() < 0.05, "{tempo:#}");
    assert_eq!(stage_status(&status, "canary"), "ok");
    assert_eq!(stage_status(&status, "tempo_distributor"), "ok");
}
