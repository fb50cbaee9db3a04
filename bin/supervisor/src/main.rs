//! supervisor: creates a pipeline's queues and boards, launches its stages,
//! restarts what dies or hangs (backoff, restart intensity), drains and
//! stops it cleanly on SIGINT/SIGTERM or at the end of a replay, and
//! collects each stage's latency histograms into interval logs.
#![forbid(unsafe_code)]

mod child;
mod latency;
mod log;
mod supervise;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use tickline_pipeline::{PipelineConfig, QueueType};
use tickline_schema::telemetry::{PipelineStatus, StageStats};
use tickline_schema::{BookEvent, FeatureVector, Order, Prediction};
use tickline_shm::{
    create_board, create_counters, create_or_reclaim, unlink, BoardReader, CountersReader, Message,
    PeerStatus, QueueError,
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
    },
    /// Check a config and print the commands it would run.
    Check {
        #[arg(long, default_value = "config/pipeline.toml")]
        config: PathBuf,
    },
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Check { config } => {
            let cfg = PipelineConfig::load(&config)?;
            for s in &cfg.stages {
                let bin = resolve_binary(&s.binary);
                println!("{} {}", bin.display(), cfg.stage_args(s).join(" "));
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
    new_run_dir(&cfg)?;
    let mut log = Log::open(&cfg.run_dir)?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    create_segments(&cfg, &mut log)?;
    let result = supervise::Supervisor::new(&cfg, &mut log).and_then(|s| s.run(&stop));
    for seg in cfg.segments() {
        let _ = unlink(&seg);
    }
    log.say("segments removed");
    let (summary, code) = result?;
    std::fs::write(cfg.run_dir.join("summary.json"), format!("{summary:#}\n"))?;
    println!("{summary}");
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

/// Queues and boards, ours from now on. Stale ones of a crashed run are
/// removed, unless a live process still holds them.
fn create_segments(cfg: &PipelineConfig, log: &mut Log) -> Result<()> {
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
        create_stats_or_reclaim(&cfg.stats_segment(&s.name), log)?;
    }
    create_board_or_reclaim::<PipelineStatus>(&cfg.status_segment(), log)
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
