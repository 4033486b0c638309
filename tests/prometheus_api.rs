//! The query API client against the shapes of the stores people run, each a real HTTP server
//! on 127.0.0.1 that checks what it is sent: Mimir's path prefix and tenant header, Thanos'
//! passed-through parameters, VictoriaMetrics' cluster path; a partial answer's `warnings`;
//! `status: error`; a proxy's 503; a query slower than the timeout.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, Request};
use axum::http::StatusCode;
use spanflow::config::Target;
use spanflow::model::stage::Role;
use spanflow::source::prometheus::{QueryApi, QueryError};
use spanflow::source::scrape::TargetClient;

const VECTOR: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"cluster":"eu"},"value":[1733300000,"42"]}]}}"#;

/// What the server saw of the last request: its path, query parameters and tenant header.
type Seen = Arc<Mutex<Option<(String, Vec<(String, String)>, Option<String>)>>>;

/// A server answering `/…/api/v1/query` with `status` and `body` after `delay`.
async fn store(status: u16, body: &'static str, delay: Duration) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().fallback(
        move |Query(params): Query<Vec<(String, String)>>, request: Request| {
            let record = record.clone();
            async move {
                let tenant = request
                    .headers()
                    .get("x-scope-orgid")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                *record.lock().unwrap() = Some((request.uri().path().to_owned(), params, tenant));
                tokio::time::sleep(delay).await;
                (
                    StatusCode::from_u16(status).unwrap(),
                    [("content-type", "application/json")],
                    body,
                )
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

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
        let (base, seen) = store(200, VECTOR, Duration::ZERO).await;
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
    let (base, _) = store(200, partial, Duration::ZERO).await;
    let answer = api(&base, None, &[]).instant("up", 1.0).await.unwrap();
    assert_eq!(answer.warnings, ["No StoreAPIs matched for this query"]);

    let error = r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:1: parse error"}"#;
    let (base, _) = store(400, error, Duration::ZERO).await;
    let e = api(&base, None, &[]).instant("(", 1.0).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "bad_data: invalid parameter \"query\": 1:1: parse error (HTTP 400)"
    );

    let (base, _) = store(503, "upstream connect error\n", Duration::ZERO).await;
    let e = api(&base, None, &[]).instant("up", 1.0).await.unwrap_err();
    assert_eq!(e.to_string(), "HTTP status 503: upstream connect error");

    let (base, _) = store(200, VECTOR, Duration::from_secs(5)).await;
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
