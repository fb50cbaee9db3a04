//! The supervisor's command line alone: `check` shows the commands a config
//! runs; a bad config is refused before anything starts, saying what is wrong.
//! (The pipeline itself is tested end to end in the top-level `tests/`.)

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_tickline-supervisor");

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn check_prints_each_stage_command_with_its_queues_and_board() {
    let out = Command::new(BIN)
        .args(["check", "--config", "config/pipeline.toml"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    for (line, stage) in lines
        .iter()
        .zip(["feed-handler", "feature", "inference", "order-router"])
    {
        let (bin, args) = line.split_once(' ').unwrap();
        assert!(bin.ends_with(&format!("tickline-{stage}")), "{line}");
        assert!(
            args.contains(&format!("--stats /tickline-default-stats-{stage}")),
            "{line}"
        );
    }
    assert!(lines[1]
        .contains("--in queue:/tickline-default-q-book --out queue:/tickline-default-q-features"));
}

#[test]
fn a_bad_config_is_refused_naming_the_line_and_the_value() {
    let dir = std::env::temp_dir().join(format!("tickline-sup-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = std::fs::read_to_string(repo().join("config/pipeline.toml")).unwrap();
    // The first stage's wait strategy, whatever it is, becomes "snooze".
    let at = good.find("wait = \"").expect("a wait strategy") + "wait = \"".len();
    let end = at + good[at..].find('"').unwrap();
    let bad = format!("{}snooze{}", &good[..at], &good[end..]);
    assert_ne!(bad, good);
    let path = dir.join("bad.toml");
    std::fs::write(&path, bad).unwrap();
    let out = Command::new(BIN)
        .arg("run")
        .arg("--config")
        .arg(&path)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let line = format!("line {}", good[..at].lines().count());
    assert!(
        err.contains("bad.toml")
            && err.contains(&line)
            && err.contains("unknown wait strategy \"snooze\""),
        "{err}"
    );
    assert!(!dir.join("runs").exists(), "nothing started");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_committed_config_is_valid() {
    let mut n = 0;
    for e in std::fs::read_dir(repo().join("config")).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let out = Command::new(BIN)
            .arg("check")
            .arg("--config")
            .arg(&path)
            .current_dir(repo())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        n += 1;
    }
    assert!(n >= 12, "configs checked: {n}");
}
