//! `tickline-queue-bench`: our queue between two processes against peers
//! (`run`), and the hand-off floors of this machine (`floors`). The VM's
//! speed drifts, so every case runs once per round, rounds repeat, and each
//! figure is reported as the median and range over rounds.
#![forbid(unsafe_code)]

mod cases;
mod floors;
mod harness;
#[cfg(feature = "iceoryx2")]
mod iceoryx2;
mod ours;
mod report;
mod uds;

use std::io::Write;

use anyhow::{Context, Result};

use cases::{cases, measure, report};
use clap::{Parser, Subcommand};
use harness::{pin, BenchArgs};
use report::markdown;

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// One-way latency and throughput between two processes, with peers.
    Run(harness::BenchArgs),
    /// Hand-off floors of this machine: round trips polled, yielding and
    /// futex-woken, on one core and across cores (JSON lines).
    Floors(floors::FloorArgs),
    /// Child side of a case (started by `run` and `floors`).
    #[command(hide = true)]
    Child(harness::ChildArgs),
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Run(args) => run(args),
        Cmd::Floors(args) => floors::run(args),
        Cmd::Child(args) => ours::child(args),
    }
}

/// Every case once per round, rounds in turn; the table at the end.
fn run(args: BenchArgs) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (parent_cpu, child_cpu) = if args.no_pin || cores < 2 {
        (None, None)
    } else {
        (Some(0), Some(1))
    };
    pin(parent_cpu)?;
    let mut rows = cases(&args)?;
    for round in 1..=args.rounds {
        for row in rows.iter_mut() {
            let sample = measure(row.transport, row.size, &args, child_cpu).with_context(|| {
                format!(
                    "{} {} {} B",
                    row.transport.name(),
                    row.transport.wait(),
                    row.size
                )
            })?;
            report(round, row, &sample);
            row.samples.push(sample);
        }
    }
    print!("{}", markdown(&rows, &args, cores));
    if let Some(path) = &args.markdown {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        f.write_all(markdown(&rows, &args, cores).as_bytes())?;
    }
    Ok(())
}
