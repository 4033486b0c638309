//! Helpers shared by the integration tests: where `../shared` is, and real HTTP servers
//! on 127.0.0.1 that serve captured bodies.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;

/// `../shared` beside the repository. Tests read fixtures, conformance cases and corpora
/// from there; they are never copied into the repository.
pub fn shared() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared");
    assert!(
        dir.join("DESIGN.md").is_file(),
        "../shared is missing: clone the steering repo's shared/ beside this checkout ({} not found)",
        dir.display()
    );
    dir
}

pub fn read_shared(rel: &str) -> String {
    let path = shared().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}
