//! A host of its own for spanflow: a network namespace made with iproute2 (`ip netns add`;
//! root needed, as in CI), joined to the test's namespace by two veth pairs — a data link,
//! over which spanflow reaches its targets and its DNS server, and a management link, over
//! which the test reads spanflow's `/metrics`. The data link can be cut (link down), slowed
//! (`tc qdisc … tbf`) or given another address while the management link stays up. The
//! namespace and both links are removed on drop, whatever the test did.
//!
//! Addresses: the data link is 10.202.N.0/24 (the test's side .1, spanflow's .2), the
//! management link 10.201.N.0/24 (same), N distinct per host made by this process.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static MADE: AtomicU32 = AtomicU32::new(0);

/// Runs `ip`/`tc` with `args`, panicking with its output when it fails.
pub fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (Debian iproute2; scripts/test.sh checks it)"));
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub struct Host {
    /// The namespace's name, for `ip netns exec`.
    pub name: String,
    /// The data link's interface on the test's side.
    pub data_if: String,
    /// `10.202.N`.
    data_net: String,
    /// `10.201.N`.
    management_net: String,
}

impl Host {
    /// A namespace with both links up; panics (naming the command) when it cannot be made.
    pub fn new() -> Host {
        assert!(
            is_root(),
            "the network-namespace tests need root (CI runs as root)"
        );
        let n = (std::process::id() % 200) * 10 + MADE.fetch_add(1, Ordering::SeqCst) % 10;
        let net = n % 250 + 1;
        let host = Host {
            name: format!("spanflow-{n}"),
            data_if: format!("sfd{n}"),
            data_net: format!("10.202.{net}"),
            management_net: format!("10.201.{net}"),
        };
        let _ = Command::new("ip")
            .args(["netns", "del", &host.name])
            .output();
        run("ip", &["netns", "add", &host.name]);
        host.link(&host.data_if, &format!("sfdp{n}"), &host.data_net);
        host.link(
            &format!("sfm{n}"),
            &format!("sfmp{n}"),
            &host.management_net,
        );
        host.exec(&["ip", "link", "set", "lo", "up"]);
        host
    }

    /// A veth pair `ours`–`theirs`, `theirs` moved into the namespace, `net.1` and `net.2`.
    fn link(&self, ours: &str, theirs: &str, net: &str) {
        let _ = Command::new("ip").args(["link", "del", ours]).output();
        run(
            "ip",
            &["link", "add", ours, "type", "veth", "peer", "name", theirs],
        );
        run("ip", &["link", "set", theirs, "netns", &self.name]);
        run("ip", &["addr", "add", &format!("{net}.1/24"), "dev", ours]);
        run("ip", &["link", "set", ours, "up"]);
        self.exec(&["ip", "addr", "add", &format!("{net}.2/24"), "dev", theirs]);
        self.exec(&["ip", "link", "set", theirs, "up"]);
    }

    /// Runs a command inside the namespace.
    pub fn exec(&self, command: &[&str]) {
        let mut args = vec!["netns", "exec", &self.name];
        args.extend_from_slice(command);
        run("ip", &args);
    }

    /// The test's address on the data link (where targets listen): `10.202.N.<last>`.
    pub fn data_address(&self, last: u8) -> String {
        format!("{}.{last}", self.data_net)
    }

    /// Where spanflow serves inside the namespace.
    pub fn management_listen(&self) -> String {
        format!("{}.2:9464", self.management_net)
    }

    /// Brings the data link down (a partition: packets are dropped, nothing answers) or up.
    pub fn set_data_link(&self, up: bool) {
        run(
            "ip",
            &["link", "set", &self.data_if, if up { "up" } else { "down" }],
        );
    }

    /// Limits what the data link carries towards spanflow to `rate` (tc's units, e.g.
    /// `200kbit`), queueing rather than dropping what is over it.
    pub fn limit_bandwidth(&self, rate: &str) {
        run(
            "tc",
            &[
                "qdisc",
                "replace",
                "dev",
                &self.data_if,
                "root",
                "tbf",
                "rate",
                rate,
                "burst",
                "4kb",
                "latency",
                "10s",
            ],
        );
    }

    pub fn unlimit_bandwidth(&self) {
        run("tc", &["qdisc", "del", "dev", &self.data_if, "root"]);
    }

    /// Gives the test's side of the data link one more address, `10.202.N.<last>`.
    pub fn add_data_address(&self, last: u8) -> String {
        let address = self.data_address(last);
        run(
            "ip",
            &[
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                &self.data_if,
            ],
        );
        address
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // Deleting the namespace deletes the veth ends in it, and so both pairs.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.data_if])
            .output();
    }
}

/// Whether this process runs as root (uid 0), read from /proc.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next().map(|u| u == "0"))
        .unwrap_or(false)
}
