//! End-to-end tests of the whole pipeline live beside this file: each starts
//! the real binaries (built by `cargo test --workspace` into the same target
//! directory) through the real supervisor, kills them, and checks what came out.
#![forbid(unsafe_code)]

use std::path::PathBuf;

/// The directory the workspace's binaries are built into: the test
/// executable's `deps/` directory's parent.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let deps = exe.parent().expect("deps directory");
    deps.parent().expect("profile directory").to_path_buf()
}

/// A workspace binary by name, asserting it was built.
pub fn binary(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.is_file(),
        "{} is not built: run `cargo test --workspace` (or `cargo build` first)",
        p.display()
    );
    p
}

/// Asserts that the supervisor and the four stages are built.
pub fn pipeline_binaries() {
    for b in [
        "supervisor",
        "feed-handler",
        "feature",
        "inference",
        "order-router",
    ] {
        binary(&format!("tickline-{b}"));
    }
}
