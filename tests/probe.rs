//! The gRPC health probe against real gRPC servers on 127.0.0.1: plaintext, TLS-only
//! (rcgen certificate), and nothing listening.

use std::time::Duration;

use spanflow::demo::grpc::{self_signed, serve_health};
use spanflow::source::probe::{Answer, FailedAt, ProbeSettings, Speaks, probe};

fn settings() -> ProbeSettings {
    ProbeSettings::new(Duration::from_secs(2), None, None, false).unwrap()
}

#[tokio::test]
async fn a_tls_only_server_answers_tls_and_not_plaintext() {
    let server = serve_health(Some(self_signed().unwrap())).await.unwrap();
    let addr = server.addr.to_string();
    let result = probe(&addr, &addr, &settings()).await;
    assert_eq!(result.tls, Answer::Serving, "{result:?}");
    assert!(
        matches!(
            result.plaintext,
            Answer::Failed {
                stage: FailedAt::Protocol,
                ..
            }
        ),
        "{result:?}"
    );
    assert_eq!(result.speaks(), Speaks::TlsOnly);
}

#[tokio::test]
async fn a_plaintext_server_answers_plaintext_and_fails_the_tls_handshake() {
    let server = serve_health(None).await.unwrap();
    let addr = server.addr.to_string();
    let result = probe(&addr, &addr, &settings()).await;
    assert_eq!(result.plaintext, Answer::Serving, "{result:?}");
    assert!(
        matches!(
            result.tls,
            Answer::Failed {
                stage: FailedAt::Handshake,
                ..
            }
        ),
        "{result:?}"
    );
    assert_eq!(result.speaks(), Speaks::PlaintextOnly);
}

#[tokio::test]
async fn nothing_listening_is_unreachable_not_a_tls_verdict() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let result = probe(&addr, &addr, &settings()).await;
    assert!(matches!(
        result.plaintext,
        Answer::Failed {
            stage: FailedAt::Connect,
            ..
        }
    ));
    assert!(matches!(
        result.tls,
        Answer::Failed {
            stage: FailedAt::Connect,
            ..
        }
    ));
    assert_eq!(result.speaks(), Speaks::Unreachable);
}

#[tokio::test]
async fn a_silent_peer_times_out_within_the_timeout() {
    // Accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let quick = ProbeSettings::new(Duration::from_millis(300), None, None, false).unwrap();
    let started = std::time::Instant::now();
    let result = probe(&addr, &addr, &quick).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(
            result.plaintext,
            Answer::Failed {
                stage: FailedAt::Timeout,
                ..
            }
        ),
        "{result:?}"
    );
    assert!(
        matches!(
            result.tls,
            Answer::Failed {
                stage: FailedAt::Timeout,
                ..
            }
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn with_a_ca_file_the_tls_attempt_verifies_the_certificate() {
    let (cert, key) = self_signed().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &cert).unwrap();
    let server = serve_health(Some((cert, key))).await.unwrap();
    let addr = server.addr.to_string();
    let trusting =
        ProbeSettings::new(Duration::from_secs(2), Some(&ca), Some("localhost"), false).unwrap();
    assert_eq!(probe(&addr, &addr, &trusting).await.tls, Answer::Serving);

    // Another CA: the handshake is refused, and says so.
    let (other, _) = self_signed().unwrap();
    let other_ca = dir.path().join("other.pem");
    std::fs::write(&other_ca, other).unwrap();
    let distrusting = ProbeSettings::new(
        Duration::from_secs(2),
        Some(&other_ca),
        Some("localhost"),
        false,
    )
    .unwrap();
    let result = probe(&addr, &addr, &distrusting).await;
    assert!(
        matches!(
            result.tls,
            Answer::Failed {
                stage: FailedAt::Handshake,
                ..
            }
        ),
        "{result:?}"
    );
}

#[test]
fn a_bad_ca_file_is_an_error_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let e = ProbeSettings::new(Duration::from_secs(1), Some(&junk), None, false)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("probes.grpc_tls.ca_file"), "{e}");
}
