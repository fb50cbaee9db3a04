//! What every benchmark case shares: the flags, one round's sample, the
//! child process on the other core, and the segments' names.

use std::path::PathBuf;
use std::process::{Child, Command};

use anyhow::{bail, Context, Result};
use hdrhistogram::Histogram;
use tickline_shm::WaitStrategy;

#[derive(clap::Args, Debug)]
pub(crate) struct BenchArgs {
    /// Round trips per latency case and round (after 10% warm-up).
    #[arg(long, default_value_t = 100_000)]
    pub iters: u64,
    /// Messages per batched throughput case and round (a tenth of it one
    /// message at a time).
    #[arg(long, default_value_t = 10_000_000)]
    pub msgs: u64,
    /// Rounds: every case once per round, in turn (ABAB...).
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Wait strategies of our queue (both sides use the same).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "spin,yield,block,block:0:0"
    )]
    pub waits: Vec<WaitStrategy>,
    /// Payload sizes in bytes (64 and/or 256).
    #[arg(long, value_delimiter = ',', default_value = "64,256")]
    pub sizes: Vec<usize>,
    /// Messages per batch in batched throughput runs.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Peers to measure beside our queue: uds, iceoryx2.
    #[arg(long, value_delimiter = ',', default_value = "uds,iceoryx2")]
    pub peers: Vec<String>,
    /// iceoryx2's own `benchmark-publish-subscribe` binary (built from its
    /// repository), run once per round and payload as an anchor for our
    /// harness's iceoryx2 rows.
    #[arg(long)]
    pub iceoryx2_benchmark: Option<PathBuf>,
    /// Do not pin parent and child to cores 0 and 1.
    #[arg(long)]
    pub no_pin: bool,
    /// Append the results as a Markdown section to this file.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ChildArgs {
    #[arg(long)]
    pub role: String,
    #[arg(long)]
    pub a: String,
    #[arg(long, default_value = "")]
    pub b: String,
    #[arg(long)]
    pub size: usize,
    #[arg(long, default_value = "spin")]
    pub wait: WaitStrategy,
    #[arg(long, default_value_t = 0)]
    pub count: u64,
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    #[arg(long)]
    pub cpu: Option<usize>,
}

/// What one case measured in one round.
pub(crate) struct Sample {
    pub latency: Histogram<u64>,
    /// Batched throughput, messages/s (None: not measured).
    pub batched: Option<f64>,
    /// One message per send and per receive, messages/s.
    pub single: Option<f64>,
}

pub(crate) fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// Pins this thread to `cpu`. A benchmark that asked for pinning and
/// did not get it would measure something else: that is an error.
pub(crate) fn pin(cpu: Option<usize>) -> Result<()> {
    let Some(cpu) = cpu else { return Ok(()) };
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu)
        .and_then(|_| nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set))
        .with_context(|| format!("pinning to CPU {cpu} (use --no-pin to run unpinned)"))
}

pub(crate) fn spawn_child(args: &[String]) -> Result<Child> {
    let exe = std::env::current_exe()?;
    Command::new(exe)
        .arg("child")
        .args(args)
        .spawn()
        .context("spawning benchmark child")
}

pub(crate) fn finish_child(mut child: Child) -> Result<()> {
    let status = child.wait()?;
    if !status.success() {
        bail!("benchmark child failed: {status}");
    }
    Ok(())
}

pub(crate) fn queue_names(tag: &str) -> (String, String) {
    let pid = std::process::id();
    (
        format!("/tickline-bench-{pid}-{tag}-a"),
        format!("/tickline-bench-{pid}-{tag}-b"),
    )
}

/// Removes the benchmark's segments however the benchmark ends.
pub(crate) struct Unlink(pub(crate) Vec<String>);

impl Drop for Unlink {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = tickline_shm::unlink(n);
        }
    }
}

pub(crate) fn child_args(
    role: &str,
    a: &str,
    b: &str,
    size: usize,
    wait: WaitStrategy,
) -> Vec<String> {
    vec![
        format!("--role={role}"),
        format!("--a={a}"),
        format!("--b={b}"),
        format!("--size={size}"),
        format!("--wait={wait}"),
    ]
}

pub(crate) fn with_cpu(mut v: Vec<String>, cpu: Option<usize>) -> Vec<String> {
    if let Some(c) = cpu {
        v.push(format!("--cpu={c}"));
    }
    v
}
