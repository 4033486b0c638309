//! Reads a Prometheus-compatible query API — Prometheus, Mimir (`…/prometheus`), Thanos,
//! VictoriaMetrics (`…/select/0/prometheus`): one instant query, evaluated at a given time.
//!
//! Input: the API's base URL with the target settings every fetch has (TLS, credentials,
//! headers such as Mimir's `X-Scope-OrgID`, timeout, body cap — a [`TargetClient`]), extra
//! query parameters passed through (Thanos' `dedup`, `partial_response`), a PromQL
//! expression and an evaluation time. Output: the instant vector — each sample's labels and
//! value — and the API's `warnings` (a Thanos partial response says so there), or a
//! [`QueryError`] named by reason: the API's own `errorType` and `error` when it gives them.
//! A value that is NaN or infinite is refused, as a page's counter is. It never judges what
//! it read. (A client of our own, ~100 lines: the crate for Prometheus' API hides
//! `warnings` and brings native TLS.)

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::source::scrape::{ScrapeError, TargetClient};

/// One sample of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// What one instant query answered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vector {
    pub samples: Vec<Sample>,
    /// The API's warnings: the answer may be partial (a Thanos store down, a Mimir limit).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// The request failed before an answer: timeout, connect, TLS, credentials, body cap.
    #[error(transparent)]
    Fetch(#[from] ScrapeError),
    /// The API said `status: error` (with any HTTP status).
    #[error("{error_type}: {error} (HTTP {status})")]
    Api {
        status: u16,
        error_type: String,
        error: String,
    },
    /// A status other than 2xx without the API's error document (a proxy's 503).
    #[error("HTTP status {status}: {body}")]
    HttpStatus { status: u16, body: String },
    /// Not the API's JSON, or not an instant vector.
    #[error("not a Prometheus query answer: {0}")]
    Parse(String),
    /// More series than `max_series` in one answer.
    #[error(
        "{series} series in one answer, more than max_series ({max}): narrow the roles' selectors or split_by, or raise source.prometheus.max_series"
    )]
    TooManySeries { series: usize, max: usize },
    /// A sample whose value is NaN or infinite: a sum of counters cannot be.
    #[error("{series} has the value {value}: an increase of counters is a finite number")]
    BadValue { series: String, value: String },
}

impl QueryError {
    /// Every `reason`, as `spanflow_source_query_errors_total` has them from the start.
    pub const REASONS: [&'static str; 9] = [
        "timeout",
        "connect",
        "tls",
        "http_status",
        "too_large",
        "parse",
        "api_error",
        "bad_value",
        "too_many_series",
    ];

    /// The `reason` label value of `spanflow_source_query_errors_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            QueryError::Fetch(e) => e.reason(),
            QueryError::Api { .. } => "api_error",
            QueryError::HttpStatus { .. } => "http_status",
            QueryError::Parse(_) => "parse",
            QueryError::BadValue { .. } => "bad_value",
            QueryError::TooManySeries { .. } => "too_many_series",
        }
    }
}

/// The most of an error body kept in a message.
const ERROR_BODY_SHOWN: usize = 300;

/// Runs instant queries against one API.
#[derive(Debug, Clone)]
pub struct QueryApi {
    client: TargetClient,
    params: Vec<(String, String)>,
    max_series: usize,
}

impl QueryApi {
    /// `client`'s URL is the API's base (`http://prometheus:9090`,
    /// `http://mimir:8080/prometheus`); `params` are added to every query.
    pub fn new(client: TargetClient, params: Vec<(String, String)>) -> QueryApi {
        QueryApi {
            client,
            params,
            max_series: crate::config::store::DEFAULT_MAX_SERIES,
        }
    }

    /// At most `max` series per answer (see [`QueryError::TooManySeries`]).
    pub fn with_max_series(mut self, max: usize) -> QueryApi {
        self.max_series = max;
        self
    }

    /// The API's URL without credentials.
    pub fn shown_url(&self) -> String {
        self.client.shown_url()
    }

    /// `query` evaluated at `time` (Unix seconds).
    pub async fn instant(&self, query: &str, time: f64) -> Result<Vector, QueryError> {
        let mut url = self.client.endpoint("api/v1/query");
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("query", query);
            pairs.append_pair("time", &format!("{time:.3}"));
            // The store gives up when spanflow does, rather than evaluating for nobody
            // (Prometheus caps it by its own -query.timeout).
            if !self.params.iter().any(|(k, _)| k == "timeout") {
                let timeout = crate::source::query_plan::promql_duration(self.client.timeout());
                pairs.append_pair("timeout", &timeout);
            }
            for (k, v) in &self.params {
                pairs.append_pair(k, v);
            }
        }
        let page = self
            .client
            .fetch_any_status(url, "application/json")
            .await?;
        let vector = read_answer(page.status, &page.body)?;
        // The body cap bounds what reading cost; this bounds what the poll keeps and sorts.
        if vector.samples.len() > self.max_series {
            return Err(QueryError::TooManySeries {
                series: vector.samples.len(),
                max: self.max_series,
            });
        }
        Ok(vector)
    }
}

/// The API's answer document.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    status: String,
    data: Option<Data>,
    error_type: Option<String>,
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    result_type: String,
    result: Vec<RawSample>,
}

#[derive(Deserialize)]
struct RawSample {
    metric: BTreeMap<String, String>,
    /// `[time, "value"]`: the value is a string, so NaN and ±Inf can be said.
    value: (f64, String),
}

/// Reads an answer body given with HTTP `status`.
pub fn read_answer(status: u16, body: &[u8]) -> Result<Vector, QueryError> {
    let answer: Answer = match serde_json::from_slice(body) {
        Ok(answer) => answer,
        Err(e) if (200..300).contains(&status) => return Err(QueryError::Parse(e.to_string())),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let shown: String = text.trim().chars().take(ERROR_BODY_SHOWN).collect();
            return Err(QueryError::HttpStatus {
                status,
                body: shown,
            });
        }
    };
    if answer.status != "success" {
        return Err(QueryError::Api {
            status,
            error_type: answer.error_type.unwrap_or_else(|| "unknown".into()),
            error: answer.error.unwrap_or_default(),
        });
    }
    let data = answer
        .data
        .ok_or_else(|| QueryError::Parse("status success without data".into()))?;
    if data.result_type != "vector" {
        return Err(QueryError::Parse(format!(
            "a {} where an instant vector was asked for",
            data.result_type
        )));
    }
    let mut samples = Vec::with_capacity(data.result.len());
    for raw in data.result {
        let value: f64 = raw.value.1.parse().map_err(|_| {
            QueryError::Parse(format!("sample value {:?} is not a number", raw.value.1))
        })?;
        if !value.is_finite() {
            return Err(QueryError::BadValue {
                series: series_name(&raw.metric),
                value: raw.value.1,
            });
        }
        samples.push(Sample {
            labels: raw.metric,
            value,
        });
    }
    Ok(Vector {
        samples,
        warnings: answer.warnings,
    })
}

/// `{a="x",b="y"}`, for messages.
fn series_name(labels: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", pairs.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_vector_is_read_with_its_warnings() {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"cluster":"eu"},"value":[1733300000.5,"120"]},
            {"metric":{},"value":[1733300000.5,"0.25"]}]},
            "warnings":["partial response: store eu-2 unavailable"]}"#;
        assert_eq!(
            read_answer(200, body).unwrap(),
            Vector {
                samples: vec![
                    Sample {
                        labels: labels(&[("cluster", "eu")]),
                        value: 120.0
                    },
                    Sample {
                        labels: labels(&[]),
                        value: 0.25
                    },
                ],
                warnings: vec!["partial response: store eu-2 unavailable".into()],
            }
        );
    }

    #[test]
    fn errors_say_what_the_api_said() {
        let e = read_answer(
            422,
            br#"{"status":"error","errorType":"execution","error":"query timed out in expression evaluation"}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "execution: query timed out in expression evaluation (HTTP 422)"
        );
        assert_eq!(e.reason(), "api_error");
        let e = read_answer(503, b"<html>Service Unavailable</html>\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "HTTP status 503: <html>Service Unavailable</html>"
        );
        assert_eq!(e.reason(), "http_status");
        assert_eq!(read_answer(200, b"{").unwrap_err().reason(), "parse");
        let matrix = br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert_eq!(
            read_answer(200, matrix).unwrap_err().to_string(),
            "not a Prometheus query answer: a matrix where an instant vector was asked for"
        );
    }

    #[test]
    fn nan_and_infinite_values_are_refused() {
        for value in ["NaN", "+Inf", "-Inf"] {
            let body = format!(
                r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{"cluster":"eu"}},"value":[1,"{value}"]}}]}}}}"#
            );
            let e = read_answer(200, body.as_bytes()).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "{{cluster=\"eu\"}} has the value {value}: an increase of counters is a finite number"
                )
            );
            assert_eq!(e.reason(), "bad_value");
        }
    }
}
