//! The tail, explained and contained, on the real binaries: a stage stopped
//! for 20 ms shows in the flight recorder as the slowest decisions, the
//! stall in that stage's hop and the cause its run state (`stopped`); and
//! with the signal-age guard on, the predictions caught behind a longer
//! stop are refused as `stale_signal`, journaled, and never become orders.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tickline_e2e::{
    binary, output_ok, pipeline_binaries, repo, synthetic_pipeline_config, wait_ok,
};
use tickline_shm::monotonic_ns;

/// A supervisor running a paced synthetic pipeline (10k events/s) with the
/// causes sampled every 1 ms; removed with its run when dropped.
struct Run {
    sup: Option<Child>,
    dir: PathBuf,
    cfg: PathBuf,
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(mut c) = self.sup.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(tag: &str, router_args: &[&str]) -> Run {
    pipeline_binaries();
    let name = format!("t{}-{tag}", std::process::id());
    let dir = std::env::temp_dir().join(format!("tickline-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut args = vec!["--slowest-interval-ms", "200", "--max-rate", "1000"];
    args.extend_from_slice(router_args);
    let text = synthetic_pipeline_config(
        &name,
        &dir.join("run"),
        200_000,
        "realtime",
        "",
        &args,
        1000,
    )
    .replace("synthetic:11:200000:2", "synthetic:11:200000:2:10000");
    let cfg = dir.join("pipeline.toml");
    std::fs::write(&cfg, text).unwrap();
    let sup = Command::new(binary("tickline-supervisor"))
        .args(["run", "--fresh", "--trace-causes", "--json", "--config"])
        .arg(&cfg)
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Run {
        sup: Some(sup),
        dir,
        cfg,
    }
}

impl Run {
    fn stats(&self, args: &[&str]) -> serde_json::Value {
        let out = output_ok(
            Command::new(binary("tickline-stats"))
                .arg("--config")
                .arg(&self.cfg)
                .arg("--json")
                .args(args),
        );
        serde_json::from_slice(&out.stdout).expect("stats prints JSON")
    }

    /// The pid of a stage once decisions flow (the flight recorder has
    /// closed two intervals, so the sampler has a baseline).
    fn warmed_up_pid(&self, stage: &str) -> i32 {
        let log = self.dir.join("run/slowest.jsonl");
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::fs::read_to_string(&log).map_or(0, |t| t.lines().count()) < 3 {
            assert!(Instant::now() < deadline, "no intervals logged");
            std::thread::sleep(Duration::from_millis(50));
        }
        let s = self.stats(&["--once", "--refresh-ms", "50"]);
        let st = s["stages"].as_array().unwrap();
        let st = st.iter().find(|x| x["stage"] == stage).unwrap();
        st["pid"].as_i64().unwrap() as i32
    }

    /// Stops `pid` for `ms` (SIGSTOP, then SIGCONT): when, in
    /// CLOCK_MONOTONIC ns (the clock of every stamp).
    fn stall(pid: i32, ms: u64) -> (u64, u64) {
        kill(Pid::from_raw(pid), Signal::SIGSTOP).unwrap();
        let stopped = monotonic_ns();
        std::thread::sleep(Duration::from_millis(ms));
        let resumed = monotonic_ns();
        kill(Pid::from_raw(pid), Signal::SIGCONT).unwrap();
        (stopped, resumed)
    }

    /// `stats ARGS` as JSON; None once the pipeline is gone.
    fn try_stats(&self, args: &[&str]) -> Option<serde_json::Value> {
        let out = Command::new(binary("tickline-stats"))
            .arg("--config")
            .arg(&self.cfg)
            .arg("--json")
            .args(args)
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).expect("stats prints JSON"))
    }

    /// Every slow decision in the run's log, read as `logs --slowest` does.
    fn logged_slowest(&self) -> serde_json::Value {
        let out = output_ok(
            Command::new(binary("tickline-stats"))
                .args(["--json", "logs"])
                .arg(self.dir.join("run"))
                .args(["--slowest", "-n", "100000"]),
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn finish(&mut self) -> serde_json::Value {
        let out = wait_ok(self.sup.take().unwrap());
        serde_json::from_slice(&out.stdout).expect("the supervisor's --json summary")
    }
}

/// The slowest decision caught behind a stop of the inference stage: fed to
/// it before it resumed, handed on after, 10 ms or more of it in the stop.
fn caught_behind(
    rows: &serde_json::Value,
    stopped: u64,
    resumed: u64,
) -> Option<serde_json::Value> {
    rows.as_array()?
        .iter()
        .find(|r| {
            let fed = r["stamps"][1].as_u64().unwrap();
            let inferred = r["stamps"][2].as_u64().unwrap();
            fed < resumed && inferred >= resumed && inferred - fed.max(stopped) >= 10_000_000
        })
        .cloned()
}

#[test]
fn a_stopped_stage_shows_as_the_slowest_hop_with_its_run_state_as_the_cause() {
    let mut run = start("stall", &[]);
    let pid = run.warmed_up_pid("inference");
    let (stopped, resumed) = Run::stall(pid, 20);
    // Live: `tickline-stats slowest` shows the events caught behind the
    // stop, once their interval is logged.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut live = true;
    let top = loop {
        // Live while the pipeline runs; its log once it has ended.
        let rows = match run.try_stats(&["slowest", "-n", "100000"]) {
            Some(rows) => rows,
            None => {
                live = false;
                run.logged_slowest()
            }
        };
        if let Some(t) = caught_behind(&rows, stopped, resumed) {
            break t;
        }
        let after: Vec<_> = rows
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["decided_ns"].as_u64().unwrap() > stopped)
            .map(|r| (&r["seq"], &r["stamps"], &r["total_ns"]))
            .collect();
        assert!(
            live && Instant::now() < deadline,
            "no decision caught by the stop ({stopped}..{resumed}); after it: {after:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(top["slowest_hop"], "inference", "{top:#}");
    assert!(
        top["hops_ns"]["inference"].as_u64().unwrap() >= 10_000_000,
        "{top:#}"
    );
    let a = &top["attribution"];
    assert_eq!(
        (a["cause"].as_str(), a["stage"].as_str()),
        (Some("stopped"), Some("inference")),
        "{top:#}"
    );
    assert!(
        a["evidence"]["states"].as_str().unwrap().contains('T'),
        "{top:#}"
    );
    assert!(
        live,
        "the pipeline ended before its slowest decisions were shown live"
    );
    // The table marks the slowest hop.
    let text = output_ok(
        Command::new(binary("tickline-stats"))
            .arg("--config")
            .arg(&run.cfg)
            .args(["slowest", "-n", "100000"]),
    );
    let text = String::from_utf8_lossy(&text.stdout);
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with(&top["seq"].to_string()))
        .unwrap_or_else(|| panic!("{} not in\n{text}", top["seq"]));
    assert!(
        row.contains("ms*") && row.contains("stopped (inference)"),
        "{row}"
    );

    // The finished run: the summary counts it, and the log reads back.
    let summary = run.finish();
    let slow = &summary["slow_decisions"];
    assert!(
        slow["over_1ms"]["causes"]["stopped"].as_u64().unwrap() >= 1,
        "{slow:#}"
    );
    let logged = run.logged_slowest();
    let again = logged
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["seq"] == top["seq"]);
    assert_eq!(
        again,
        Some(&top),
        "the finished run's log holds what was shown live"
    );
}

#[test]
fn predictions_caught_behind_a_stall_past_the_guard_are_refused_not_traded() {
    let mut run = start("stale", &["--max-signal-age-us", "5000"]);
    let pid = run.warmed_up_pid("inference");
    Run::stall(pid, 60);
    let summary = run.finish();
    let router = &summary["stages"]["order-router"]["stage_summary"];
    let refused = router["rejects"]["stale_signal"].as_u64().unwrap_or(0);
    // 60 ms at 10k events/s: hundreds of predictions waited past 5 ms.
    assert!(refused >= 50, "{router:#}");
    let dump = output_ok(
        Command::new(binary("tickline-journal"))
            .args(["dump", "--json"])
            .arg(run.dir.join("run/orders.journal")),
    );
    let records: Vec<serde_json::Value> = String::from_utf8_lossy(&dump.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let stale: Vec<u64> = records
        .iter()
        .filter_map(|r| {
            let x = r.get("reject")?;
            (x["reason"] == "stale_signal").then(|| x["seq"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(stale.len() as u64, refused, "each refusal journaled once");
    let ordered: std::collections::HashSet<u64> = records
        .iter()
        .filter_map(|r| r.get("order")?["seq"].as_u64())
        .collect();
    assert!(
        stale.iter().all(|s| !ordered.contains(s)),
        "an order on a stale signal"
    );
    assert!(!ordered.is_empty(), "fresh signals still trade");
    // Its age is journaled: past the guard.
    assert!(records
        .iter()
        .filter_map(|r| r.get("reject"))
        .all(|x| x["age_ns"].as_u64().unwrap() > 5_000_000));
}
