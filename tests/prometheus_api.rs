//! The query API client against the shapes of the stores people run, each a real HTTP server
//! on 127.0.0.1 that checks what it is sent: Mimir's path prefix and tenant header, Thanos'
//! passed-through parameters, VictoriaMetrics' cluster path; a partial answer's `warnings`;
//! `status: error`; a proxy's 503; a query slower than the timeout.

use std::time::{Duration, Instant};

use spanflow::config::Target;
use spanflow::model::stage::Role;
use spanflow::source::prometheus::{QueryApi, QueryError};
use spanflow::source::scrape::TargetClient;

mod common;

const VECTOR: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"cluster":"eu"},"value":[1733300000,"42"]}]}}"#;

fn api(url: &str, tenant: Option<&str>, params: &[(&str, &str)]) -> QueryApi {
    let mut target = Target {
        timeout: Duration::from_millis(500),
        ..Target::new("fleet", Role::Tempo, url.parse().unwrap())
    };
    if let Some(tenant) = tenant {
        target.headers.insert("X-Scope-OrgID".into(), tenant.into());
    }
    let client = TargetClient::new(&target, 1 << 20).unwrap();
    let params = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    QueryApi::new(client, params)
}

#[tokio::test]
async fn mimir_thanos_and_victoriametrics_are_asked_as_they_expect() {
    let query = r#"sum by (cluster) (increase(tempo_receiver_accepted_spans_total[5m]))"#;
    for (prefix, tenant, params) in [
        ("/prometheus", Some("ops"), vec![]),
        (
            "",
            None,
            vec![("dedup", "true"), ("partial_response", "false")],
        ),
        ("/select/0/prometheus", None, vec![]),
    ] {
        let (base, seen) = common::query_api(200, VECTOR, Duration::ZERO).await;
        let answer = api(&format!("{base}{prefix}"), tenant, &params)
            .instant(query, 1_733_300_000.25)
            .await
            .unwrap();
        assert_eq!(answer.samples[0].value, 42.0);
        let (path, got, got_tenant) = seen.lock().unwrap().clone().unwrap();
        assert_eq!(path, format!("{prefix}/api/v1/query"));
        assert_eq!(got_tenant.as_deref(), tenant);
        let mut want = vec![
            ("query".to_owned(), query.to_owned()),
            ("time".to_owned(), "1733300000.250".to_owned()),
            // The client's timeout, so the store stops when spanflow does.
            ("timeout".to_owned(), "500ms".to_owned()),
        ];
        want.extend(
            params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        assert_eq!(got, want, "{prefix}");
    }
}

#[tokio::test]
async fn partial_answers_errors_and_slow_queries_are_told_apart() {
    let partial = r#"{"status":"success","data":{"resultType":"vector","result":[]},"warnings":["No StoreAPIs matched for this query"]}"#;
    let (base, _) = common::query_api(200, partial, Duration::ZERO).await;
    let answer = api(&base, None, &[]).instant("up", 1.0).await.unwrap();
    assert_eq!(answer.warnings, ["No StoreAPIs matched for this query"]);

    let error = r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:1: parse error"}"#;
    let (base, _) = common::query_api(400, error, Duration::ZERO).await;
    let e = api(&base, None, &[]).instant("(", 1.0).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "bad_data: invalid parameter \"query\": 1:1: parse error (HTTP 400)"
    );

    let (base, _) = common::query_api(503, "upstream connect error\n", Duration::ZERO).await;
    let e = api(&base, None, &[]).instant("up", 1.0).await.unwrap_err();
    assert_eq!(e.to_string(), "HTTP status 503: upstream connect error");

    let (base, _) = common::query_api(200, VECTOR, Duration::from_secs(5)).await;
    let started = Instant::now();
    let e = api(&base, None, &[]).instant("up", 1.0).await.unwrap_err();
    assert!(matches!(e, QueryError::Fetch(_)), "{e:?}");
    assert_eq!(e.reason(), "timeout");
    // The 500 ms timeout, with room for a loaded machine; the server waits 5 s.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// An answer of `n` series, one per pod: what a `split_by` on a per-pod label gives.
fn answer_of(n: usize) -> &'static str {
    let mut body = String::from(r#"{"status":"success","data":{"resultType":"vector","result":["#);
    for i in 0..n {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            r#"{{"metric":{{"pod":"tempo-distributor-{i}"}},"value":[1733300000,"1"]}}"#
        ));
    }
    body.push_str("]}}");
    Box::leak(body.into_boxed_str())
}

#[tokio::test]
async fn an_answer_of_more_series_than_max_series_fails_the_query_named() {
    // 100,000 series (6.4 MB, under a 16 MiB body cap): refused by the default max_series.
    let (base, _) = common::query_api(200, answer_of(100_000), Duration::ZERO).await;
    let target = Target {
        timeout: Duration::from_secs(10),
        ..Target::new("fleet", Role::Tempo, base.parse().unwrap())
    };
    let client = TargetClient::new(&target, 16 << 20).unwrap();
    let e = QueryApi::new(client, Vec::new())
        .instant("up", 1.0)
        .await
        .unwrap_err();
    assert_eq!(e.reason(), "too_many_series");
    assert_eq!(
        e.to_string(),
        "100000 series in one answer, more than max_series (10000): narrow the roles' selectors or split_by, or raise source.prometheus.max_series"
    );
    // A configured bound, and an answer within it.
    let (base, _) = common::query_api(200, answer_of(5), Duration::ZERO).await;
    let e = api(&base, None, &[])
        .with_max_series(4)
        .instant("up", 1.0)
        .await
        .unwrap_err();
    assert!(
        matches!(e, QueryError::TooManySeries { series: 5, max: 4 }),
        "{e:?}"
    );
    let answer = api(&base, None, &[])
        .with_max_series(5)
        .instant("up", 1.0)
        .await
        .unwrap();
    assert_eq!(answer.samples.len(), 5);
}
