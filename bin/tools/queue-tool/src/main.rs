//! `tickline-queue`: create, inspect and remove queue segments, tail them,
//! and drive them as a producer, relay or consumer (for profiling and for
//! the multi-process tests). The benchmark is `tickline-queue-bench`.
#![forbid(unsafe_code)]

mod roles;
mod tail;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use tickline_shm::payload::{Bytes256, Bytes64};
use tickline_shm::{FullPolicy, QueueView};

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// Opaque payload types the tool can drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PayloadKind {
    /// 64-byte messages.
    Bytes64,
    /// 256-byte messages.
    Bytes256,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a queue segment (mode 0600).
    Create {
        name: String,
        #[arg(long, value_enum, default_value = "bytes64")]
        payload: PayloadKind,
        #[arg(long, default_value_t = 1024)]
        capacity: usize,
    },
    /// Print a queue's header: type, indices, depth, drops, attached pids.
    Inspect {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove a queue segment's name.
    Unlink { name: String },
    /// Publish messages numbered START.. (resuming after the last published with --resume).
    Produce {
        name: String,
        #[arg(long, value_enum, default_value = "bytes64")]
        payload: PayloadKind,
        #[arg(long)]
        count: u64,
        #[command(flatten)]
        common: roles::RoleArgs,
        #[arg(long, default_value = "block")]
        full: FullPolicy,
        /// Continue after the last message already in the queue.
        #[arg(long)]
        resume: bool,
    },
    /// Forward FROM to TO exactly once across kills: commit input only after
    /// the output is published, and on start skip what the output already holds.
    Relay {
        from: String,
        to: String,
        #[arg(long, value_enum, default_value = "bytes64")]
        payload: PayloadKind,
        /// Exit after forwarding the message numbered COUNT-1.
        #[arg(long)]
        count: u64,
        #[command(flatten)]
        common: roles::RoleArgs,
    },
    /// Read COUNT messages, checking they are intact, numbered consecutively and in order.
    Consume {
        name: String,
        #[arg(long, value_enum, default_value = "bytes64")]
        payload: PayloadKind,
        #[arg(long)]
        count: u64,
        #[command(flatten)]
        common: roles::RoleArgs,
    },
    /// The newest messages, decoded, without disturbing the consumer.
    Tail(tail::TailArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Create {
            name,
            payload,
            capacity,
        } => {
            let view = match payload {
                PayloadKind::Bytes64 => tickline_shm::create::<Bytes64>(&name, capacity)?,
                PayloadKind::Bytes256 => tickline_shm::create::<Bytes256>(&name, capacity)?,
            };
            println!("created {} holding {}", view.name(), view.layout());
        }
        Cmd::Inspect { name, json } => inspect(&name, json)?,
        Cmd::Tail(a) => tail::run(&a)?,
        Cmd::Unlink { name } => tickline_shm::unlink(&name)?,
        Cmd::Produce {
            name,
            payload,
            count,
            common,
            full,
            resume,
        } => match payload {
            PayloadKind::Bytes64 => roles::produce::<8>(&name, count, &common, full, resume)?,
            PayloadKind::Bytes256 => roles::produce::<32>(&name, count, &common, full, resume)?,
        },
        Cmd::Relay {
            from,
            to,
            payload,
            count,
            common,
        } => match payload {
            PayloadKind::Bytes64 => roles::relay::<8>(&from, &to, count, &common)?,
            PayloadKind::Bytes256 => roles::relay::<32>(&from, &to, count, &common)?,
        },
        Cmd::Consume {
            name,
            payload,
            count,
            common,
        } => match payload {
            PayloadKind::Bytes64 => roles::consume::<8>(&name, count, &common)?,
            PayloadKind::Bytes256 => roles::consume::<32>(&name, count, &common)?,
        },
    }
    Ok(())
}

fn inspect(name: &str, json: bool) -> Result<()> {
    let view = QueueView::open(name).with_context(|| format!("inspecting {name}"))?;
    let st = view.status();
    let now = tickline_shm::monotonic_ns();
    let peer = |p: &Option<tickline_shm::PeerStatus>| match p {
        None => serde_json::Value::Null,
        Some(p) => serde_json::json!({
            "pid": p.pid,
            "alive": p.alive,
            "heartbeat_age_ms": now.saturating_sub(p.heartbeat_ns) as f64 / 1e6,
            "sleeping": p.sleeping,
        }),
    };
    let v = serde_json::json!({
        "name": st.name,
        "type": st.layout.type_name,
        "type_version": st.layout.type_version,
        "slot_size": st.layout.slot_size,
        "capacity": st.layout.capacity,
        "head": st.head,
        "tail": st.tail,
        "depth": st.depth(),
        "dropped": st.dropped,
        "producer": peer(&st.producer),
        "consumer": peer(&st.consumer),
    });
    if json {
        println!("{v}");
    } else {
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    Ok(())
}
