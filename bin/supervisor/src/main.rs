//! supervisor: creates a pipeline's queues and boards, launches its stages,
//! restarts what dies or hangs (backoff, restart intensity), drains and
//! stops it cleanly on SIGINT/SIGTERM or at the end of a replay, and
//! collects each stage's latency histograms into interval logs.
#![forbid(unsafe_code)]

mod latency;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tickline_pipeline::{PipelineConfig, QueueType, RestartDecision, RestartTracker, StageConfig};
use tickline_schema::telemetry::{put_str, PipelineStatus, StageState, StageStats};
use tickline_schema::{BookEvent, FeatureVector, Order, Prediction};
use tickline_shm::{
    create_board, create_or_reclaim, monotonic_ns, unlink, BoardReader, BoardWriter, Message,
    QueueError, QueueView,
};

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a pipeline until its replay ends or SIGINT/SIGTERM.
    Run {
        #[arg(long, default_value = "config/pipeline.toml")]
        config: PathBuf,
    },
    /// Check a config and print the commands it would run.
    Check {
        #[arg(long, default_value = "config/pipeline.toml")]
        config: PathBuf,
    },
}

/// Timestamped log lines to stderr and to `run_dir/supervisor.log`.
struct Log {
    start: Instant,
    file: File,
}

impl Log {
    fn say(&mut self, msg: &str) {
        let line = format!(
            "[supervisor +{:.3}s] {msg}",
            self.start.elapsed().as_secs_f64()
        );
        eprintln!("{line}");
        let _ = writeln!(self.file, "{line}");
    }
}

struct Stage {
    cfg: StageConfig,
    binary: PathBuf,
    args: Vec<String>,
    proc: Option<Child>,
    state: StageState,
    tracker: RestartTracker,
    hangs: u32,
    last_exit: i32,
    restart_at: Option<Instant>,
    /// monotonic ns of the last spawn: heartbeats older than it are a predecessor's.
    spawned_ns: u64,
    /// We asked it to stop (drain done, shutdown or giving up).
    term_sent: Option<Instant>,
    killed_for_hang: bool,
}

fn describe(status: ExitStatus) -> (i32, String) {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => (c, format!("exited with code {c}")),
        (None, Some(s)) => {
            let name = Signal::try_from(s).map(|s| s.as_str()).unwrap_or("?");
            (128 + s, format!("killed by signal {s} ({name})"))
        }
        _ => (-1, "ended".into()),
    }
}

/// A stage binary: beside our own executable, else as given (PATH or a path).
fn resolve_binary(b: &str) -> PathBuf {
    if !b.contains('/') {
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
        {
            let beside = dir.join(b);
            if beside.is_file() {
                return beside;
            }
        }
    }
    PathBuf::from(b)
}

fn create_queue(kind: QueueType, name: &str, cap: usize) -> Result<Option<String>, QueueError> {
    Ok(match kind {
        QueueType::BookEvent => create_or_reclaim::<BookEvent>(name, cap)?.1,
        QueueType::FeatureVector => create_or_reclaim::<FeatureVector>(name, cap)?.1,
        QueueType::Prediction => create_or_reclaim::<Prediction>(name, cap)?.1,
        QueueType::Order => create_or_reclaim::<Order>(name, cap)?.1,
    })
}

/// A board, removing a leftover one unless its writer is still alive.
fn create_board_or_reclaim<T: Message>(name: &str, log: &mut Log) -> Result<()> {
    match create_board::<T>(name) {
        Ok(_) => return Ok(()),
        Err(QueueError::AlreadyExists(_)) => {}
        Err(e) => return Err(e.into()),
    }
    if let Ok(b) = BoardReader::<T>::open(name) {
        if let Some(w) = b.writer().filter(|w| w.alive) {
            bail!(
                "board {name} is still written by live pid {}: is this pipeline already running?",
                w.pid
            );
        }
    }
    unlink(name)?;
    log.say(&format!(
        "removed stale segment {name} of a crashed earlier run"
    ));
    create_board::<T>(name)?;
    Ok(())
}

fn last_json_line(path: &Path) -> serde_json::Value {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            t.lines().rev().find_map(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .ok()
                    .filter(|v| v.get("stage").is_some())
            })
        })
        .unwrap_or(serde_json::Value::Null)
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Check { config } => {
            let cfg = PipelineConfig::load(&config)?;
            for s in &cfg.stages {
                println!(
                    "{} {}",
                    resolve_binary(&s.binary).display(),
                    cfg.stage_args(s).join(" ")
                );
            }
            Ok(())
        }
        Cmd::Run { config } => {
            let cfg = PipelineConfig::load(&config)?;
            let code = run(cfg)?;
            std::process::exit(code);
        }
    }
}

fn run(cfg: PipelineConfig) -> Result<i32> {
    // A new run starts a new journal; the previous run is kept beside it.
    if cfg.run_dir.exists() {
        let prev = PathBuf::from(format!("{}.prev", cfg.run_dir.display()));
        let _ = std::fs::remove_dir_all(&prev);
        std::fs::rename(&cfg.run_dir, &prev)
            .with_context(|| format!("moving the previous run to {}", prev.display()))?;
    }
    std::fs::create_dir_all(&cfg.run_dir)
        .with_context(|| format!("creating run_dir {}", cfg.run_dir.display()))?;
    let mut log = Log {
        start: Instant::now(),
        file: OpenOptions::new()
            .create(true)
            .append(true)
            .open(cfg.run_dir.join("supervisor.log"))?,
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }

    // Segments: ours from now on. Stale ones of a crashed run are removed,
    // unless a live process still holds them.
    for q in &cfg.queues {
        let seg = cfg.queue_segment(&q.name);
        match create_queue(q.kind, &seg, q.capacity) {
            Ok(Some(reason)) => log.say(&format!("removed {seg}: {reason}")),
            Ok(None) => {}
            Err(QueueError::RoleTaken { role, pid, .. }) => bail!(
                "queue {seg} is attached as {role} by live pid {pid}: is this pipeline already running? Stop it first."
            ),
            Err(e) => return Err(e).context(format!("creating queue {seg}")),
        }
    }
    for s in &cfg.stages {
        create_board_or_reclaim::<StageStats>(&cfg.stats_segment(&s.name), &mut log)?;
    }
    create_board_or_reclaim::<PipelineStatus>(&cfg.status_segment(), &mut log)?;
    let result = supervise(&cfg, &stop, &mut log);
    for seg in cfg.segments() {
        let _ = unlink(&seg);
    }
    log.say("segments removed");
    result
}

fn supervise(cfg: &PipelineConfig, stop: &AtomicBool, log: &mut Log) -> Result<i32> {
    let mut status_board = BoardWriter::<PipelineStatus>::attach(&cfg.status_segment())?;
    let mut status: Box<PipelineStatus> = bytemuck::allocation::zeroed_box();
    status.supervisor_pid = std::process::id();
    status.n_stages = cfg.stages.len() as u32;
    status.started_ns = monotonic_ns();
    put_str(&mut status.run_dir, &cfg.run_dir.display().to_string());

    let mut stages: Vec<Stage> = cfg
        .stages
        .iter()
        .map(|s| Stage {
            binary: resolve_binary(&s.binary),
            args: cfg.stage_args(s),
            cfg: s.clone(),
            proc: None,
            state: StageState::NotStarted,
            tracker: RestartTracker::new(cfg.restart.clone()),
            hangs: 0,
            last_exit: -1,
            restart_at: Some(Instant::now()),
            spawned_ns: 0,
            term_sent: None,
            killed_for_hang: false,
        })
        .collect();
    let views: Vec<(Option<QueueView>, Option<QueueView>)> = cfg
        .stages
        .iter()
        .map(|s| {
            let v = |q: &Option<String>| {
                q.as_ref()
                    .map(|q| QueueView::open(&cfg.queue_segment(q)))
                    .transpose()
            };
            Ok((v(&s.input)?, v(&s.output)?))
        })
        .collect::<Result<_, QueueError>>()?;
    // Which stage feeds a stage's input.
    let upstream: Vec<Option<usize>> = cfg
        .stages
        .iter()
        .map(|s| {
            s.input
                .as_ref()
                .and_then(|q| cfg.stages.iter().position(|t| t.output.as_ref() == Some(q)))
        })
        .collect();
    let mut latency = latency::Collector::new(cfg)?;
    let mut stopping = false;
    let mut failed: Option<String> = None;
    let mut upstream_done_at: Vec<Option<Instant>> = vec![None; stages.len()];
    let tick = Duration::from_millis(cfg.health_check_ms.max(1));
    loop {
        if stop.load(Ordering::Relaxed) && !stopping {
            stopping = true;
            log.say("shutdown requested: stopping the sources, then draining each queue");
            for s in stages.iter_mut().filter(|s| s.cfg.input.is_none()) {
                terminate(s, log);
            }
        }
        let now = Instant::now();
        for (i, s) in stages.iter_mut().enumerate() {
            // Exits.
            if let Some(p) = &mut s.proc {
                if let Some(st) = p.try_wait()? {
                    let pid = p.id();
                    s.proc = None;
                    let (code, how) = describe(st);
                    s.last_exit = code;
                    let asked = s.term_sent.is_some();
                    let finished_replay = s.cfg.input.is_none() && code == 0 && !s.killed_for_hang;
                    if failed.is_some() || asked || finished_replay {
                        s.state = if code == 0 {
                            StageState::Done
                        } else {
                            StageState::Stopped
                        };
                        log.say(&format!(
                            "stage {} (pid {pid}) {how}{}",
                            s.cfg.name,
                            if finished_replay && !asked {
                                ": its input is finished"
                            } else {
                                ""
                            }
                        ));
                        continue;
                    }
                    let why = if s.killed_for_hang {
                        " after hanging"
                    } else {
                        ""
                    };
                    s.killed_for_hang = false;
                    match s.tracker.on_exit(monotonic_ns()) {
                        RestartDecision::After(d) => {
                            s.state = StageState::Backoff;
                            s.restart_at = Some(now + d);
                            log.say(&format!(
                                "stage {} (pid {pid}) {how}{why}; restart {} in {} ms",
                                s.cfg.name,
                                s.tracker.total,
                                d.as_millis()
                            ));
                        }
                        RestartDecision::GiveUp { restarts, within } => {
                            s.state = StageState::Failed;
                            let msg = format!(
                                "stage {} (pid {pid}) {how}{why}: {restarts} exits within {} s exceed the restart intensity limit ({} in {} s); stopping the pipeline",
                                s.cfg.name, within.as_secs(), cfg.restart.max_restarts, cfg.restart.within_s
                            );
                            log.say(&msg);
                            failed = Some(msg);
                        }
                    }
                }
            }
            // Starts and restarts.
            if s.proc.is_none()
                && failed.is_none()
                && matches!(s.state, StageState::NotStarted | StageState::Backoff)
                && s.restart_at.is_some_and(|t| t <= now)
            {
                s.restart_at = None;
                spawn(cfg, s, log)?;
            }
            // Hangs: input waiting, no heartbeat, and not just blocked on a full output.
            if let (Some(p), (Some(input), output)) = (&s.proc, &views[i]) {
                let st = input.status();
                let beat = st
                    .consumer
                    .as_ref()
                    .filter(|c| c.pid == p.id())
                    .map_or(0, |c| c.heartbeat_ns)
                    .max(s.spawned_ns);
                let silent_ms = monotonic_ns().saturating_sub(beat) / 1_000_000;
                let out_full = output.as_ref().is_some_and(|o| {
                    let os = o.status();
                    os.depth() >= o.layout().capacity
                });
                if st.depth() > 0
                    && silent_ms > s.cfg.heartbeat_timeout_ms
                    && !out_full
                    && s.term_sent.is_none()
                {
                    s.hangs += 1;
                    s.killed_for_hang = true;
                    log.say(&format!(
                        "stage {} (pid {}) hung: no heartbeat for {silent_ms} ms with {} messages waiting; killing it",
                        s.cfg.name, p.id(), st.depth()
                    ));
                    let _ = kill(Pid::from_raw(p.id() as i32), Signal::SIGKILL);
                }
            }
        }
        // Drain: once a stage's upstream has finished and its input is empty, stop it.
        for i in 0..stages.len() {
            let Some(up) = upstream[i] else { continue };
            let up_finished = matches!(
                stages[up].state,
                StageState::Done | StageState::Stopped | StageState::Failed
            ) && stages[up].proc.is_none();
            if !up_finished || stages[i].term_sent.is_some() || stages[i].proc.is_none() {
                continue;
            }
            let since = *upstream_done_at[i].get_or_insert(now);
            let empty = views[i].0.as_ref().is_some_and(|v| v.status().depth() == 0);
            if empty || now - since > Duration::from_secs(cfg.drain_timeout_s) {
                if !empty {
                    log.say(&format!(
                        "stage {}: input not drained after {} s, stopping it anyway",
                        stages[i].cfg.name, cfg.drain_timeout_s
                    ));
                }
                terminate(&mut stages[i], log);
            }
        }
        // A stage that ended for good with no process: nothing to drain into it.
        for i in 0..stages.len() {
            if let Some(up) = upstream[i] {
                if stages[up].state == StageState::Failed
                    && stages[i].proc.is_none()
                    && stages[i].state == StageState::Backoff
                {
                    stages[i].state = StageState::Stopped;
                }
            }
        }
        if failed.is_some() {
            for s in stages.iter_mut() {
                if s.proc.is_some() && s.term_sent.is_none() {
                    terminate(s, log);
                }
                if s.proc.is_none()
                    && matches!(s.state, StageState::Backoff | StageState::NotStarted)
                {
                    s.state = StageState::Stopped;
                }
            }
        }
        // SIGKILL what ignores SIGTERM for 10 s.
        for s in stages.iter_mut() {
            if let (Some(p), Some(t)) = (&s.proc, s.term_sent) {
                if now - t > Duration::from_secs(10) {
                    log.say(&format!(
                        "stage {} (pid {}) ignored SIGTERM for 10 s; killing it",
                        s.cfg.name,
                        p.id()
                    ));
                    let _ = kill(Pid::from_raw(p.id() as i32), Signal::SIGKILL);
                    s.term_sent = Some(now);
                }
            }
        }
        for (i, s) in stages.iter().enumerate() {
            let st = &mut status.stages[i];
            put_str(&mut st.name, &s.cfg.name);
            let seg =
                |q: &Option<String>| q.as_ref().map(|q| cfg.queue_segment(q)).unwrap_or_default();
            put_str(&mut st.input, &seg(&s.cfg.input));
            put_str(&mut st.output, &seg(&s.cfg.output));
            put_str(&mut st.board, &cfg.stats_segment(&s.cfg.name));
            st.pid = s.proc.as_ref().map_or(0, |p| p.id());
            st.state = s.state as u32;
            st.restarts = s.tracker.total;
            st.hangs = s.hangs;
            st.last_exit = s.last_exit;
        }
        status_board.publish(&status);
        latency.poll(false)?;
        let all_ended = stages.iter().all(|s| {
            s.proc.is_none()
                && matches!(
                    s.state,
                    StageState::Done | StageState::Stopped | StageState::Failed
                )
        });
        if all_ended {
            break;
        }
        std::thread::sleep(tick);
    }
    latency.poll(true)?;
    let mut out = serde_json::Map::new();
    for s in &stages {
        out.insert(
            s.cfg.name.clone(),
            serde_json::json!({
                "state": s.state.name(),
                "restarts": s.tracker.total,
                "hangs": s.hangs,
                "last_exit": s.last_exit,
                "latency_ns": latency.summary(&s.cfg.name),
                "stage_summary": last_json_line(&cfg.run_dir.join(format!("{}.out", s.cfg.name))),
            }),
        );
    }
    let summary = serde_json::json!({
        "pipeline": cfg.name,
        "run_dir": cfg.run_dir.display().to_string(),
        "elapsed_s": log.start.elapsed().as_secs_f64(),
        "failed": failed,
        "stages": out,
    });
    std::fs::write(cfg.run_dir.join("summary.json"), format!("{summary:#}\n"))?;
    println!("{summary}");
    log.say(&format!(
        "{}; interval logs and summary in {}",
        if failed.is_some() {
            "pipeline stopped after a failure"
        } else {
            "pipeline finished"
        },
        cfg.run_dir.display()
    ));
    Ok(if failed.is_some() { 1 } else { 0 })
}

fn terminate(s: &mut Stage, log: &mut Log) {
    if let Some(p) = &s.proc {
        if s.term_sent.is_none() {
            log.say(&format!(
                "stopping stage {} (pid {}) with SIGTERM",
                s.cfg.name,
                p.id()
            ));
            let _ = kill(Pid::from_raw(p.id() as i32), Signal::SIGTERM);
            s.term_sent = Some(Instant::now());
        }
    } else if matches!(s.state, StageState::Backoff | StageState::NotStarted) {
        s.state = StageState::Stopped;
    }
}

fn spawn(cfg: &PipelineConfig, s: &mut Stage, log: &mut Log) -> Result<()> {
    let open = |ext: &str| -> Result<File> {
        Ok(OpenOptions::new()
            .create(true)
            .append(true)
            .open(cfg.run_dir.join(format!("{}.{ext}", s.cfg.name)))?)
    };
    let child = Command::new(&s.binary)
        .args(&s.args)
        .stdin(Stdio::null())
        .stdout(open("out")?)
        .stderr(open("err")?)
        .spawn()
        .with_context(|| format!("starting stage {} ({})", s.cfg.name, s.binary.display()))?;
    if let Some(cpu) = s.cfg.cpu {
        let mut set = nix::sched::CpuSet::new();
        let pinned = set
            .set(cpu)
            .and_then(|_| nix::sched::sched_setaffinity(Pid::from_raw(child.id() as i32), &set));
        if let Err(e) = pinned {
            log.say(&format!(
                "stage {}: cannot pin to CPU {cpu}: {e}",
                s.cfg.name
            ));
        }
    }
    s.spawned_ns = monotonic_ns();
    log.say(&format!(
        "started stage {} (pid {}){}",
        s.cfg.name,
        child.id(),
        s.cfg
            .cpu
            .map(|c| format!(" on CPU {c}"))
            .unwrap_or_default()
    ));
    s.proc = Some(child);
    s.state = StageState::Running;
    Ok(())
}
