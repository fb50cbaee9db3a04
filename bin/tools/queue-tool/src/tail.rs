//! `tickline-queue tail NAME`: the newest messages of a queue, decoded by
//! the segment's message type, read without a role (the consumer is not
//! disturbed, nothing is committed); `--follow` keeps printing new ones.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tickline_features::FEATURE_NAMES;
use tickline_schema::{
    BookEvent, EventKind, FeatureVector, Level, Order, Prediction, Stage, Trace, FIXED_SCALE,
};
use tickline_shm::payload::{Bytes256, Bytes64};
use tickline_shm::{Message, QueueView};

/// What `tail` was asked for.
#[derive(clap::Args, Debug)]
pub struct TailArgs {
    /// The queue segment, e.g. /tickline-default-q-book.
    name: String,
    /// Messages shown from the newest back (at most half the ring).
    #[arg(short = 'n', default_value_t = 10)]
    n: u64,
    /// Keep printing new messages until interrupted.
    #[arg(long)]
    follow: bool,
    /// One JSON object per message.
    #[arg(long)]
    json: bool,
}

/// Runs `tail`.
pub fn run(a: &TailArgs) -> Result<()> {
    let view = QueueView::open(&a.name).with_context(|| format!("tail {}", a.name))?;
    let hash = view.layout().type_hash;
    if hash == BookEvent::LAYOUT_HASH {
        follow::<BookEvent>(&view, a, book)
    } else if hash == FeatureVector::LAYOUT_HASH {
        follow::<FeatureVector>(&view, a, features)
    } else if hash == Prediction::LAYOUT_HASH {
        follow::<Prediction>(&view, a, prediction)
    } else if hash == Order::LAYOUT_HASH {
        follow::<Order>(&view, a, order)
    } else if hash == Bytes64::LAYOUT_HASH {
        follow::<Bytes64>(&view, a, |b| payload(b.seq(), b.is_intact()))
    } else if hash == Bytes256::LAYOUT_HASH {
        follow::<Bytes256>(&view, a, |b| payload(b.seq(), b.is_intact()))
    } else {
        bail!(
            "{} holds {}, a type this build does not know",
            a.name,
            view.layout()
        )
    }
}

/// A decoded message: fields in the order they are shown.
type Fields = Vec<(&'static str, Value)>;

/// Prints messages from `tail - n` on, then new ones if following.
fn follow<T: Message>(view: &QueueView, a: &TailArgs, decode: impl Fn(&T) -> Fields) -> Result<()> {
    let half = view.layout().capacity / 2;
    let mut tail = view.status().tail;
    let mut next = tail.saturating_sub(a.n.min(half));
    loop {
        if tail.saturating_sub(next) > half {
            let skipped = tail - half - next;
            eprintln!("tail: {skipped} messages went by too fast to show");
            next = tail - half;
        }
        while next < tail {
            if let Some(m) = view.peek::<T>(next)? {
                print(next, &decode(&m), a.json);
            }
            next += 1;
        }
        if !a.follow {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
        tail = view.status().tail;
    }
}

/// One message on one line: `key=value` pairs, or a JSON object.
fn print(index: u64, fields: &Fields, json: bool) {
    if json {
        let m: serde_json::Map<String, Value> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        println!("{}", json!({"index": index, "message": m}));
        return;
    }
    let text: Vec<String> = fields
        .iter()
        .map(|(k, x)| match x {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    println!("{index:>10}  {}", text.join(" "));
}

fn payload(seq: u64, intact: bool) -> Fields {
    vec![("seq", json!(seq)), ("intact", json!(intact))]
}

fn price(p: i64) -> f64 {
    p as f64 / FIXED_SCALE as f64
}

/// The trace: exchange and receive times, the flags that are set, and each
/// later stage's publish time after ingest, in µs (the sequence number is
/// shown first by each message).
fn trace(t: &Trace) -> Fields {
    let ingest = t.stamps[Stage::Feed as usize];
    let mut f: Fields = vec![
        ("exchange_ns", json!(t.exchange_ns)),
        ("receive_ns", json!(t.receive_ns)),
    ];
    for (set, name) in [
        (t.is_stale(), "stale"),
        (t.is_out_of_order(), "out_of_order"),
    ] {
        if set {
            f.push((name, json!(true)));
        }
    }
    for (s, key) in [
        (Stage::Feature, "feature_us"),
        (Stage::Inference, "inference_us"),
        (Stage::Router, "router_us"),
    ] {
        if let Some(at) = t.stamped(s) {
            f.push((key, json!(at.saturating_sub(ingest) as f64 / 1e3)));
        }
    }
    f
}

fn levels(ls: &[Level], depth: usize) -> String {
    let shown: Vec<String> = ls[..depth.min(3)]
        .iter()
        .map(|l| format!("{}x{}", price(l.price), price(l.qty)))
        .collect();
    shown.join(",")
}

fn book(e: &BookEvent) -> Fields {
    let kind = match EventKind::try_from(e.kind) {
        Ok(EventKind::Quote) => "quote",
        Ok(EventKind::Trade) => "trade",
        Ok(EventKind::Snapshot) => "snapshot",
        Ok(EventKind::Order) => "order",
        Err(_) => "unknown",
    };
    let d = e.depth as usize;
    let mut f: Fields = vec![
        ("seq", json!(e.trace.seq)),
        ("instrument", json!(e.instrument_id)),
        ("kind", json!(kind)),
        ("bids", json!(levels(&e.bids, d))),
        ("asks", json!(levels(&e.asks, d))),
        ("depth", json!(d)),
    ];
    if kind == "trade" {
        let side = if e.trade_side > 0 { "buy" } else { "sell" };
        let t = format!("{side}:{}x{}", price(e.trade_price), price(e.trade_qty));
        f.push(("trade", json!(t)));
    }
    f.extend(trace(&e.trace));
    f
}

fn features(v: &FeatureVector) -> Fields {
    let n = (v.len as usize).min(FEATURE_NAMES.len());
    let mut f: Fields = vec![
        ("seq", json!(v.trace.seq)),
        ("instrument", json!(v.instrument_id)),
        ("bid", json!(price(v.best_bid))),
        ("ask", json!(price(v.best_ask))),
        ("defaulted", json!(format!("{:#x}", v.defaulted))),
    ];
    f.extend(
        FEATURE_NAMES[..n]
            .iter()
            .zip(&v.values)
            .map(|(k, x)| (*k, json!(x))),
    );
    f.extend(trace(&v.trace));
    f
}

fn prediction(p: &Prediction) -> Fields {
    let mut f: Fields = vec![
        ("seq", json!(p.trace.seq)),
        ("instrument", json!(p.instrument_id)),
        ("p_up", json!(p.prob_up)),
        ("bid", json!(price(p.best_bid))),
        ("ask", json!(price(p.best_ask))),
        ("model", json!(p.model_version)),
    ];
    f.extend(trace(&p.trace));
    f
}

fn order(o: &Order) -> Fields {
    let mut f: Fields = vec![
        ("seq", json!(o.trace.seq)),
        ("client_order_id", json!(o.client_order_id)),
        ("instrument", json!(o.instrument_id)),
        ("side", json!(if o.side > 0 { "buy" } else { "sell" })),
        ("qty", json!(price(o.qty))),
        ("price", json!(price(o.price))),
        ("tif", json!(o.time_in_force)),
        ("p_up", json!(o.prob_up)),
    ];
    f.extend(trace(&o.trace));
    f
}
