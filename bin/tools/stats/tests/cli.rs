//! The stats binary says what is wrong when there is nothing to read.
//! (Also makes `cargo test --workspace` build it for the supervisor's tests.)

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_tickline-stats");

#[test]
fn no_running_pipeline_and_no_logs_are_clear_errors() {
    let dir = std::env::temp_dir().join(format!("tickline-stats-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("p.toml");
    std::fs::write(
        &cfg,
        "name = \"nobody-runs-this\"\nrun_dir = \"x\"\n[[queue]]\nname = \"q\"\ntype = \"BookEvent\"\ncapacity = 2\n[[stage]]\nname = \"s\"\nbinary = \"feed-handler\"\noutput = \"q\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["--once", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no running pipeline"));
    let out = Command::new(BIN).arg("logs").arg(&dir).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no *.hlog interval logs"));
    let _ = std::fs::remove_dir_all(&dir);
}
