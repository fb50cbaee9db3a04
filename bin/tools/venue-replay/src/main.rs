//! `tickline-venue-replay`: the orders a router journaled, replayed through
//! the simulated venue over the same market data, in one process. Its
//! reports are what `tickline-venue-sim` gives for that order stream
//! (compare its `--reports-csv` byte for byte); `--orders-csv` writes the
//! stream for another simulator (scripts/check-venue-hftbacktest.py).
#![forbid(unsafe_code)]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Parser;
use tickline_feed::{EventReader, InstrumentMap, ReadStep, Records};
use tickline_router::journal::verify;
use tickline_router::Record;
use tickline_schema::venue::OrderKind;
use tickline_schema::{parse_fixed, BookEvent, Order, Trace, FIXED_SCALE};
use tickline_venue::{write_report, QueueModel, Venue, VenueArgs, CSV_HEADER};

#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The market data, as the feed-handler's --source.
    #[arg(long)]
    source: String,
    /// As the feed-handler's --instrument-ids.
    #[arg(long, value_delimiter = ',')]
    instrument_ids: Vec<String>,
    /// The router's journal: its orders, with their send times.
    #[arg(
        long,
        required_unless_present = "orders_in",
        conflicts_with = "orders_in"
    )]
    journal: Option<PathBuf>,
    /// Instead of a journal: new orders in --orders-csv's format (an
    /// order stream from elsewhere, or made up to test the venue).
    #[arg(long)]
    orders_in: Option<PathBuf>,
    #[command(flatten)]
    venue: VenueArgs,
    /// The reports, as the simulator's --reports-csv.
    #[arg(long)]
    out: PathBuf,
    /// The journal's orders: client_order_id,sent_ns,instrument_id,side,price,qty,tif.
    #[arg(long)]
    orders_csv: Option<PathBuf>,
    /// Without the source's book records: the venue sees the top levels
    /// only, as a simulator whose feed-handler runs without --book-records.
    #[arg(long)]
    top_levels_only: bool,
}

/// The journal's new orders, as the router put them on the venue's queue.
fn journal_orders(journal: &Path) -> Result<Vec<Order>> {
    let scan = verify(journal).with_context(|| format!("{}", journal.display()))?;
    Ok(scan
        .records
        .iter()
        .filter_map(|r| match *r {
            Record::Order {
                req, ts, prob_up, ..
            } => {
                let trace = Trace {
                    exchange_ns: ts,
                    ..Trace::default()
                };
                Some(req.to_wire(trace, prob_up, ts))
            }
            _ => None,
        })
        .collect())
}

/// One row of --orders-csv's format as an order; what is wrong with it.
fn order_row(line: &str) -> Result<Order> {
    let f: Vec<&str> = line.trim().split(',').collect();
    let [id, sent, inst, side, px, qty, tif] = f.as_slice() else {
        bail!("expected 7 fields");
    };
    let fixed = |s: &str| parse_fixed(s.as_bytes()).with_context(|| format!("{s:?} as a decimal"));
    let mut o = <Order as bytemuck::Zeroable>::zeroed();
    (o.client_order_id, o.sent_ns) = (id.parse()?, sent.parse()?);
    o.trace.exchange_ns = o.sent_ns;
    (o.instrument_id, o.side, o.time_in_force) = (inst.parse()?, side.parse()?, tif.parse()?);
    (o.price, o.qty) = (fixed(px)?, fixed(qty)?);
    o.kind = OrderKind::New as u8;
    Ok(o)
}

fn read_orders(path: &Path) -> Result<Vec<Order>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let rows = text
        .lines()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| !l.trim().is_empty());
    rows.map(|(i, l)| order_row(l).with_context(|| format!("{} line {}", path.display(), i + 1)))
        .collect()
}

fn write_orders(path: &Path, orders: &[Order]) -> Result<()> {
    let mut w = BufWriter::new(File::create(path)?);
    writeln!(
        w,
        "client_order_id,sent_ns,instrument_id,side,price,qty,tif"
    )?;
    let f = |x: i64| x as f64 / FIXED_SCALE as f64;
    for o in orders {
        let (id, t, inst, side) = (o.client_order_id, o.sent_ns, o.instrument_id, o.side);
        let (px, qty, tif) = (f(o.price), f(o.qty), o.time_in_force);
        writeln!(w, "{id},{t},{inst},{side},{px},{qty},{tif}")?;
    }
    Ok(w.flush()?)
}

/// Every market event through the venue; returns the events taken.
fn replay(args: &Args, venue: &mut Venue, w: &mut impl Write) -> Result<u64> {
    let source = tickline_feed::open_source(&args.source)?;
    let ids = InstrumentMap::parse(&args.instrument_ids)?;
    let mut reader =
        EventReader::new(source, tickline_schema::MAX_LEVELS, Vec::new()).with_instrument_ids(ids);
    let records = if args.top_levels_only {
        None
    } else {
        reader.yield_records()
    };
    if venue.config().queue == QueueModel::Fifo && records != Some(Records::ByOrder) {
        bail!(
            "{}: fifo needs market-by-order records (DBN MBO, without --top-levels-only)",
            args.source
        );
    }
    let (mut ev, mut reports) = (
        <BookEvent as bytemuck::Zeroable>::zeroed(),
        Vec::with_capacity(64),
    );
    let mut events = 0;
    loop {
        match reader.next(&mut ev) {
            ReadStep::Event => {
                events += 1;
                venue.on_book(&ev, &mut reports);
            }
            ReadStep::Skip => continue,
            ReadStep::Idle => bail!("{}: a live source cannot be replayed", args.source),
            ReadStep::End => break,
        }
        for r in reports.drain(..) {
            write_report(w, &r)?;
        }
    }
    venue.finish(&mut reports);
    reports.push(venue.caught_up(u64::MAX));
    for r in reports.drain(..) {
        write_report(w, &r)?;
    }
    Ok(events)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let orders = match (&args.journal, &args.orders_in) {
        (Some(j), _) => journal_orders(j)?,
        (None, Some(csv)) => read_orders(csv)?,
        (None, None) => unreachable!("clap requires one"),
    };
    if let Some(p) = &args.orders_csv {
        write_orders(p, &orders).with_context(|| format!("{}", p.display()))?;
    }
    let mut venue = args.venue.venue()?;
    for o in &orders {
        venue.send(o);
    }
    let mut w = BufWriter::new(File::create(&args.out)?);
    writeln!(w, "{CSV_HEADER}")?;
    let events = replay(&args, &mut venue, &mut w)?;
    w.flush()?;
    let summary = serde_json::json!({"orders": orders.len(), "events": events,
        "open_at_end": venue.open_orders(), "venue": serde_json::to_value(&venue.stats)?});
    println!("{summary}");
    Ok(())
}
