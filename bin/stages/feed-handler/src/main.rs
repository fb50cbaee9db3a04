//! feed-handler: reads market data (ITCH 5.0, MoldUDP64, LOBSTER, Binance,
//! synthetic), keeps the order books and publishes a `BookEvent` per book
//! change or trade.
//!
//! On restart against the same output queue it re-reads its (deterministic)
//! input and publishes only what follows the queue's last event, so a
//! replay killed and restarted publishes every event exactly once.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde::Serialize;
use tickline_feed::{EventReader, InstrumentMap, Shard, SourceInput};
use tickline_schema::telemetry::Metric;
use tickline_schema::{BookEvent, Stage, MAX_LEVELS};
use tickline_shm::FullPolicy;
use tickline_stage::{
    Emitted, Emitter, Endpoint, EndpointKind, Flow, Paced, Processor, Runtime, Signals, StageArgs,
};

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
    /// source's ids: ITCH's stock locate; LOBSTER 1; Binance and DBN in
    /// order of first appearance (from 1 and from 0; DBN's own ids exceed
    /// ours, so the summary's checks give `databento_id_of_N`); synthetic
    /// 0..N.
    #[arg(long, value_delimiter = ',')]
    instrument_ids: Vec<String>,
    /// Only this shard's instruments: K/N takes the symbols whose hash is K
    /// mod N (N feed-handlers on one multicast feed split its symbols).
    #[arg(long, value_parser = parse_shard)]
    shard: Option<Shard>,
    /// max (as fast as the queue takes them) or realtime[:SPEED].
    #[arg(long, default_value = "max")]
    pace: String,
    /// Most events read and published per batch (a paced replay hands out
    /// only the events that are due; a live source only what has arrived).
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Also publish each record of the source's book changes as an `order`
    /// event, to the --also-out queues only: every order of an L3 source
    /// (DBN MBO), for the venue simulator's exact FIFO; the levels each
    /// Binance depth message sets (10 a side a record), for its queue
    /// models on the full depth. The decision path never sees them.
    #[arg(long, alias = "order-records")]
    book_records: bool,
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

/// Publishes each book event as read: the feed-handler's work (parsing and
/// the books) is its input's. Records the feed latency where the source's
/// two clocks compare.
struct Publish {
    batch: usize,
    /// Exchange and receive times are both on the epoch.
    epoch_times: bool,
    /// Events received before their exchange time (clocks apart): not
    /// recorded as latency, counted.
    received_before_exchange: u64,
    /// Smallest and largest receive − exchange seen, ns (signed: a capture
    /// host's clock behind the exchange's shows as negative).
    spread: Option<(i64, i64)>,
}

impl Processor for Publish {
    type In = BookEvent;
    type Out = BookEvent;
    type Error = std::convert::Infallible;

    fn batch_size(&self) -> usize {
        self.batch
    }

    #[inline]
    fn on_message(
        &mut self,
        e: &BookEvent,
        out: &mut Emitter<'_, BookEvent>,
    ) -> Result<Flow, Self::Error> {
        let mut e = *e;
        let (x, r) = (e.trace.exchange_ns, e.trace.receive_ns);
        if self.epoch_times && x > 0 && r > 0 {
            let d = r as i64 - x as i64;
            let (lo, hi) = self.spread.get_or_insert((d, d));
            (*lo, *hi) = ((*lo).min(d), (*hi).max(d));
            match r.checked_sub(x) {
                Some(d) => out.telemetry().record(Metric::FeedLatency, d),
                None => self.received_before_exchange += 1,
            }
        }
        Ok(match out.emit(&mut e) {
            Emitted::Stopped => Flow::Stop,
            _ => Flow::Continue,
        })
    }
}

/// The feed-handler's own summary fields.
#[derive(Serialize)]
struct Summary<'a> {
    source: &'a str,
    /// Replayed at its own pace, or live: the latency figures are the pipeline's.
    paced: bool,
    pace: &'a str,
    /// Records read from the source (messages, lines), events or not.
    input_messages: u64,
    lost_messages: u64,
    /// Book events published (numbered), at most `input_messages`.
    events: u64,
    filtered: u64,
    /// Events whose exchange time went backwards for their instrument
    /// (flagged, passed on as they came).
    out_of_order: u64,
    /// Whether events carry receive times on the exchange's clock (the
    /// feed latency, receive − exchange, is then in `latency_ns`).
    feed_latency_measured: bool,
    /// Events whose receive time is before their exchange time (the two
    /// clocks disagree): counted here, not in the feed latency.
    received_before_exchange: u64,
    /// Smallest and largest receive − exchange, ns, signed.
    receive_minus_exchange_ns: Option<(i64, i64)>,
    errors: BTreeMap<&'static str, u64>,
    book_checks: BTreeMap<&'static str, u64>,
    instruments: BTreeMap<String, Option<&'a str>>,
    checks: BTreeMap<String, u64>,
    /// Events over the active span (first read to last publish).
    events_per_s: f64,
    /// The active span over events: parsing, books and publishing, records
    /// that made no event included.
    ns_per_event: f64,
}

impl<'a> Summary<'a> {
    fn new(
        args: &'a Args,
        spec: &'a str,
        paced: bool,
        reader: &'a EventReader,
        publish: &Publish,
        active_s: f64,
    ) -> Self {
        let stats = reader.stats();
        let events = reader.events();
        Summary {
            source: spec,
            paced,
            pace: &args.pace,
            input_messages: stats.messages,
            lost_messages: reader.lost_messages(),
            events,
            filtered: reader.filtered(),
            out_of_order: reader.out_of_order(),
            feed_latency_measured: publish.epoch_times,
            received_before_exchange: publish.received_before_exchange,
            receive_minus_exchange_ns: publish.spread,
            errors: stats.error_counts().collect(),
            book_checks: stats.book_check_counts().collect(),
            instruments: reader
                .instruments()
                .into_iter()
                .map(|(i, s)| (i.to_string(), s))
                .collect(),
            checks: reader.checks().into_iter().collect(),
            events_per_s: events as f64 / active_s.max(1e-9),
            ns_per_event: active_s * 1e9 / events.max(1) as f64,
        }
    }
}

/// The source named by `--source` or `--in source:`.
fn source_spec(args: &Args) -> Result<String> {
    match (&args.source, &args.stage.input) {
        (Some(s), None) => Ok(s.clone()),
        (None, Some(_)) => match args.stage.input(&[EndpointKind::Source])? {
            Endpoint::Source(s) => Ok(s.clone()),
            _ => unreachable!("checked to be a source"),
        },
        _ => bail!("give the input as --source SPEC or --in source:SPEC, once"),
    }
}

fn run_main() -> Result<()> {
    let args = Args::parse();
    if args.levels == 0 || args.levels > MAX_LEVELS {
        bail!("--levels must be 1..={MAX_LEVELS}");
    }
    let pace = parse_pace(&args.pace)?;
    let spec = source_spec(&args)?;
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
    if args.book_records {
        if args.stage.also_out.is_empty() {
            bail!("--book-records go to --also-out queues only: give one");
        }
        if reader.yield_records().is_none() {
            bail!("--book-records: source {spec} has none (DBN MBO and Binance depth have)");
        }
    }
    let mut rt = Runtime::<BookEvent>::new(Stage::Feed, &args.stage, signals, full)?;
    let mut publish = Publish {
        batch: args.batch,
        epoch_times: reader.epoch_times(),
        received_before_exchange: 0,
        spread: None,
    };
    let input = SourceInput::new(reader, args.batch);
    let reader = match pace {
        Some(speed) => {
            let mut paced = Paced::new(input, speed, rt.resume_after());
            rt.run(&mut paced, &mut publish)?;
            paced.into_inner()
        }
        None => {
            let mut input = input;
            rt.run(&mut input, &mut publish)?;
            input
        }
    };
    let own = Summary::new(
        &args,
        &spec,
        pace.is_some() || live,
        reader.reader(),
        &publish,
        rt.active_s(),
    );
    println!("{}", rt.summary(&own));
    Ok(())
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    Shard::parse(s).ok_or_else(|| format!("{s:?}: expected K/N with 0 <= K < N"))
}
