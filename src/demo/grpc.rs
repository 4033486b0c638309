//! A real gRPC server on loopback with the standard health service (`grpc.health.v1`),
//! speaking plaintext or TLS only — the demo's Tempo ingester, and the peer of the probe
//! tests. TLS uses a self-signed certificate made at start, as a Tempo with
//! `server.grpc_tls_config` and a private CA would present.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

/// A running health server; dropping it stops the server.
pub struct HealthServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Drop for HealthServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}

/// A self-signed certificate and key, PEM, for `localhost` and `127.0.0.1`.
pub fn self_signed() -> Result<(String, String), rcgen::Error> {
    let key = rcgen::KeyPair::generate()?;
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Starts a health server on `127.0.0.1:0` reporting `SERVING`; over TLS only when a
/// certificate and key (PEM) are given.
pub async fn serve_health(tls: Option<(String, String)>) -> std::io::Result<HealthServer> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let mut builder = Server::builder();
    if let Some((cert, key)) = tls {
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(Identity::from_pem(cert, key)))
            .map_err(std::io::Error::other)?;
    }
    let (stop, stopped) = oneshot::channel::<()>();
    let incoming = TcpIncoming::from(listener);
    let task = tokio::spawn(async move {
        // Keeps the reporter alive with the server.
        let _reporter = reporter;
        let result = builder
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stopped.await;
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "demo gRPC health server stopped");
        }
    });
    Ok(HealthServer {
        addr,
        stop: Some(stop),
        task,
    })
}
