//! feed-handler: reads market data (ITCH 5.0, MoldUDP64, LOBSTER, Binance,
//! synthetic), keeps the order books and publishes a `BookEvent` per book
//! change or trade.
//!
//! On restart against the same output queue it re-reads its (deterministic)
//! input and publishes only what follows the queue's last event, so a
//! replay killed and restarted publishes every event exactly once.
#![forbid(unsafe_code)]

use anyhow::{bail, Context, Result};
use clap::Parser;
use tickline_feed::{EventReader, InstrumentMap, Shard};
use tickline_schema::{BookEvent, Stage, MAX_LEVELS};
use tickline_shm::FullPolicy;
use tickline_stage::{Endpoint, EndpointKind, Runtime, Signals, StageArgs};

#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// itch:FILE | lobster:MESSAGES[,ORDERBOOK] | binance:FILE[.gz][,FILE...] (hftbacktest or cryptofeed captures, one symbol or many) | dbn:FILE[.zst] (Databento MBO) | moldudp64:ADDR (live ITCH) | synthetic[:SEED[:EVENTS[:INSTRUMENTS[:RATE[:BURST[:STEP_AT]]]]]]
    /// (the same as `--in source:SPEC`)
    #[arg(long)]
    source: Option<String>,
    #[command(flatten)]
    stage: StageArgs,
    /// Book levels per side in each event (at most 10).
    #[arg(long, default_value_t = 10)]
    levels: usize,
    /// Only these symbols (ITCH stock symbols, or SYN0.. for synthetic).
    #[arg(long, value_delimiter = ',')]
    symbols: Vec<String>,
    /// Publish these symbols under these instrument ids (SYMBOL=ID,...);
    /// others get ids above them in order of appearance. Default: the
    /// source's own ids (ITCH stock locate, DBN instrument id, Binance order
    /// of appearance from 1).
    #[arg(long, value_delimiter = ',')]
    instrument_ids: Vec<String>,
    /// Only this shard's instruments: K/N takes the symbols whose hash is K
    /// mod N (N feed-handlers on one multicast feed split its symbols).
    #[arg(long, value_parser = parse_shard)]
    shard: Option<Shard>,
    /// max (as fast as the queue takes them) or realtime[:SPEED].
    #[arg(long, default_value = "max")]
    pace: String,
    /// Full output queue: block or drop-newest. Default: drop-newest for
    /// live sources (never wait on a later stage), block for replays.
    #[arg(long)]
    full: Option<FullPolicy>,
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

fn main() -> std::process::ExitCode {
    tickline_stage::exit_code("tickline-feed-handler", run_main())
}

fn run_main() -> Result<()> {
    let args = Args::parse();
    if args.levels == 0 || args.levels > MAX_LEVELS {
        bail!("--levels must be 1..={MAX_LEVELS}");
    }
    let pace = parse_pace(&args.pace)?;
    let spec = match (&args.source, &args.stage.input) {
        (Some(s), None) => s.clone(),
        (None, Some(_)) => match args.stage.input(&[EndpointKind::Source])? {
            Endpoint::Source(s) => s.clone(),
            _ => unreachable!("checked to be a source"),
        },
        _ => bail!("give the input as --source SPEC or --in source:SPEC, once"),
    };
    args.stage
        .output(&[EndpointKind::Null, EndpointKind::Queue, EndpointKind::File])?;
    let live = tickline_feed::is_live(&spec);
    let full = args.full.unwrap_or(if live {
        FullPolicy::DropNewest
    } else {
        FullPolicy::Block
    });
    let signals = Signals::install()?;
    let source = tickline_feed::open_source(&spec).with_context(|| format!("source {spec}"))?;
    let ids = InstrumentMap::parse(&args.instrument_ids)?;
    let mut reader =
        EventReader::new(source, args.levels, args.symbols.clone()).with_instrument_ids(ids);
    if let Some(shard) = args.shard {
        reader = reader.with_shard(shard);
    }
    let mut rt = Runtime::<BookEvent>::new(Stage::Feed, &args.stage, signals, full)?;
    rt.run_source(&mut reader, pace)?;

    let stats = reader.stats();
    let errors: serde_json::Map<_, _> = stats
        .error_counts()
        .map(|(k, n)| (k.to_owned(), n.into()))
        .collect();
    let book_checks: serde_json::Map<_, _> = stats
        .book_check_counts()
        .map(|(k, n)| (k.to_owned(), n.into()))
        .collect();
    let instruments: serde_json::Map<_, _> = reader
        .instruments()
        .into_iter()
        .map(|(i, s)| (i.to_string(), s.into()))
        .collect();
    let checks: serde_json::Map<_, _> = reader
        .checks()
        .into_iter()
        .map(|(k, n)| (k, n.into()))
        .collect();
    let elapsed = rt.elapsed().as_secs_f64();
    let events = reader.events();
    println!(
        "{}",
        rt.summary(serde_json::json!({
            "source": spec,
            // Replayed at its own pace, or live: the latency figures are the pipeline's.
            "paced": pace.is_some() || live,
            "pace": args.pace,
            "input_messages": stats.messages,
            "lost_messages": reader.lost_messages(),
            "events": events,
            "filtered": reader.filtered(),
            "errors": errors,
            "book_checks": book_checks,
            "instruments": instruments,
            "checks": checks,
            "events_per_s": events as f64 / elapsed.max(1e-9),
            "ns_per_event": elapsed * 1e9 / events.max(1) as f64,
        }))
    );
    Ok(())
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    Shard::parse(s).ok_or_else(|| format!("{s:?}: expected K/N with 0 <= K < N"))
}
