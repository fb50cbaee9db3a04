//! The floors a pipeline's hand-offs stand on, measured on this machine:
//! round trips of a 64-byte message between two processes over two of our
//! queues, for each way a stage can wait (polled across cores, a
//! `sched_yield` hand-off on one core, a futex wake on one core and across
//! cores). Benchmarks print these beside their results.

use anyhow::{Context, Result};

use crate::ours::ours_round_trip;

#[derive(clap::Args, Debug)]
pub struct FloorArgs {
    /// Round trips per case (after 10% warm-up).
    #[arg(long, default_value_t = 20_000)]
    pub iters: u64,
    /// Seconds of the scheduling-gap measurement (0: skip it).
    #[arg(long, default_value_t = 5.0)]
    pub gap_seconds: f64,
}

/// (what, wait strategy of both sides, parent CPU, child CPU).
const CASES: [(&str, &str, usize, usize); 4] = [
    ("polled, across cores", "spin", 0, 1),
    ("sched_yield hand-off, one core", "yield:0", 0, 0),
    ("futex wake, one core", "block:0:0", 0, 0),
    ("futex wake, across cores", "block:0:0", 0, 1),
];

/// One JSON line per case: round-trip p50, p99 and max in ns.
pub fn run(args: FloorArgs) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for (what, wait, a, b) in CASES {
        if a.max(b) >= cores {
            continue;
        }
        let h = ours_round_trip(wait.parse()?, args.iters, a, b)
            .with_context(|| format!("floor case {what}"))?;
        println!(
            "{}",
            serde_json::json!({
                "floor": what, "wait": wait, "cpus": [a, b],
                "round_trip_p50_ns": h.value_at_quantile(0.5),
                "round_trip_p99_ns": h.value_at_quantile(0.99),
                "round_trip_max_ns": h.max(),
            })
        );
    }
    if args.gap_seconds > 0.0 {
        gaps(args.gap_seconds, cores)?;
    }
    Ok(())
}

/// How often, and for how long, a thread spinning on each core at once is
/// kept off its CPU (by the kernel or the hypervisor): the floor under the
/// tail of any design that keeps every core busy.
pub fn gaps(seconds: f64, cores: usize) -> Result<()> {
    let threads: Vec<_> = (0..cores)
        .map(|cpu| {
            std::thread::spawn(move || -> Result<(usize, [u64; 3], u64)> {
                let mut set = nix::sched::CpuSet::new();
                set.set(cpu)?;
                nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
                    .with_context(|| format!("pinning to CPU {cpu}"))?;
                let end = tickline_shm::monotonic_ns() + (seconds * 1e9) as u64;
                let (mut prev, mut over, mut max) = (tickline_shm::monotonic_ns(), [0u64; 3], 0);
                loop {
                    let now = tickline_shm::monotonic_ns();
                    let gap = now - prev;
                    prev = now;
                    if now > end {
                        return Ok((cpu, over, max));
                    }
                    max = max.max(gap);
                    for (o, limit) in over.iter_mut().zip([100_000, 1_000_000, 4_000_000]) {
                        *o += u64::from(gap > limit);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let (cpu, over, max) = t
            .join()
            .map_err(|_| anyhow::anyhow!("gap thread panicked"))??;
        let per_s = |n: u64| (n as f64 / seconds * 10.0).round() / 10.0;
        println!(
            "{}",
            serde_json::json!({
                "floor": "a spinning thread on every core at once: time off its CPU", "cpus": [cpu],
                "gaps_over_100us_per_s": per_s(over[0]), "gaps_over_1ms_per_s": per_s(over[1]),
                "gaps_over_4ms_per_s": per_s(over[2]), "max_gap_ns": max,
            })
        );
    }
    Ok(())
}
