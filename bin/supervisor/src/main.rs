//! supervisor: creates a pipeline's queues and boards, launches its stages,
//! restarts what dies or hangs (backoff, restart intensity), drains and
//! stops it cleanly on SIGINT/SIGTERM or at the end of a replay, and
//! collects each stage's latency histograms into interval logs.
//!
//! Its stages die with it (see `tickline_stage::bind_to_supervisor`). A run
//! whose supervisor died leaves its queues, stage state and journal; the
//! next `run` of the same config resumes it exactly-once (`--fresh`
//! discards it instead).
#![forbid(unsafe_code)]

mod causes;
mod child;
mod latency;
mod log;
mod metrics;
mod report;
mod sched_metrics;
mod supervise;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use tickline_pipeline::{PipelineConfig, QueueType};
use tickline_schema::telemetry::{PipelineStatus, StageStats};
use tickline_schema::venue::ExecReport;
use tickline_schema::{BookEvent, FeatureVector, Order, Prediction};
use tickline_shm::{
    create_board, create_counters, create_or_reclaim, unlink, BoardReader, CountersReader, Message,
    PeerStatus, QueueError, QueueView,
};

use child::resolve_binary;
use log::Log;

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
        /// Start a new run even if an interrupted one (its supervisor
        /// killed) left queues, state and a journal to resume: discard them.
        #[arg(long)]
        fresh: bool,
        /// Print the summary as JSON (as in summary.json), not the report.
        #[arg(long)]
        json: bool,
        /// Sample the causes of slow decisions every 1 ms instead of every
        /// log interval: for short diagnostic runs (it costs a few percent
        /// of a CPU, at idle priority).
        #[arg(long)]
        trace_causes: bool,
    },
    /// Check a config and print the commands it would run.
    Check {
        #[arg(long, default_value = "config/pipeline.toml")]
        config: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    tickline_stage::exit_code("tickline-supervisor", run_main())
}

fn run_main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Check { config } => {
            let cfg = PipelineConfig::load(&config)?;
            for s in &cfg.stages {
                let bin = resolve_binary(&s.binary);
                println!("{} {}", bin.display(), cfg.stage_args(s).join(" "));
            }
            Ok(())
        }
        Cmd::Run {
            config,
            fresh,
            json,
            trace_causes,
        } => {
            let cfg = PipelineConfig::load(&config)?;
            let sample = if trace_causes {
                std::time::Duration::from_millis(1)
            } else {
                std::time::Duration::from_millis(cfg.log_interval_ms.max(1))
            };
            let code = run(cfg, fresh, json, sample)?;
            std::process::exit(code);
        }
    }
}

fn run(cfg: PipelineConfig, fresh: bool, json: bool, sample: std::time::Duration) -> Result<i32> {
    let resume = !fresh && interrupted_run(&cfg)?;
    if resume {
        std::fs::create_dir_all(&cfg.run_dir)?;
    } else {
        new_run_dir(&cfg)?;
    }
    let mut log = Log::open(&cfg.run_dir)?;
    if resume {
        log.say(&format!(
            "resuming the interrupted run of {} (its supervisor died): queues, stage state and \
             journal as it left them; --fresh discards them",
            cfg.name
        ));
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let created = create_segments(&cfg, resume, &mut log)?;
    let counts = Arc::new(causes::CauseCounts::default());
    let result = serve_metrics(&cfg, &mut log, counts.clone()).and_then(|_endpoint| {
        supervise::Supervisor::new(&cfg, &mut log, sample, counts).and_then(|s| s.run(&stop))
    });
    if result.is_ok() {
        remove_run_segments(&cfg, &mut log);
    } else {
        // A failed start removes what it created, and only that.
        for seg in &created {
            let _ = unlink(seg);
        }
        log.say(&format!(
            "removed the {} segments this start created",
            created.len()
        ));
    }
    let (summary, code) = result?;
    std::fs::write(cfg.run_dir.join("summary.json"), format!("{summary:#}\n"))?;
    if json {
        println!("{summary}");
    } else {
        let order: Vec<String> = cfg.stages.iter().map(|s| s.name.clone()).collect();
        print!("{}", report::render(&summary, &order));
    }
    log.say(&format!(
        "{}; interval logs and summary in {}",
        if code != 0 {
            "pipeline stopped after a failure"
        } else {
            "pipeline finished"
        },
        cfg.run_dir.display()
    ));
    Ok(code)
}

/// A new run starts a new journal; the previous run is kept beside it.
fn new_run_dir(cfg: &PipelineConfig) -> Result<()> {
    if cfg.run_dir.exists() {
        let prev = PathBuf::from(format!("{}.prev", cfg.run_dir.display()));
        let _ = std::fs::remove_dir_all(&prev);
        std::fs::rename(&cfg.run_dir, &prev)
            .with_context(|| format!("moving the previous run to {}", prev.display()))?;
    }
    std::fs::create_dir_all(&cfg.run_dir)
        .with_context(|| format!("creating run_dir {}", cfg.run_dir.display()))
}

/// The Prometheus endpoint, if the config has one; it runs until dropped.
fn serve_metrics(
    cfg: &PipelineConfig,
    log: &mut Log,
    counts: Arc<causes::CauseCounts>,
) -> Result<Option<metrics::MetricsServer>> {
    let Some(m) = &cfg.metrics else {
        return Ok(None);
    };
    let server = metrics::MetricsServer::spawn(cfg, &m.listen, counts)?;
    log.say(&format!("metrics at http://{}/metrics", server.addr));
    Ok(Some(server))
}

/// Every segment of the run, the stages' state included, removed at its end.
fn remove_run_segments(cfg: &PipelineConfig, log: &mut Log) {
    let mut names = cfg.segments();
    names.extend(state_segments(cfg));
    for seg in &names {
        let _ = unlink(seg);
    }
    log.say("segments removed");
}

/// The state segments the stages left (`{state}` prefixes).
fn state_segments(cfg: &PipelineConfig) -> Vec<String> {
    cfg.stages
        .iter()
        .flat_map(|s| {
            tickline_shm::list(&format!("{}-", cfg.state_prefix(&s.name))).unwrap_or_default()
        })
        .collect()
}

/// True if a run of this config was interrupted (its supervisor killed):
/// every queue is still there, of the configured type and size, and no
/// live process holds any. A live holder means the pipeline is running.
fn interrupted_run(cfg: &PipelineConfig) -> Result<bool> {
    if let Some(w) = BoardReader::<PipelineStatus>::open(&cfg.status_segment())
        .ok()
        .and_then(|b| b.writer())
        .filter(|w| w.alive)
    {
        bail!(
            "pipeline {} is running (supervisor pid {}): stop it first",
            cfg.name,
            w.pid
        );
    }
    // No live supervisor: stages still attached are dying with theirs (the
    // kernel's SIGKILL at its death); give them a moment to be gone.
    let deadline = std::time::Instant::now() + STAGE_EXIT_GRACE;
    while live_holders(cfg) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let mut found = 0;
    for q in &cfg.queues {
        let seg = cfg.queue_segment(&q.name);
        let view = match QueueView::open(&seg) {
            Ok(v) => v,
            Err(QueueError::NotFound(_)) => continue,
            Err(e) => return Err(e).context(format!("checking for an interrupted run: {seg}")),
        };
        let st = view.status();
        for (role, peer) in [("producer", &st.producer), ("consumer", &st.consumer)] {
            if let Some(p) = peer.as_ref().filter(|p| p.alive) {
                bail!(
                    "queue {seg} is attached as {role} by live pid {}: is this pipeline already running? Stop it first.",
                    p.pid
                );
            }
        }
        let (kind, cap) = (queue_type_name(q.kind), q.capacity as u64);
        if st.layout.type_name != kind || st.layout.capacity != cap {
            bail!(
                "queue {seg} of an interrupted run holds {} x {}, the config says {cap} x {kind}: \
                 run with --fresh to discard that run",
                st.layout.capacity,
                st.layout.type_name
            );
        }
        found += 1;
    }
    Ok(found == cfg.queues.len())
}

/// How long stages of a dead supervisor may take to exit.
const STAGE_EXIT_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// True if a live process holds an end of any of the pipeline's queues.
fn live_holders(cfg: &PipelineConfig) -> bool {
    cfg.queues.iter().any(|q| {
        QueueView::open(&cfg.queue_segment(&q.name)).is_ok_and(|v| {
            let st = v.status();
            [st.producer, st.consumer].iter().flatten().any(|p| p.alive)
        })
    })
}

fn queue_type_name(kind: QueueType) -> &'static str {
    match kind {
        QueueType::BookEvent => BookEvent::NAME,
        QueueType::FeatureVector => FeatureVector::NAME,
        QueueType::Prediction => Prediction::NAME,
        QueueType::Order => Order::NAME,
        QueueType::ExecReport => ExecReport::NAME,
    }
}

/// Queues and boards, ours from now on; the names it created. A resumed run
/// keeps its queues; a fresh one removes what a crashed run left, unless a
/// live process still holds it. On failure, removes what it had created.
fn create_segments(cfg: &PipelineConfig, resume: bool, log: &mut Log) -> Result<Vec<String>> {
    let mut created = Vec::new();
    let result = create_each(cfg, resume, log, &mut created);
    if let Err(e) = result {
        for seg in &created {
            let _ = unlink(seg);
        }
        return Err(e.context(format!(
            "starting pipeline {} (removed the {} segments created before the failure)",
            cfg.name,
            created.len()
        )));
    }
    Ok(created)
}

fn create_each(
    cfg: &PipelineConfig,
    resume: bool,
    log: &mut Log,
    created: &mut Vec<String>,
) -> Result<()> {
    if !resume {
        for seg in state_segments(cfg) {
            unlink(&seg)?;
            log.say(&format!(
                "removed stale state segment {seg} of an earlier run"
            ));
        }
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
            created.push(seg);
        }
    }
    for s in &cfg.stages {
        let seg = cfg.stats_segment(&s.name);
        create_stats_or_reclaim(&seg, log)?;
        created.push(seg);
    }
    create_board_or_reclaim::<PipelineStatus>(&cfg.status_segment(), log)?;
    created.push(cfg.status_segment());
    Ok(())
}

fn create_queue(kind: QueueType, name: &str, cap: usize) -> Result<Option<String>, QueueError> {
    Ok(match kind {
        QueueType::BookEvent => create_or_reclaim::<BookEvent>(name, cap)?.1,
        QueueType::FeatureVector => create_or_reclaim::<FeatureVector>(name, cap)?.1,
        QueueType::Prediction => create_or_reclaim::<Prediction>(name, cap)?.1,
        QueueType::Order => create_or_reclaim::<Order>(name, cap)?.1,
        QueueType::ExecReport => create_or_reclaim::<ExecReport>(name, cap)?.1,
    })
}

/// A board, removing a leftover one unless its writer is still alive.
fn create_board_or_reclaim<T: Message>(name: &str, log: &mut Log) -> Result<()> {
    let writer = || BoardReader::<T>::open(name).ok().and_then(|b| b.writer());
    reclaim(
        "board",
        name,
        || create_board::<T>(name).map(drop),
        writer,
        log,
    )
}

/// A stage's stats segment, removing a leftover one unless its writer is still alive.
fn create_stats_or_reclaim(name: &str, log: &mut Log) -> Result<()> {
    let writer = || {
        CountersReader::<StageStats>::open(name)
            .ok()
            .and_then(|c| c.writer())
    };
    reclaim(
        "stats segment",
        name,
        || create_counters::<StageStats>(name).map(drop),
        writer,
        log,
    )
}

/// Creates a single-writer segment; a leftover of the same name is removed
/// first unless its writer is alive (then this pipeline is already running).
fn reclaim(
    what: &str,
    name: &str,
    create: impl Fn() -> Result<(), QueueError>,
    writer: impl Fn() -> Option<PeerStatus>,
    log: &mut Log,
) -> Result<()> {
    match create() {
        Ok(()) => return Ok(()),
        Err(QueueError::AlreadyExists(_)) => {}
        Err(e) => return Err(e.into()),
    }
    if let Some(w) = writer().filter(|w| w.alive) {
        bail!(
            "{what} {name} is still written by live pid {}: is this pipeline already running?",
            w.pid
        );
    }
    unlink(name)?;
    log.say(&format!(
        "removed stale segment {name} of a crashed earlier run"
    ));
    create()?;
    Ok(())
}
