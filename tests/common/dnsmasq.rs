//! A real DNS server for the discovery tests: Debian's `dnsmasq` (installed by
//! `scripts/test.sh`; its absence fails the test) on 127.0.0.1, answering for
//! `spanflow.test` from a hosts directory it re-reads on change, every answer with a TTL of
//! 0, every query logged (so a test can count what spanflow asked).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

const DNSMASQ: &str = "/usr/sbin/dnsmasq";

/// A dnsmasq answering for `spanflow.test` only (other names in it are NXDOMAIN), from a
/// hosts directory it re-reads when a file changes, with SRV records given at start.
pub struct Dnsmasq {
    pub port: u16,
    /// The address it listens on.
    listen: String,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Dnsmasq {
    pub async fn start(srv: &[String]) -> Dnsmasq {
        Dnsmasq::start_on("127.0.0.1", srv).await
    }

    /// As [`Dnsmasq::start`], listening on `listen` (an address of this host).
    pub async fn start_on(listen: &str, srv: &[String]) -> Dnsmasq {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("hosts")).unwrap();
        let mut dns = Dnsmasq {
            port: super::free_port(),
            listen: listen.to_owned(),
            dir,
            child: None,
        };
        dns.spawn(srv).await;
        dns
    }

    pub fn hosts(&self) -> PathBuf {
        self.dir.path().join("hosts")
    }

    /// (Re)starts the server on its port with these SRV records.
    pub async fn spawn(&mut self, srv: &[String]) {
        self.spawn_with(srv, &[]).await;
    }

    /// (Re)starts the server with these SRV records and `extra` options (`--server=…`).
    pub async fn spawn_with(&mut self, srv: &[String], extra: &[String]) {
        self.stop().await;
        assert!(
            Path::new(DNSMASQ).exists(),
            "{DNSMASQ} missing: apt-get install dnsmasq (scripts/test.sh does)"
        );
        let log = self.dir.path().join("dnsmasq.log");
        let mut args = vec![
            "--keep-in-foreground".to_owned(),
            "--log-facility=-".to_owned(),
            format!("--port={}", self.port),
            "--log-queries".to_owned(),
            format!("--listen-address={}", self.listen),
            "--bind-interfaces".to_owned(),
            "--no-resolv".to_owned(),
            "--no-hosts".to_owned(),
            "--no-poll".to_owned(),
            "--conf-file=/dev/null".to_owned(),
            format!("--hostsdir={}", self.hosts().display()),
            "--local=/spanflow.test/".to_owned(),
            "--local-ttl=0".to_owned(),
            "--user=root".to_owned(),
            "--pid-file=".to_owned(),
        ];
        args.extend(srv.iter().map(|r| format!("--srv-host={r}")));
        args.extend(extra.iter().cloned());
        let child = Command::new(DNSMASQ)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{DNSMASQ}: {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.log();
            if text.contains("started") && !text.contains("failed") {
                return;
            }
            assert!(
                Instant::now() < deadline && !text.contains("failed"),
                "dnsmasq did not start:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }

    /// Writes one hosts file (`ip name` lines), whole, as a rename: dnsmasq sees it at once.
    pub fn set_hosts(&self, file: &str, lines: &str) {
        let staged = self.dir.path().join(format!("{file}.new"));
        std::fs::write(&staged, lines).unwrap();
        std::fs::rename(&staged, self.hosts().join(file)).unwrap();
    }

    pub fn nameserver(&self) -> String {
        format!("{}:{}", self.listen, self.port)
    }
}

impl Dnsmasq {
    /// Its log since it was last (re)started: start-up lines, then one `query[…]` line per
    /// question.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dnsmasq.log")).unwrap_or_default()
    }

    /// How many `qtype` questions for `name` it was asked so far.
    pub fn queries(&self, qtype: &str, name: &str) -> usize {
        let line = format!("query[{qtype}] {name} from");
        self.log().lines().filter(|l| l.contains(&line)).count()
    }
}
