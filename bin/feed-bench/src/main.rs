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
    /// Append a Markdown table to this file.
    #[arg(long)]
    markdown: Option<PathBuf>,
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

fn main() -> Result<()> {
    let args = Args::parse();
    let read = |rel: &str| {
        std::fs::read(args.data.join(rel))
            .with_context(|| format!("reading {rel} under {}", args.data.display()))
    };
    let itch = read("itch/ex20101224.ITCH_50.framed")?;
    let mut cases = Vec::new();

    cases.push(measure(
        "ITCH parse only: itchy 0.3",
        itch.len(),
        args.passes,
        || {
            let mut n = 0;
            for m in itchy::MessageStream::from_reader(Cursor::new(&itch[..])) {
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
            let (mut i, mut n) = (0, 0);
            while i + 2 <= itch.len() {
                let len = u16::from_be_bytes([itch[i], itch[i + 1]]) as usize;
                let msg = &itch[i + 2..i + 2 + len];
                debug_assert_eq!(len, message_len(msg[0]));
                std::hint::black_box(decode(msg).expect("valid sample"));
                i += 2 + len;
                n += 1;
            }
            n
        },
    ));
    cases.push(measure(
        "ITCH parse + L3 book: tickline",
        itch.len(),
        args.passes,
        || {
            let mut books = Books::new(1 << 12, 256);
            drain(&mut ItchSource::new(&itch[..]), &mut books)
        },
    ));

    let msgs = read("lobster/AAPL_2012-06-21_34200000_57600000_message_10.csv")?;
    let book = read("lobster/AAPL_2012-06-21_34200000_57600000_orderbook_10.csv")?;
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

    for f in [
        "usdm_btcusdt_20240808",
        "spot_btcusdt_20240808",
        "cm_btcusd_perp_20240808",
    ] {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(&read(&format!("binance/{f}.gz"))?[..])
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

    if let Some(path) = args.markdown {
        use std::fmt::Write as _;
        let mut md = String::new();
        writeln!(
            md,
            "`feed-bench --passes {}`: median pass; inputs in memory.\n",
            args.passes
        )?;
        writeln!(
            md,
            "| case | input messages | ns/message | M messages/s | input MB/s |"
        )?;
        writeln!(md, "|---|---:|---:|---:|---:|")?;
        for c in &cases {
            let mb = if c.bytes > 0 {
                format!("{:.1}", c.mb_per_s())
            } else {
                "-".into()
            };
            writeln!(
                md,
                "| {} | {} | {:.1} | {:.2} | {mb} |",
                c.name,
                c.messages,
                c.ns_per_msg(),
                1e3 / c.ns_per_msg()
            )?;
        }
        let ours = cases
            .iter()
            .find(|c| c.name == "ITCH parse only: tickline")
            .map(Case::ns_per_msg);
        let peer = cases
            .iter()
            .find(|c| c.name.contains("itchy"))
            .map(Case::ns_per_msg);
        if let (Some(o), Some(p)) = (ours, peer) {
            writeln!(md, "\nITCH parse only, same file, same run: itchy ns/msg / tickline ns/msg = **{:.2}x**.", p / o)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        std::io::Write::write_all(&mut f, md.as_bytes())?;
    }
    Ok(())
}
