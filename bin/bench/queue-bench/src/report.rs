//! The Markdown table of a run: median and range per case, and ratios.

use tickline_shm::WaitStrategy;

use crate::cases::{Row, Transport};
use crate::harness::{BenchArgs, Sample};

pub(crate) fn cell((m, lo, hi): (f64, f64, f64), scale: f64, digits: usize) -> String {
    format!(
        "{:.*} ({:.*}-{:.*})",
        digits,
        m / scale,
        digits,
        lo / scale,
        digits,
        hi / scale
    )
}

pub(crate) fn markdown(rows: &[Row], args: &BenchArgs, cores: usize) -> String {
    use std::fmt::Write as _;
    let mut md = String::new();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let _ = writeln!(
        md,
        "### Queue: two processes, {cores} cores ({cpu}), Linux {}\n",
        kernel.trim()
    );
    let _ = writeln!(
        md,
        "`tickline-queue-bench run --iters {} --msgs {} --batch {} --rounds {}`; parent and child {}. \
         Every case once per round, rounds in turn; each cell is the median (min-max) over the {} rounds. \
         One-way latency is half a ping-pong round trip, ns. Throughput, M messages/s: batched \
         ({} messages a publish, or a `write`, or an iceoryx2 slice sample) and one message per \
         send and receive.\n",
        args.iters,
        args.msgs,
        args.batch,
        args.rounds,
        if args.no_pin || cores < 2 { "not pinned" } else { "pinned to cores 0 and 1" },
        args.rounds,
        args.batch
    );
    let _ = writeln!(
        md,
        "| transport | wait | payload | p50 | mean | p99 | p99.9 | max | batched | one per message |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let rate = |x: Option<(f64, f64, f64)>| x.map_or("-".to_owned(), |x| cell(x, 1e6, 2));
        if r.transport == Transport::Iceoryx2Own {
            let _ = writeln!(
                md,
                "| {} | {} | {} B | - | {} | - | - | - | - | - |",
                r.transport.name(),
                r.transport.wait(),
                r.size,
                cell(r.mean(), 1.0, 0)
            );
            continue;
        }
        let max = r.samples.iter().map(|s| s.latency.max()).max().unwrap_or(0);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {max} | {} | {} |",
            r.transport.name(),
            r.transport.wait(),
            if r.transport == Transport::CacheLine {
                "8 B".to_owned()
            } else {
                format!("{} B", r.size)
            },
            cell(r.quantile(0.5), 1.0, 0),
            cell(r.mean(), 1.0, 0),
            cell(r.quantile(0.99), 1.0, 0),
            cell(r.quantile(0.999), 1.0, 0),
            rate(r.rate(|s| s.batched)),
            rate(r.rate(|s| s.single)),
        );
    }
    let _ = writeln!(md);
    ratios(&mut md, rows, args);
    md
}

/// Each peer against our `spin` row of the same payload, from the medians.
pub(crate) fn ratios(md: &mut String, rows: &[Row], args: &BenchArgs) {
    use std::fmt::Write as _;
    for &size in &args.sizes {
        let ours = rows
            .iter()
            .find(|r| r.size == size && r.transport == Transport::Ours(WaitStrategy::BusySpin));
        let Some(ours) = ours else { continue };
        for peer in rows.iter().filter(|r| {
            r.size == size && matches!(r.transport, Transport::Uds | Transport::Iceoryx2)
        }) {
            let _ = write!(
                md,
                "- {size} B, medians: {} p50 / tickline-shm spin p50 = **{:.2}x**",
                peer.transport.name(),
                peer.quantile(0.5).0 / ours.quantile(0.5).0
            );
            for (what, pick) in [
                (
                    "batched",
                    (|s: &Sample| s.batched) as fn(&Sample) -> Option<f64>,
                ),
                ("one per message", |s: &Sample| s.single),
            ] {
                if let (Some(a), Some(b)) = (ours.rate(pick), peer.rate(pick)) {
                    let _ = write!(
                        md,
                        "; {what} throughput tickline-shm / {} = **{:.1}x**",
                        peer.transport.name(),
                        a.0 / b.0
                    );
                }
            }
            let _ = writeln!(md);
        }
    }
    for own in rows
        .iter()
        .filter(|r| r.transport == Transport::Iceoryx2Own)
    {
        let ours = rows
            .iter()
            .find(|r| r.size == own.size && r.transport == Transport::Iceoryx2);
        if let Some(ours) = ours {
            let _ = writeln!(
                md,
                "- {} B anchor: iceoryx2 in this harness, mean one-way **{:.0} ns**; in its own benchmark **{:.0} ns** (medians of rounds).",
                own.size,
                ours.mean().0,
                own.mean().0
            );
        }
    }
    if let Some(floor) = rows.iter().find(|r| r.transport == Transport::CacheLine) {
        let _ = writeln!(
            md,
            "- Floor: one cache line bounced between the two cores, one-way p50 **{:.0} ns** (median of rounds).",
            floor.quantile(0.5).0
        );
    }
    let _ = writeln!(md);
}
