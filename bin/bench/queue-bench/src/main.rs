//! `tickline-queue-bench`: our queue between two processes against peers
//! (`run`), and the hand-off floors of this machine (`floors`).
#![forbid(unsafe_code)]

mod cases;
mod floors;
mod harness;
#[cfg(feature = "iceoryx2")]
mod iceoryx2;
mod ours;
mod report;
mod uds;

use anyhow::Result;
use clap::{Parser, Subcommand};

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
        Cmd::Run(args) => cases::run(args),
        Cmd::Floors(args) => floors::run(args),
        Cmd::Child(args) => ours::child(args),
    }
}
