//! End-to-end tests of the whole pipeline live beside this file: each starts
//! the real binaries (built by `cargo test --workspace` into the same target
//! directory) through the real supervisor, kills them, and checks what came out.
#![forbid(unsafe_code)]

use std::path::PathBuf;

/// The repository's root (configs, scripts and models are read from there).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

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

/// Whether an external tool that a check needs (from Debian package
/// `package`) is here. Where CI installed them (`TICKLINE_REQUIRE_TOOLS`
/// set) a missing one fails the test; elsewhere the check is skipped, said
/// in a note.
pub fn have_tool(what: &str, present: bool, package: &str) -> bool {
    if !present {
        assert!(
            std::env::var_os("TICKLINE_REQUIRE_TOOLS").is_none(),
            "{what} is required here (TICKLINE_REQUIRE_TOOLS) but not installed: Debian package {package}"
        );
        eprintln!("note: {what} not installed (Debian package {package}): its check is skipped");
    }
    present
}

/// The FIX venue (a QuickFIX C++ acceptor) and the benchmark's QuickFIX
/// initiator, built by `scripts/setup-fix.sh` into `target/fix`. Needs
/// Debian's libquickfix-dev: where it is missing the caller's check is
/// skipped, or fails where CI installed the tools.
pub fn fix_venue() -> Option<PathBuf> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let headers = std::path::Path::new("/usr/include/quickfix/Application.h").is_file();
    if !have_tool("QuickFIX (C++)", headers, "libquickfix-dev") {
        return None;
    }
    let status = std::process::Command::new(repo.join("scripts/setup-fix.sh"))
        .status()
        .expect("running scripts/setup-fix.sh");
    assert!(status.success(), "scripts/setup-fix.sh failed");
    Some(repo.join("target/fix/venue"))
}

/// A pipeline config over the synthetic market (two instruments, `events`
/// events paced at `pace`: `max` or `realtime:SPEED`), the committed model
/// and an order-router whose arguments after the common ones are
/// `router_args` (rate limit, venue...). `top` goes before the queues (a
/// `[restart]` table, for one). The four real stages, queues of 4096,
/// heartbeats of 1 s (the router's `router_heartbeat_ms`).
pub fn synthetic_pipeline_config(
    name: &str,
    run_dir: &std::path::Path,
    events: u64,
    pace: &str,
    top: &str,
    router_args: &[&str],
    router_heartbeat_ms: u64,
) -> String {
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/tickline-v1.onnx");
    let router_args: String = router_args.iter().map(|a| format!(", {a:?}")).collect();
    format!(
        r#"
name = "{name}"
run_dir = "{run}"
health_check_ms = 20
log_interval_ms = 200
{top}
[[queue]]
name = "book"
type = "BookEvent"
capacity = 4096
[[queue]]
name = "features"
type = "FeatureVector"
capacity = 4096
[[queue]]
name = "predictions"
type = "Prediction"
capacity = 4096
[[stage]]
name = "feed-handler"
binary = "tickline-feed-handler"
args = ["--source", "synthetic:11:{events}:2", "--pace", "{pace}"]
output = "book"
wait = "block:100:10"
[[stage]]
name = "feature"
binary = "tickline-feature"
args = ["--state", "{{state}}"]
input = "book"
output = "features"
wait = "block:100:10"
heartbeat_timeout_ms = 1000
[[stage]]
name = "inference"
binary = "tickline-inference"
args = ["--model", "{model}"]
input = "features"
output = "predictions"
wait = "block:100:10"
heartbeat_timeout_ms = 1000
[[stage]]
name = "order-router"
binary = "tickline-order-router"
args = ["--journal", "{{run_dir}}/orders.journal", "--fsync", "never", "--band", "0.05",
        "--sizing", "kelly:0.5:20", "--max-position", "10", "--max-order", "5",
        "--max-loss", "1e9"{router_args}]
input = "predictions"
wait = "block:100:10"
heartbeat_timeout_ms = {router_heartbeat_ms}
"#,
        run = run_dir.display(),
        model = model.display(),
    )
}

/// Runs a command to its end and asserts it succeeded, showing its stderr
/// if it did not.
pub fn output_ok(cmd: &mut std::process::Command) -> std::process::Output {
    let out = cmd.output().expect("spawning the command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Waits for a spawned child (stdout and stderr piped) and asserts it
/// succeeded, showing its stderr if it did not.
pub fn wait_ok(child: std::process::Child) -> std::process::Output {
    let out = child.wait_with_output().expect("waiting for the child");
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
