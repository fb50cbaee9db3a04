//! `tickline-journal verify|dump FILE`: check or print an order journal
//! without starting a router, and without changing the file.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use serde::Serialize;
use tickline_router::journal::{parse_record, verify};
use tickline_router::{Exec, Record, UNIT};
use tickline_schema::Side;

#[derive(Parser)]
#[command(version, about = "Check or print an order journal")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Checks every record: exit 0 if a router would start on it (an
    /// unfinished last line is reported; the router cuts it), 2 if corrupt.
    Verify { file: PathBuf },
    /// Prints every record with its line and byte offset; damaged lines are
    /// marked (exit 2 if there are any).
    Dump {
        file: PathBuf,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> Result<()> {
    let code = match Cli::parse().cmd {
        Cmd::Verify { file } => verify_file(&file),
        Cmd::Dump { file, json } => dump(&file, json)?,
    };
    std::process::exit(code)
}

/// One record of `dump --json`: where it is, and the record as the router
/// reads it (fixed-point values as written).
#[derive(Serialize)]
struct Located<'a> {
    line: usize,
    offset: usize,
    #[serde(flatten)]
    record: Option<&'a Record>,
    #[serde(skip_serializing_if = "Option::is_none")]
    damaged: Option<&'a str>,
}

fn verify_file(file: &std::path::Path) -> i32 {
    match verify(file) {
        Ok(scan) => {
            let count = |k: fn(&Record) -> bool| scan.records.iter().filter(|r| k(r)).count();
            let seqs = scan.records.first().zip(scan.records.last());
            println!(
                "{}: ok, {} records ({} orders, {} fills, {} rested, {} done, {} rejects), seq {}; {}",
                file.display(),
                scan.records.len(),
                count(|r| matches!(r, Record::Order { .. })),
                count(|r| matches!(
                    r,
                    Record::Exec {
                        exec: Exec::Fill(_),
                        ..
                    }
                )),
                count(|r| matches!(
                    r,
                    Record::Exec {
                        exec: Exec::Rested(_),
                        ..
                    }
                )),
                count(|r| matches!(
                    r,
                    Record::Exec {
                        exec: Exec::Done(_),
                        ..
                    }
                )),
                count(|r| matches!(r, Record::Reject { .. })),
                seqs.map_or("-".into(), |(a, b)| format!("{}..={}", a.seq(), b.seq())),
                match scan.torn_bytes {
                    0 => "no torn tail".to_string(),
                    n => format!(
                        "an unfinished last line of {n} bytes at offset {} (a router cuts it)",
                        scan.good_len
                    ),
                }
            );
            0
        }
        Err(e) => {
            eprintln!("{e}");
            2
        }
    }
}

fn dump(file: &std::path::Path, json: bool) -> Result<i32> {
    let raw = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    match dump_to(
        &raw,
        json,
        &mut std::io::BufWriter::new(std::io::stdout().lock()),
    ) {
        // A reader that stops early (`| head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        other => Ok(other?),
    }
}

fn dump_to(raw: &[u8], json: bool, out: &mut impl Write) -> std::io::Result<i32> {
    let (mut offset, mut bad) = (0usize, 0);
    for (i, chunk) in raw.split_inclusive(|b| *b == b'\n').enumerate() {
        let complete = chunk.ends_with(b"\n");
        let text = std::str::from_utf8(chunk.strip_suffix(b"\n").unwrap_or(chunk));
        let parsed = match (text, complete) {
            (Ok(t), true) => parse_record(t),
            (Ok(_), false) => Err("unfinished last line (a torn write)"),
            (Err(_), _) => Err("not UTF-8 text"),
        };
        bad += (complete && parsed.is_err()) as usize;
        let line = i + 1;
        match (&parsed, json) {
            (_, true) => {
                let at = Located {
                    line,
                    offset,
                    record: parsed.as_ref().ok(),
                    damaged: parsed.as_ref().err().copied(),
                };
                writeln!(out, "{}", serde_json::to_string(&at)?)?;
            }
            (Ok(r), false) => writeln!(out, "{line:>7} {offset:>10}  {}", to_text(r))?,
            (Err(why), false) => writeln!(out, "{line:>7} {offset:>10}  DAMAGED: {why}")?,
        }
        offset += chunk.len();
    }
    out.flush()?;
    Ok(if bad > 0 { 2 } else { 0 })
}

fn side(s: Side) -> &'static str {
    match s {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

fn units(x: i64) -> f64 {
    x as f64 / UNIT as f64
}

fn to_text(r: &Record) -> String {
    match *r {
        Record::Order {
            seq, req, prob_up, ..
        } => format!(
            "seq {seq:<8} order  #{:<6} inst {} {} {} @ {} {:?} (p_up {prob_up:.4})",
            req.client_order_id,
            req.instrument_id,
            side(req.side),
            units(req.qty),
            units(req.price),
            req.tif
        ),
        Record::Exec {
            seq,
            exec: Exec::Fill(f),
            ..
        } => format!(
            "seq {seq:<8} fill   #{:<6} inst {} {} {} @ {}",
            f.client_order_id,
            f.instrument_id,
            side(f.side),
            units(f.qty),
            units(f.price)
        ),
        Record::Exec {
            seq,
            exec: Exec::Rested(id),
            ..
        } => format!("seq {seq:<8} rested #{id}"),
        Record::Exec {
            seq,
            exec: Exec::Done(id),
            ..
        } => format!("seq {seq:<8} done   #{id}"),
        Record::Reject {
            seq,
            reason,
            instrument_id,
            age_ns,
            ..
        } => match age_ns {
            0 => format!("seq {seq:<8} reject inst {instrument_id} {}", reason.name()),
            a => format!(
                "seq {seq:<8} reject inst {instrument_id} {} (signal {:.1} µs old)",
                reason.name(),
                a as f64 / 1e3
            ),
        },
    }
}
