//! The short form of `scripts/chaos.sh`: 20 random kill -9 over the four
//! stages and the supervisor, and 2 hangs, during a paced replay of the
//! synthetic market; the journal, the feature vectors and every queue's
//! counts must equal an unkilled run's. Runs the binaries this test run built.

use std::path::Path;
use std::process::Command;

use tickline_e2e::{bin_dir, pipeline_binaries};

#[test]
fn twenty_kills_over_every_process_change_nothing() {
    pipeline_binaries();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let work = std::env::temp_dir().join(format!("tickline-chaos-{}", std::process::id()));
    let out = Command::new("bash")
        .arg(repo.join("scripts/chaos.sh"))
        .args(["--kills", "20", "--hangs", "2", "--events", "200000"])
        // Found hung and replaced; the 1 s goal is the full run's (docs).
        .args(["--hang-limit-ms", "3000"])
        .arg("--bin")
        .arg(bin_dir())
        .arg("--work")
        .arg(&work)
        .args(["--name", &format!("t{}-chaos", std::process::id())])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let _ = std::fs::remove_dir_all(&work);
    assert!(
        out.status.success() && text.contains("chaos: identical: yes"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
