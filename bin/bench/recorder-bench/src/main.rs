//! tickline-recorder-bench: what the flight recorder costs the router per
//! decision. The same stream of decisions (tick-to-decision times drawn
//! like a paced run's: p50 ~7 µs, a tail to milliseconds) goes through the
//! router's recording step twice per round: once building the record only
//! when it enters the slowest (as the router does), once doing everything
//! but the offer (the floor: reading the stamps and the clock values the
//! router has anyway). Intervals close every 10,000 decisions (1 s at 10k/s)
//! and publish into a stats segment's words, as the router does. Rounds
//! alternate the two cases; it prints ns per decision, median and range.
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::time::Instant;

use clap::Parser;
use tickline_schema::flight::{Outcome, SlowDecision};
use tickline_telemetry::{median_range, FlightRecorder, StageTelemetry};

#[derive(Parser)]
#[command(about)]
struct Args {
    /// Decisions per round.
    #[arg(long, default_value_t = 2_000_000)]
    decisions: usize,
    /// Rounds of each case.
    #[arg(long, default_value_t = 9)]
    rounds: usize,
}

/// One decision as the router has it: stamps and the decision time.
#[derive(Clone, Copy)]
struct Decided {
    seq: u64,
    stamps: [u64; 4],
    read: u64,
    decided: u64,
}

/// A deterministic stream: exponential-ish body, a heavy tail (xorshift).
fn stream(n: usize) -> Vec<Decided> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut t = 1_000_000_000u64;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            // p50 ~7 µs; one in a thousand 100 µs to 5 ms.
            let total = if x.is_multiple_of(1000) {
                100_000 + (u * 4_900_000.0) as u64
            } else {
                (4_000.0 - 4_300.0 * (1.0 - u).ln()) as u64
            };
            t += 100_000;
            let feed = t;
            Decided {
                seq: i as u64,
                stamps: [feed, feed + total / 4, feed + total / 2, 0],
                read: feed + total * 3 / 4,
                decided: feed + total,
            }
        })
        .collect()
}

fn record(d: &Decided) -> SlowDecision {
    SlowDecision {
        seq: d.seq,
        instrument_id: d.seq & 1,
        stamps: d.stamps,
        read_ns: d.read,
        decided_ns: d.decided,
        outcome: Outcome::NoOrder.to_word(),
        ..Default::default()
    }
}

const INTERVAL: usize = 10_000;

/// The router's step with the recorder: ns per decision.
fn with_recorder(s: &[Decided], tel: &StageTelemetry) -> f64 {
    let mut f = FlightRecorder::new(u64::MAX, 0);
    let t = Instant::now();
    for (i, d) in s.iter().enumerate() {
        let d = black_box(d);
        let total = d.decided.saturating_sub(d.stamps[0]);
        f.offer(total, || record(d));
        if i % INTERVAL == INTERVAL - 1 {
            tel.publish_slowest_interval(f.close(d.decided));
            tel.publish_slowest_run(f.run_block());
        }
    }
    t.elapsed().as_nanos() as f64 / s.len() as f64
}

/// The same loop without the recorder: the floor.
fn without(s: &[Decided]) -> f64 {
    let mut sum = 0u64;
    let t = Instant::now();
    for d in s {
        let d = black_box(d);
        sum = sum.wrapping_add(d.decided.saturating_sub(d.stamps[0]));
    }
    black_box(sum);
    t.elapsed().as_nanos() as f64 / s.len() as f64
}

fn main() {
    let a = Args::parse();
    let s = stream(a.decisions);
    let tel =
        StageTelemetry::new(None, std::time::Duration::from_secs(1)).expect("local telemetry");
    // Warm-up: both once.
    with_recorder(&s, &tel);
    without(&s);
    let (mut rec, mut floor, mut cost) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..a.rounds {
        let r = with_recorder(&s, &tel);
        let f = without(&s);
        rec.push(r);
        floor.push(f);
        cost.push(r - f);
    }
    let show = |name: &str, v: &mut Vec<f64>| {
        let (m, lo, hi) = median_range(v);
        println!("{name:<34} {m:>7.2} ns/decision  ({lo:.2}-{hi:.2})");
    };
    println!(
        "{} decisions a round, {} rounds, interleaved; intervals of {INTERVAL} decisions",
        a.decisions, a.rounds
    );
    show("router step with the recorder", &mut rec);
    show("floor: the same loop without it", &mut floor);
    show("recorder cost (per round, difference)", &mut cost);
}
