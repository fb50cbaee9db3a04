//! feed-bench: parse and book-update throughput of each source on the real
//! files (read into memory first, so disk and gzip are not measured), and
//! the `itchy` crate parsing the same ITCH file in the same run.
//!
//! Each case runs PASSES times over its input; the table reports the median
//! pass as ns per input message and messages per second.
#![forbid(unsafe_code)]

use std::io::{BufReader, Cursor, Read};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use tickline_feed::binance::BinanceSource;
use tickline_feed::itch::{decode, message_len, ItchSource};
use tickline_feed::lobster::LobsterSource;
use tickline_feed::synthetic::{SyntheticConfig, SyntheticSource};
use tickline_feed::{Books, FeedStats, Source, Step};

#[derive(Parser)]
struct Args {
    /// Folder with the real data (the repo's ../shared/data).
    #[arg(long, default_value = "../shared/data")]
    data: PathBuf,
    /// Timed passes per case (the median is reported).
    #[arg(long, default_value_t = 15)]
    passes: usize,
    /// Print one JSON line per case on stdout (what scripts/bench-feed.sh
    /// aggregates over rounds).
    #[arg(long)]
    json: bool,
    /// Write the ITCH sample's final books here, one level a line:
    /// `locate side price shares` (price in ITCH's 1e-4 units), best first.
    #[arg(long)]
    dump_itch_books: Option<PathBuf>,
}

struct Case {
    name: String,
    messages: u64,
    bytes: u64,
    /// Median pass, ns.
    ns: u64,
}

impl Case {
    fn ns_per_msg(&self) -> f64 {
        self.ns as f64 / self.messages as f64
    }
    fn mb_per_s(&self) -> f64 {
        self.bytes as f64 * 1e3 / self.ns as f64
    }
}

/// Runs `pass` (returning messages handled) `passes` times after one warm-up.
fn measure(name: &str, bytes: usize, passes: usize, mut pass: impl FnMut() -> u64) -> Case {
    let messages = pass();
    let mut times: Vec<u64> = (0..passes)
        .map(|_| {
            let t = Instant::now();
            let n = std::hint::black_box(pass());
            assert_eq!(n, messages, "{name}: passes disagree");
            t.elapsed().as_nanos() as u64
        })
        .collect();
    times.sort_unstable();
    let c = Case {
        name: name.to_owned(),
        messages,
        bytes: bytes as u64,
        ns: times[times.len() / 2],
    };
    eprintln!(
        "{:<44} {:>9} msgs  {:>8.1} ns/msg  {:>7.2} M msgs/s  {:>7.1} MB/s",
        c.name,
        c.messages,
        c.ns_per_msg(),
        1e3 / c.ns_per_msg(),
        c.mb_per_s()
    );
    c
}

/// Calls `f` on every message of a length-prefixed ITCH file; returns how many.
fn frames(itch: &[u8], mut f: impl FnMut(&[u8])) -> u64 {
    let (mut i, mut n) = (0, 0);
    while i + 2 <= itch.len() {
        let len = u16::from_be_bytes([itch[i], itch[i + 1]]) as usize;
        f(&itch[i + 2..i + 2 + len]);
        i += 2 + len;
        n += 1;
    }
    n
}

/// What `itchy` decodes beyond the fields our book needs, for the
/// order-book and trade messages that make up the sample.
#[derive(Debug)]
#[allow(dead_code)] // read through black_box only
struct ItchyExtras<'a> {
    base: tickline_feed::itch::Message,
    tracking: u16,
    stock: Option<&'a str>,
    attribution: Option<&'a str>,
    reason: Option<&'a str>,
    match_number: Option<u64>,
    reference: Option<u64>,
}

/// Our decoder plus the fields itchy also decodes, with its checks: stock,
/// MPID and reason text as UTF-8 (it unwraps `str::from_utf8`), match
/// numbers, the trade's order reference and the tracking number.
fn decode_like_itchy(msg: &[u8]) -> Option<ItchyExtras<'_>> {
    let base = decode(msg).ok()?;
    let text = |r: std::ops::Range<usize>| std::str::from_utf8(&msg[r]).ok();
    let u64_at = |i: usize| u64::from_be_bytes(msg[i..i + 8].try_into().expect("8 bytes"));
    let mut x = ItchyExtras {
        base,
        tracking: u16::from_be_bytes([msg[3], msg[4]]),
        stock: None,
        attribution: None,
        reason: None,
        match_number: None,
        reference: None,
    };
    match msg[0] {
        b'A' => x.stock = Some(text(24..32)?),
        b'F' => {
            x.stock = Some(text(24..32)?);
            x.attribution = Some(text(36..40)?);
        }
        b'E' => x.match_number = Some(u64_at(23)),
        b'C' => x.match_number = Some(u64_at(23)),
        b'P' => {
            x.reference = Some(u64_at(11));
            x.stock = Some(text(24..32)?);
            x.match_number = Some(u64_at(36));
        }
        b'H' => {
            x.stock = Some(text(11..19)?);
            x.reason = Some(text(21..25)?);
        }
        b'R' => x.stock = Some(text(11..19)?),
        _ => {}
    }
    Some(x)
}

/// The ITCH sample's books after the whole file, for comparison with
/// another engine's: `locate side price shares` a level, best first.
fn dump_books(itch: &[u8], path: &PathBuf) -> Result<()> {
    use std::fmt::Write as _;
    let mut books = Books::new(1 << 12, 256);
    drain(&mut ItchSource::new(itch), &mut books);
    let mut text = String::new();
    for i in books.instruments() {
        let book = books.book(i).expect("listed");
        for (side, code) in [
            (tickline_book::Side::Buy, 'B'),
            (tickline_book::Side::Sell, 'S'),
        ] {
            for l in book.side(side).levels() {
                // Fixed point 1e-8 back to ITCH's 1e-4 prices and whole shares.
                writeln!(
                    text,
                    "{i} {code} {} {}",
                    l.price / 10_000,
                    l.qty / tickline_feed::UNIT
                )?;
            }
        }
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Drains a source over fresh books; returns input messages read.
fn drain(src: &mut dyn Source, books: &mut Books) -> u64 {
    let mut stats = FeedStats::quiet();
    loop {
        match src.next(books, &mut stats) {
            Step::End => return stats.messages,
            Step::Event(e) => {
                std::hint::black_box(e);
            }
            _ => {}
        }
    }
}

/// The file `rel` under the data folder.
fn read(args: &Args, rel: &str) -> Result<Vec<u8>> {
    std::fs::read(args.data.join(rel))
        .with_context(|| format!("reading {rel} under {}", args.data.display()))
}

/// ITCH: our parser beside itchy's, alone and with the books.
fn itch_cases(args: &Args, itch: &[u8], cases: &mut Vec<Case>) {
    cases.push(measure(
        "ITCH parse only: itchy 0.3",
        itch.len(),
        args.passes,
        || {
            let mut n = 0;
            for m in itchy::MessageStream::from_reader(Cursor::new(itch)) {
                std::hint::black_box(m.expect("itchy parses the sample"));
                n += 1;
            }
            n
        },
    ));
    cases.push(measure(
        "ITCH parse only: tickline",
        itch.len(),
        args.passes,
        || {
            frames(itch, |msg| {
                debug_assert_eq!(msg.len(), message_len(msg[0]));
                std::hint::black_box(decode(msg).expect("valid sample"));
            })
        },
    ));
    cases.push(measure(
        "ITCH parse only, equal work: tickline",
        itch.len(),
        args.passes,
        || {
            frames(itch, |msg| {
                std::hint::black_box(decode_like_itchy(msg));
            })
        },
    ));
    cases.push(measure(
        "ITCH parse + L3 book: tickline",
        itch.len(),
        args.passes,
        || {
            let mut books = Books::new(1 << 12, 256);
            drain(&mut ItchSource::new(itch), &mut books)
        },
    ));
}

/// LOBSTER, with and without the check against its orderbook file.
fn lobster_cases(args: &Args, cases: &mut Vec<Case>) -> Result<()> {
    let msgs = read(
        args,
        "lobster/AAPL_2012-06-21_34200000_57600000_message_10.csv",
    )?;
    let book = read(
        args,
        "lobster/AAPL_2012-06-21_34200000_57600000_orderbook_10.csv",
    )?;
    cases.push(measure(
        "LOBSTER parse + book: tickline",
        msgs.len(),
        args.passes,
        || {
            let mut books = Books::new(1 << 12, 256);
            drain(&mut LobsterSource::new(&msgs[..], 1, 10), &mut books)
        },
    ));
    cases.push(measure(
        "LOBSTER parse + book + reference check",
        msgs.len() + book.len(),
        args.passes,
        || {
            let mut books = Books::new(1 << 12, 256);
            let mut src = LobsterSource::new(&msgs[..], 1, 10)
                .with_reference_book(Box::new(Cursor::new(book.clone())))
                .expect("reference row");
            drain(&mut src, &mut books)
        },
    ));

    Ok(())
}

/// Binance captures (futures, spot, coin-margined), and the synthetic market.
fn other_cases(args: &Args, cases: &mut Vec<Case>) -> Result<()> {
    for f in [
        "usdm_btcusdt_20240808",
        "spot_btcusdt_20240808",
        "cm_btcusd_perp_20240808",
    ] {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(&read(args, &format!("binance/{f}.gz"))?[..])
            .read_to_end(&mut text)?;
        cases.push(measure(
            &format!("Binance {f}: parse + book"),
            text.len(),
            args.passes.min(5),
            || {
                let mut books = Books::new(1 << 10, 1 << 12);
                drain(
                    &mut BinanceSource::new(BufReader::new(&text[..]), 1),
                    &mut books,
                )
            },
        ));
    }

    cases.push(measure(
        "synthetic market: generate + L3 book",
        0,
        args.passes.min(5),
        || {
            let mut books = Books::new(1 << 12, 256);
            let cfg = SyntheticConfig {
                seed: 3,
                instruments: 4,
                events: 500_000,
                ..Default::default()
            };
            drain(&mut SyntheticSource::new(cfg), &mut books)
        },
    ));

    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let itch = read(&args, "itch/ex20101224.ITCH_50.framed")?;
    let mut cases = Vec::new();
    itch_cases(&args, &itch, &mut cases);
    lobster_cases(&args, &mut cases)?;
    other_cases(&args, &mut cases)?;
    if args.json {
        for c in &cases {
            let line = serde_json::json!({
                "case": c.name, "messages": c.messages, "bytes": c.bytes, "ns": c.ns,
            });
            println!("{line}");
        }
    }
    if let Some(path) = &args.dump_itch_books {
        dump_books(&itch, path)?;
    }
    Ok(())
}
