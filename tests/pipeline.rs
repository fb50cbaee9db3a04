//! The real pipeline through the real supervisor: a replay completes with the
//! expected counts; kill -9 of a stage mid-replay ends with the same order
//! log; a SIGSTOPped stage is found hung and restarted; a crash loop trips
//! the restart intensity; SIGTERM drains and leaves no segment behind.
//! Needs every binary built (`cargo test --workspace` does).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tickline_schema::telemetry::{get_str, PipelineStatus, StageStats};
use tickline_shm::BoardReader;

use tickline_e2e::{
    binary, have_tool, output_ok, pipeline_binaries, repo, synthetic_pipeline_config,
};

/// Two cores: one pipeline at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

struct Run {
    name: String,
    dir: PathBuf,
    config: PathBuf,
}

impl Run {
    /// A pipeline named after the test, over `events` synthetic events.
    fn new(tag: &str, events: u64, pace: &str, extra: &str) -> Run {
        pipeline_binaries();
        let name = format!("t{}-{tag}", std::process::id());
        let dir = std::env::temp_dir().join(format!("tickline-sup-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let text = synthetic_pipeline_config(
            &name,
            &dir.join("run"),
            events,
            pace,
            extra,
            &["--max-rate", "1000", "--passive", "--latency-ms", "1"],
            1000,
        );
        let config = dir.join("pipeline.toml");
        std::fs::write(&config, text).unwrap();
        Run { name, dir, config }
    }

    /// Rewrites the config: `from` replaced by `to` (which must be there).
    fn edit(&self, from: &str, to: &str) {
        let text = std::fs::read_to_string(&self.config).unwrap();
        assert!(text.contains(from), "{from:?} not in the config");
        std::fs::write(&self.config, text.replacen(from, to, 1)).unwrap();
    }

    fn start(&self) -> Child {
        self.start_with(&["--json"])
    }

    fn start_with(&self, flags: &[&str]) -> Child {
        Command::new(binary("tickline-supervisor"))
            .arg("run")
            .args(flags)
            .args(["--config", &self.config.display().to_string()])
            .current_dir(repo())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn journal(&self) -> String {
        std::fs::read_to_string(self.dir.join("run/orders.journal")).unwrap()
    }

    fn segments_left(&self) -> Vec<String> {
        let prefix = format!("tickline-{}-", self.name);
        std::fs::read_dir("/dev/shm")
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&prefix))
            .collect()
    }

    /// The pid of a stage, once the supervisor has started it.
    fn pid_of(&self, stage: &str) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(Instant::now() < deadline, "{stage} never started");
            if let Ok(b) =
                BoardReader::<PipelineStatus>::open(&format!("/tickline-{}-status", self.name))
            {
                if let Some((_, st)) = b.read() {
                    if let Some(s) = st
                        .stages
                        .iter()
                        .find(|s| get_str(&s.name) == stage && s.pid != 0)
                    {
                        return s.pid;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Messages the router has taken so far (its input queue's head).
    fn routed(&self) -> u64 {
        tickline_shm::QueueView::open(&format!("/tickline-{}-q-predictions", self.name))
            .map(|v| v.status().head)
            .unwrap_or(0)
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn summary(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "no summary ({e}): {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn finish(c: Child) -> (Output, serde_json::Value) {
    let out = c.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "supervisor failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = summary(&out);
    (out, s)
}

const N: u64 = 20_000;

#[test]
fn a_replay_completes_with_every_event_accounted_for() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let run = Run::new("full", N, "max", "");
    let (_, s) = finish(run.start());
    let st = &s["stages"];
    assert_eq!(st["feed-handler"]["stage_summary"]["published"], N);
    assert_eq!(st["feature"]["stage_summary"]["published"], N);
    assert_eq!(st["inference"]["stage_summary"]["predictions"], N);
    assert_eq!(st["order-router"]["stage_summary"]["predictions"], N);
    assert!(
        st["order-router"]["stage_summary"]["orders"]
            .as_u64()
            .unwrap()
            > 10,
        "{s}"
    );
    for stage in ["feed-handler", "feature", "inference", "order-router"] {
        assert_eq!(st[stage]["state"], "done");
        assert_eq!(st[stage]["restarts"], 0);
        // Latency reached the supervisor through shared memory.
        assert_eq!(st[stage]["latency_ns"]["service"]["count"], N, "{stage}");
    }
    assert!(
        st["order-router"]["latency_ns"]["end_to_end"]["count"]
            .as_u64()
            .unwrap()
            > 0
    );
    // Every prediction's decision is timed, order or not.
    assert_eq!(
        st["order-router"]["latency_ns"]["tick_to_decision"]["count"],
        N
    );
    assert!(run.segments_left().is_empty());
    // The interval logs hold what the summary says, for `stats logs`.
    let stats = binary("tickline-stats");
    let svg = run.dir.join("lat.svg");
    let out = output_ok(
        Command::new(stats)
            .args(["--json", "logs"])
            .arg(run.dir.join("run"))
            .arg("--svg")
            .arg(&svg),
    );
    let logs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(logs["feature.service"]["count"], N);
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<polyline"));
}

#[test]
fn kill_9_of_a_stage_mid_replay_gives_the_same_order_log() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let reference = Run::new("ref", N, "max", "");
    let (_, s) = finish(reference.start());
    let want = reference.journal();
    assert!(
        want.lines().filter(|l| l.starts_with("O|")).count() > 10,
        "{s}"
    );
    for stage in ["feed-handler", "feature", "inference", "order-router"] {
        // Paced so that the kill lands mid-replay.
        let run = Run::new(&format!("k-{stage}"), N, "realtime:0.5", "");
        let child = run.start();
        let pid = run.pid_of(stage);
        let deadline = Instant::now() + Duration::from_secs(60);
        while run.routed() < N / 3 {
            assert!(Instant::now() < deadline, "no progress");
            std::thread::sleep(Duration::from_millis(5));
        }
        kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
        let (out, s) = finish(child);
        assert_eq!(s["stages"][stage]["restarts"], 1, "{s}");
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains(&format!("stage {stage} (pid {pid}) killed by signal 9")),
            "the kill is logged with its signal"
        );
        assert!(
            run.journal() == want,
            "order log after kill -9 of {stage} differs"
        );
        assert!(run.segments_left().is_empty());
    }
}

#[test]
fn a_stopped_stage_is_found_hung_and_restarted() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let run = Run::new("hang", N, "realtime:0.5", "");
    let child = run.start();
    let pid = run.pid_of("inference");
    while run.routed() < N / 4 {
        std::thread::sleep(Duration::from_millis(5));
    }
    kill(Pid::from_raw(pid as i32), Signal::SIGSTOP).unwrap();
    let (out, s) = finish(child);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("stage inference (pid {pid}) hung")),
        "{err}"
    );
    assert_eq!(s["stages"]["inference"]["hangs"], 1);
    assert_eq!(s["stages"]["inference"]["restarts"], 1);
    assert_eq!(
        s["stages"]["order-router"]["stage_summary"]["predictions"],
        N
    );
}

#[test]
fn a_crash_loop_trips_the_restart_intensity_limit() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let run = Run::new(
        "loop",
        N,
        "realtime:0.1",
        "[restart]\nbackoff_initial_ms = 20\nbackoff_max_ms = 100\nmax_restarts = 3\nwithin_s = 30\n",
    );
    // A model that does not exist: inference exits 1 at every start.
    let text = std::fs::read_to_string(&run.config)
        .unwrap()
        .replace("models/tickline-v1.onnx", "models/missing.onnx");
    std::fs::write(&run.config, text).unwrap();
    let started = Instant::now();
    let out = run.start().wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stage inference")
            && err.contains("exceed the restart intensity limit (3 in 30 s)"),
        "{err}"
    );
    // Its reason follows, from the stage's own stderr, on one line.
    let reason = err
        .lines()
        .find(|l| l.contains("  inference: tickline-inference: error:"))
        .unwrap_or_else(|| panic!("no reason in the log:\n{err}"));
    assert!(reason.contains("missing.onnx"), "{reason}");
    assert!(started.elapsed() < Duration::from_secs(30));
    let s = summary(&out);
    assert_eq!(s["stages"]["inference"]["state"], "failed");
    assert_eq!(s["stages"]["inference"]["restarts"], 3);
    assert!(run.segments_left().is_empty());
}

#[test]
fn sigterm_drains_and_leaves_no_segment_behind() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let run = Run::new("term", 10_000_000, "realtime:0.2", "");
    let child = run.start();
    run.pid_of("order-router");
    while run.routed() < 2_000 {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!run.segments_left().is_empty());
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let (_, s) = finish(child);
    let st = &s["stages"];
    let fed = st["feed-handler"]["stage_summary"]["published"]
        .as_u64()
        .unwrap();
    assert!(fed < 10_000_000);
    // Drained: everything the feed published reached the router.
    assert_eq!(st["order-router"]["stage_summary"]["predictions"], fed);
    assert!(run.segments_left().is_empty(), "{:?}", run.segments_left());
    assert!(run.dir.join("run/orders.journal").exists());
}

#[test]
fn the_source_starts_only_once_every_stage_is_warmed_up() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let run = Run::new("ready", 2_000, "max", "");
    // A long model warm-up: without the gate the feed would start at once.
    run.edit(
        r#"args = ["--model", "#,
        r#"args = ["--warmup-runs", "3000", "--model", "#,
    );
    let (out, s) = finish(run.start());
    let st = &s["stages"];
    let at = |stage: &str, k: &str| {
        st[stage][k]
            .as_f64()
            .unwrap_or_else(|| panic!("{stage} {k}: {s}"))
    };
    let feed_start = at("feed-handler", "started_at_ms");
    for stage in ["feature", "inference", "order-router"] {
        assert!(
            at(stage, "ready_at_ms") <= feed_start,
            "{stage} ready at {} ms, after the feed started at {feed_start} ms",
            at(stage, "ready_at_ms")
        );
    }
    let warm = at("inference", "ready_at_ms") - at("inference", "started_at_ms");
    assert!(
        warm > 20.0,
        "the warm-up took {warm} ms: the gate was not tested"
    );
    let log = String::from_utf8_lossy(&out.stderr);
    let ready = log
        .find("stage inference (pid")
        .and_then(|i| log[i..].find("ready after").map(|j| i + j));
    let started = log.find("started stage feed-handler");
    assert!(
        ready.is_some() && started.is_some() && ready < started,
        "{log}"
    );
    assert_eq!(st["order-router"]["stage_summary"]["predictions"], 2_000);
}

fn alive(pid: u32) -> bool {
    tickline_shm::process_alive(pid)
}

#[test]
fn kill_9_of_the_supervisor_stops_its_stages_and_a_new_one_resumes_the_run() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let reference = Run::new("sref", N, "max", "");
    finish(reference.start());
    let want = reference.journal();

    let run = Run::new("sup", N, "realtime:0.5", "");
    let mut child = run.start();
    let stages = ["feed-handler", "feature", "inference", "order-router"];
    let pids: Vec<u32> = stages.iter().map(|s| run.pid_of(s)).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while run.routed() < N / 3 {
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The stages die with it: none runs unsupervised.
    let killed = Instant::now();
    while pids.iter().any(|p| alive(*p)) {
        assert!(
            killed.elapsed() < Duration::from_millis(500),
            "stages still alive after the supervisor's death: {:?}",
            pids.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(run.routed() < N, "the kill landed mid-replay");
    assert!(!run.segments_left().is_empty(), "queues and state are kept");
    let (out, s) = finish(run.start());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("resuming the interrupted run"),
        "{s}"
    );
    assert!(run.journal() == want, "order log after the resume differs");
    assert!(run.segments_left().is_empty(), "{:?}", run.segments_left());
}

#[test]
fn a_failed_start_removes_what_it_created_and_names_the_blocker() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let run = Run::new("fail", 1_000, "max", "");
    // A live process writes the last stage's stats segment. Queues and the
    // other stats segments are created before that is found out; a failed
    // start must remove them again, and leave the blocker alone.
    let blocker = format!("/tickline-{}-stats-order-router", run.name);
    tickline_shm::create_counters::<StageStats>(&blocker).unwrap();
    let holder = tickline_shm::CountersWriter::<StageStats>::attach(&blocker).unwrap();
    let out = run.start().wait_with_output().unwrap();
    drop(holder);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&blocker) && err.contains(&format!("live pid {}", std::process::id())),
        "{err}"
    );
    let left = run.segments_left();
    tickline_shm::unlink(&blocker).unwrap();
    assert_eq!(
        left,
        vec![blocker[1..].to_string()],
        "only the blocker is left"
    );
}

#[test]
fn the_end_of_run_report_fits_a_screen() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let run = Run::new("report", 5_000, "max", "");
    let out = run.start_with(&[]).wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() <= 25, "{} lines:\n{text}", lines.len());
    assert!(lines[0].contains("finished"), "{text}");
    for stage in ["feed-handler", "feature", "inference", "order-router"] {
        let row = lines.iter().find(|l| l.starts_with(stage)).unwrap();
        assert!(row.contains("5,000"), "{row}");
    }
    // Replayed unpaced ("max"): the latency line says it is backlog.
    let backlog =
        "tick to decision (unpaced replay: latency includes queue backlog; see throughput): p50 ";
    for want in [backlog, "orders ", "PnL ", "throughput: "] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
    // The JSON is still all there.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.dir.join("run/summary.json")).unwrap())
            .unwrap();
    assert_eq!(
        json["stages"]["order-router"]["stage_summary"]["predictions"],
        5_000
    );

    // Its interval logs plot, as PNG and SVG (PNG labels need a system font).
    let font = Path::new("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf").exists();
    if !have_tool("the DejaVu Sans font", font, "fonts-dejavu-core") {
        return;
    }
    let (png, svg, over) = (
        run.dir.join("p.png"),
        run.dir.join("p.svg"),
        run.dir.join("t.png"),
    );
    output_ok(
        Command::new(binary("tickline-stats"))
            .arg("logs")
            .arg(run.dir.join("run"))
            .arg("--png")
            .arg(&png)
            .arg("--svg")
            .arg(&svg)
            .arg("--over-time")
            .arg(&over),
    );
    for p in [&png, &over] {
        let bytes = std::fs::read(p).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
            "{}",
            p.display()
        );
    }
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("<svg") && text.contains("inference.service"));
}

#[test]
fn stats_live_in_a_terminal_shows_state_colours_and_p99_history() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let has_tmux = Command::new("tmux").arg("-V").output().is_ok();
    if !have_tool("tmux", has_tmux, "tmux") {
        return;
    }
    let run = Run::new("live", 10_000_000, "realtime:0.2", "");
    let child = run.start();
    run.pid_of("order-router");
    while run.routed() < 2_000 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let session = format!("tickline-{}", run.name);
    let view = format!(
        "{} --config {} --refresh-ms 200",
        binary("tickline-stats").display(),
        run.config.display()
    );
    let tmux = |args: &[&str]| Command::new("tmux").args(args).output().unwrap();
    let started = tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "220",
        "-y",
        "30",
        &view,
    ]);
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    std::thread::sleep(Duration::from_millis(2_500));
    let screen = tmux(&["capture-pane", "-p", "-e", "-t", &session]);
    tmux(&["kill-session", "-t", &session]);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    finish(child);
    let text = String::from_utf8_lossy(&screen.stdout);
    assert!(
        text.contains("\x1b[32mrunning"),
        "no green running state:\n{text}"
    );
    let router = text
        .lines()
        .find(|l| l.starts_with("order-router"))
        .unwrap_or_else(|| panic!("no router row:\n{text}"));
    let bars = router.chars().filter(|c| ('▁'..='█').contains(c)).count();
    assert!(bars >= 5, "p99 history of 5+ windows: {router}");
}

/// Every file in `../shared/data` through the config for its format: every
/// event through every stage, and no input error.
#[test]
fn every_real_data_config_runs_with_no_input_errors() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    pipeline_binaries();
    for (config, events) in [
        ("itch", 11_883),
        ("lobster", 999),
        ("binance", 27_861),
        ("dbn", 49_995),
    ] {
        let dir =
            std::env::temp_dir().join(format!("tickline-real-{}-{config}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let text = std::fs::read_to_string(repo().join(format!("config/{config}.toml"))).unwrap();
        let name = format!("t{}-{config}", std::process::id());
        let text = text
            .replacen(
                &format!("name = \"{config}\""),
                &format!("name = \"{name}\""),
                1,
            )
            .replacen(
                &format!("run_dir = \"runs/{config}\""),
                &format!("run_dir = \"{}\"", dir.join("run").display()),
                1,
            );
        assert!(
            text.contains(&name) && !text.contains("runs/"),
            "{config}: {text}"
        );
        let path = dir.join("config.toml");
        std::fs::write(&path, text).unwrap();
        let child = Command::new(binary("tickline-supervisor"))
            .args(["run", "--json", "--config", &path.display().to_string()])
            .current_dir(repo())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (_, s) = finish(child);
        let feed = &s["stages"]["feed-handler"]["stage_summary"];
        assert_eq!(feed["errors"], serde_json::json!({}), "{config}: {feed}");
        assert_eq!(feed["events"], events, "{config}: {feed}");
        for q in ["book", "features", "predictions"] {
            assert_eq!(
                s["queues"][q]["committed"], events,
                "{config} queue {q}: {}",
                s["queues"]
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
