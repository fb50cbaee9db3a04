//! The floors a pipeline's hand-offs stand on, measured on this machine:
//! round trips of a 64-byte message between two processes over two of our
//! queues, for each way a stage can wait (polled across cores, a
//! `sched_yield` hand-off on one core, a futex wake on one core and across
//! cores). Benchmarks print these beside their results.

use anyhow::{Context, Result};

use crate::bench::ours_round_trip;

#[derive(clap::Args, Debug)]
pub struct FloorArgs {
    /// Round trips per case (after 10% warm-up).
    #[arg(long, default_value_t = 20_000)]
    pub iters: u64,
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
    Ok(())
}
