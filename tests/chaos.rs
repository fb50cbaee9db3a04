//! The short form of `scripts/chaos.sh`: 20 random kill -9 over the stages
//! and the supervisor, and 2 hangs, during a paced replay of the synthetic
//! market; the journal, the feature vectors and every queue's counts must
//! equal an unkilled run's. The same with the venue simulator in the
//! pipeline (config/sim.toml, the router in lockstep with it): it is
//! killed too, and its reports must equal the unkilled run's as well.
//! Runs the binaries this test run built.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use tickline_e2e::{bin_dir, binary, pipeline_binaries};

/// Two cores: one chaos run at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// What scripts/chaos.sh printed for `config`; fails unless identical.
fn chaos(config: &str, tag: &str) -> String {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    pipeline_binaries();
    binary("tickline-venue-sim");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let work = std::env::temp_dir().join(format!("tickline-{tag}-{}", std::process::id()));
    let out = Command::new("bash")
        .arg(repo.join("scripts/chaos.sh"))
        .args(["--config", config])
        .args(["--kills", "20", "--hangs", "2", "--events", "200000"])
        // Found hung and replaced; the 1 s goal is the full run's (docs).
        .args(["--hang-limit-ms", "3000"])
        .arg("--bin")
        .arg(bin_dir())
        .arg("--work")
        .arg(&work)
        .args(["--name", &format!("t{}-{tag}", std::process::id())])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let _ = std::fs::remove_dir_all(&work);
    assert!(
        out.status.success() && text.contains("chaos: identical: yes"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn twenty_kills_over_every_process_change_nothing() {
    chaos("config/pipeline.toml", "chaos");
}

#[test]
fn twenty_kills_with_the_venue_simulator_in_lockstep_change_nothing() {
    let text = chaos("config/sim.toml", "chaos-sim");
    assert!(
        text.contains("venue reports identical (venue-reports.csv): yes"),
        "{text}"
    );
    assert!(
        text.contains("  venue-sim "),
        "the simulator is a target: {text}"
    );
}
