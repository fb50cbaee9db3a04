//! feed-handler: reads market data (ITCH 5.0, LOBSTER, synthetic), keeps the
//! order books and publishes a `BookEvent` per book change or trade.
//!
//! On restart against the same output queue it re-reads its (deterministic)
//! input and publishes only what follows the queue's last event, so a
//! replay killed and restarted publishes every event exactly once.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use tickline_feed::{Books, FeedStats, Step};
use tickline_schema::telemetry::Metric;
use tickline_schema::{BookEvent, Stage, MAX_LEVELS};
use tickline_shm::{monotonic_ns, FullPolicy, Producer, Push, WaitStrategy};
use tickline_telemetry::StageTelemetry;

#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// itch:FILE | lobster:MESSAGES[,ORDERBOOK] | binance:FILE[.gz] | moldudp64:ADDR (live ITCH) | synthetic[:SEED[:EVENTS[:INSTRUMENTS]]]
    #[arg(long)]
    source: String,
    /// null | queue:NAME (a BookEvent queue, created by the supervisor or `tickline-queue`)
    #[arg(long, default_value = "null")]
    out: String,
    /// Book levels per side in each event (at most 10).
    #[arg(long, default_value_t = 10)]
    levels: usize,
    /// Only these symbols (ITCH stock symbols, or SYN0.. for synthetic).
    #[arg(long, value_delimiter = ',')]
    symbols: Vec<String>,
    /// max (as fast as the queue takes them) or realtime[:SPEED].
    #[arg(long, default_value = "max")]
    pace: String,
    /// Wait strategy when the output queue is full.
    #[arg(long, default_value = "block")]
    wait: WaitStrategy,
    /// Full output queue: block or drop-newest. Default: drop-newest for
    /// live sources (never wait on a later stage), block for replays.
    #[arg(long)]
    full: Option<FullPolicy>,
    /// Stop after publishing this many events.
    #[arg(long)]
    limit: Option<u64>,
    /// Publish latency histograms and counters to this stats board.
    #[arg(long)]
    stats: Option<String>,
    /// Instrument id given to LOBSTER's single instrument.
    #[arg(long, default_value_t = 1)]
    lobster_instrument: u32,
}

enum Out {
    Null,
    Queue(Producer<BookEvent>),
}

fn parse_pace(s: &str) -> Result<Option<f64>> {
    match s.split_once(':') {
        None if s == "max" => Ok(None),
        None if s == "realtime" => Ok(Some(1.0)),
        Some(("realtime", k)) => {
            let speed: f64 = k.parse().context("realtime speed")?;
            if !speed.is_finite() || speed <= 0.0 {
                bail!("realtime speed must be positive");
            }
            Ok(Some(speed))
        }
        _ => bail!("bad --pace {s:?}: max or realtime[:SPEED]"),
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.levels == 0 || args.levels > MAX_LEVELS {
        bail!("--levels must be 1..={MAX_LEVELS}");
    }
    let pace = parse_pace(&args.pace)?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let mut source = tickline_feed::open_source(&args.source).map_err(anyhow::Error::msg)?;
    let live = tickline_feed::is_live(&args.source);
    let full = args.full.unwrap_or(if live {
        FullPolicy::DropNewest
    } else {
        FullPolicy::Block
    });
    let mut out = match args.out.split_once(':') {
        None if args.out == "null" => Out::Null,
        Some(("queue", name)) => Out::Queue(
            Producer::attach(name, full, args.wait)
                .with_context(|| format!("attaching to output queue {name}"))?
                .with_stop_flag(stop.clone()),
        ),
        _ => bail!("bad --out {:?}: null or queue:NAME", args.out),
    };
    // Resume: events up to the output's last sequence number were published by a predecessor.
    let resume_after = match &out {
        Out::Queue(p) => p.last_published().map(|e| e.trace.seq),
        Out::Null => None,
    };
    let mut tel = StageTelemetry::new(args.stats.as_deref(), Duration::from_millis(250))?;
    let mut books = Books::default();
    let mut stats = FeedStats::default();
    let mut event: BookEvent = bytemuck::Zeroable::zeroed();
    // Per-instrument filter decision, made once when the instrument is first seen.
    let mut allowed: Vec<Option<bool>> = vec![None; tickline_feed::MAX_INSTRUMENTS as usize];
    let mut seq: u64 = 0;
    let (mut published, mut skipped_resume, mut dropped, mut filtered) = (0u64, 0u64, 0u64, 0u64);
    let mut first_exchange_ns: Option<u64> = None;
    let started = Instant::now();
    let mut last_beat = started;
    while !stop.load(Ordering::Relaxed) {
        let t0 = monotonic_ns();
        let ev = match source.next(&mut books, &mut stats) {
            Step::Event(ev) => ev,
            Step::Skip => continue,
            Step::Idle => {
                std::thread::yield_now();
                continue;
            }
            Step::End => break,
        };
        let ok = *allowed[ev.instrument as usize].get_or_insert_with(|| {
            args.symbols.is_empty()
                || source
                    .symbol(ev.instrument)
                    .is_some_and(|s| args.symbols.iter().any(|w| w == s))
        });
        if !ok {
            filtered += 1;
            continue;
        }
        let this_seq = seq;
        seq += 1;
        if resume_after.is_some_and(|r| this_seq <= r) {
            skipped_resume += 1;
            continue;
        }
        let mut paused = 0;
        if let Some(speed) = pace {
            let t1 = monotonic_ns();
            let first = *first_exchange_ns.get_or_insert(ev.exchange_ns);
            let due =
                Duration::from_nanos((ev.exchange_ns.saturating_sub(first) as f64 / speed) as u64);
            let now = started.elapsed();
            if due > now {
                std::thread::sleep(due - now);
            }
            paused = monotonic_ns() - t1;
        }
        books.fill_event(&ev, args.levels, &mut event);
        event.trace.seq = this_seq;
        event.trace.stamps = [0; 4];
        event.trace.stamp(Stage::Feed, monotonic_ns());
        match &mut out {
            Out::Null => {
                std::hint::black_box(&event);
            }
            Out::Queue(p) => match p.push(&event) {
                Push::Sent => {}
                Push::Dropped => dropped += 1,
                Push::Stopped => break,
            },
        }
        published += 1;
        // Parse, book and publish; the pacing sleep is not service.
        let t3 = monotonic_ns();
        tel.record(Metric::Service, (t3 - t0).saturating_sub(paused));
        tel.count(1, 1, 0);
        tel.tick(t3);
        if published & 0x3ff == 0 {
            // Heartbeat about every thousand events, and only if a millisecond passed.
            let now = Instant::now();
            if now - last_beat > Duration::from_millis(1) {
                if let Out::Queue(p) = &out {
                    p.beat();
                }
                last_beat = now;
            }
        }
        if args.limit.is_some_and(|l| published >= l) {
            break;
        }
    }
    let elapsed = started.elapsed();
    tel.set_errors(stats.error_counts().map(|(_, n)| n).sum());
    tel.publish(monotonic_ns());
    let errors: serde_json::Map<_, _> = stats
        .error_counts()
        .map(|(k, n)| (k.to_owned(), n.into()))
        .collect();
    let summary = serde_json::json!({
        "stage": "feed-handler",
        "source": args.source,
        "input_messages": stats.messages,
        "lost_messages": source.lost_messages(),
        "events": seq,
        "published": published,
        "skipped_on_resume": skipped_resume,
        "filtered": filtered,
        "dropped": dropped,
        "resumed_after_seq": resume_after,
        "errors": errors,
        "elapsed_s": elapsed.as_secs_f64(),
        "events_per_s": seq as f64 / elapsed.as_secs_f64().max(1e-9),
        "ns_per_event": elapsed.as_nanos() as f64 / seq.max(1) as f64,
        "stopped": stop.load(Ordering::Relaxed),
        "latency_ns": tel.summary(),
    });
    println!("{summary}");
    Ok(())
}
