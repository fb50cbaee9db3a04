//! The cases of the two-process benchmark: one-way latency (ping-pong
//! round trip / 2) and throughput, for our queue under each wait strategy
//! and for peers (a Unix domain socket pair; iceoryx2 with `--features
//! iceoryx2`), beside the floor: one cache line bounced between two cores.

use std::process::Command;

use anyhow::{bail, Context, Result};
use hdrhistogram::Histogram;
use tickline_shm::WaitStrategy;
use tickline_telemetry::median_range;

use crate::harness::{new_hist, BenchArgs, Sample};
use crate::ours::{cache_line_latency, ours_latency, ours_throughput};
use crate::uds::{uds_latency, uds_throughput};

/// What a case moves its messages with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// One 64-byte line, two threads on two cores: the hardware floor.
    CacheLine,
    Ours(WaitStrategy),
    Uds,
    Iceoryx2,
    /// iceoryx2's own benchmark binary: a mean only.
    Iceoryx2Own,
}

impl Transport {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Transport::CacheLine => "one cache line (floor)",
            Transport::Ours(_) => "tickline-shm",
            Transport::Uds => "unix-socket",
            Transport::Iceoryx2 => "iceoryx2",
            Transport::Iceoryx2Own => "iceoryx2, its own benchmark",
        }
    }

    pub(crate) fn wait(self) -> String {
        match self {
            Transport::CacheLine => "spin, 2 threads".into(),
            Transport::Ours(w) => w.to_string(),
            Transport::Uds => "blocking read".into(),
            Transport::Iceoryx2 => "busy poll".into(),
            Transport::Iceoryx2Own => "busy poll, 2 threads".into(),
        }
    }
}

/// One case's samples over every round.
pub(crate) struct Row {
    pub(crate) transport: Transport,
    pub(crate) size: usize,
    pub(crate) samples: Vec<Sample>,
}

/// Every case, in the order each round runs them.
pub(crate) fn cases(args: &BenchArgs) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let row = |transport, size| Row {
        transport,
        size,
        samples: Vec::with_capacity(args.rounds),
    };
    rows.push(row(Transport::CacheLine, 8));
    for &size in &args.sizes {
        if size != 64 && size != 256 {
            bail!("payload size {size}: only 64 and 256 are built in");
        }
        for &wait in &args.waits {
            rows.push(row(Transport::Ours(wait), size));
        }
        for peer in &args.peers {
            match peer.as_str() {
                "uds" => rows.push(row(Transport::Uds, size)),
                "iceoryx2" if cfg!(feature = "iceoryx2") => {
                    rows.push(row(Transport::Iceoryx2, size));
                    if args.iceoryx2_benchmark.is_some() {
                        rows.push(row(Transport::Iceoryx2Own, size));
                    }
                }
                "iceoryx2" => eprintln!("iceoryx2 peer skipped: build with --features iceoryx2"),
                other => bail!("unknown peer {other:?}"),
            }
        }
    }
    Ok(rows)
}

pub(crate) fn measure(
    t: Transport,
    size: usize,
    args: &BenchArgs,
    child_cpu: Option<usize>,
) -> Result<Sample> {
    let (iters, msgs, single) = (args.iters, args.msgs, args.msgs / 10);
    Ok(match (t, size) {
        (Transport::CacheLine, _) => Sample {
            latency: cache_line_latency(iters, child_cpu)?,
            batched: None,
            single: None,
        },
        (Transport::Ours(w), 64) => Sample {
            latency: ours_latency::<8>(w, iters, child_cpu)?,
            batched: Some(ours_throughput::<8>(w, msgs, args.batch, child_cpu)?),
            single: Some(ours_throughput::<8>(w, single, 1, child_cpu)?),
        },
        (Transport::Ours(w), _) => Sample {
            latency: ours_latency::<32>(w, iters, child_cpu)?,
            batched: Some(ours_throughput::<32>(w, msgs, args.batch, child_cpu)?),
            single: Some(ours_throughput::<32>(w, single, 1, child_cpu)?),
        },
        (Transport::Uds, _) => Sample {
            latency: uds_latency(size, iters, child_cpu)?,
            batched: Some(uds_throughput(size, msgs / 4, args.batch, child_cpu)?),
            single: Some(uds_throughput(size, single, 1, child_cpu)?),
        },
        #[cfg(feature = "iceoryx2")]
        (Transport::Iceoryx2, _) => crate::iceoryx2::measure(size, args, child_cpu)?,
        #[cfg(not(feature = "iceoryx2"))]
        (Transport::Iceoryx2, _) => bail!("built without iceoryx2"),
        (Transport::Iceoryx2Own, _) => Sample {
            latency: iceoryx2_own(args, size)?,
            batched: None,
            single: None,
        },
    })
}

pub(crate) fn report(round: usize, row: &Row, s: &Sample) {
    let h = &s.latency;
    let rate = |t: Option<f64>| t.map_or("-".to_owned(), |t| format!("{:.2}", t / 1e6));
    eprintln!(
        "round {round}: {:<22} {:<15} {:>4} B  one-way p50 {} p99 {} p99.9 {} max {} ns  M msgs/s batched {} single {}",
        row.transport.name(),
        row.transport.wait(),
        row.size,
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max(),
        rate(s.batched),
        rate(s.single),
    );
}

/// Runs iceoryx2's own benchmark (IPC service, cores 0 and 1, as many
/// round trips as ours); its one figure, the mean one-way latency, is
/// recorded as a one-value histogram.
pub(crate) fn iceoryx2_own(args: &BenchArgs, size: usize) -> Result<Histogram<u64>> {
    let bin = args
        .iceoryx2_benchmark
        .as_ref()
        .context("no --iceoryx2-benchmark")?;
    let out = Command::new(bin)
        .args(["--bench-ipc", "--payload-size", &size.to_string()])
        .args(["--iterations", &args.iters.to_string()])
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "iceoryx2::service::ipc::Service ::: Iterations: N, Time: T s, Latency: L ns, ..."
    let line = text
        .lines()
        .find(|l| l.starts_with("iceoryx2::service::ipc::Service "))
        .with_context(|| format!("no ipc::Service line in its output: {text}"))?;
    let ns: u64 = line
        .split("Latency: ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no latency in {line:?}"))?;
    let mut h = new_hist();
    h.saturating_record(ns);
    Ok(h)
}

impl Row {
    pub(crate) fn quantile(&self, q: f64) -> (f64, f64, f64) {
        let mut v: Vec<f64> = self
            .samples
            .iter()
            .map(|s| s.latency.value_at_quantile(q) as f64)
            .collect();
        median_range(&mut v)
    }

    pub(crate) fn mean(&self) -> (f64, f64, f64) {
        let mut v: Vec<f64> = self.samples.iter().map(|s| s.latency.mean()).collect();
        median_range(&mut v)
    }

    pub(crate) fn rate(&self, pick: fn(&Sample) -> Option<f64>) -> Option<(f64, f64, f64)> {
        let mut v: Vec<f64> = self.samples.iter().filter_map(pick).collect();
        (!v.is_empty()).then(|| median_range(&mut v))
    }
}
