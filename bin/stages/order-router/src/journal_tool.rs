//! `tickline-order-router journal verify|dump FILE`: check or print an order
//! journal without starting a router, and without changing the file.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tickline_router::journal::{parse_record, verify};
use tickline_router::paper::Exec;
use tickline_router::{Record, UNIT};
use tickline_schema::Side;

#[derive(Parser)]
#[command(
    name = "tickline-order-router journal",
    about = "Check or print an order journal"
)]
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

/// Runs the tool on `args` (from "journal" on); the exit code.
pub fn main(args: impl Iterator<Item = String>) -> Result<i32> {
    match Cli::parse_from(args).cmd {
        Cmd::Verify { file } => Ok(verify_file(&file)),
        Cmd::Dump { file, json } => dump(&file, json),
    }
}

fn verify_file(file: &std::path::Path) -> i32 {
    match verify(file) {
        Ok(scan) => {
            let count = |k: fn(&Record) -> bool| scan.records.iter().filter(|r| k(r)).count();
            let seqs = scan.records.first().zip(scan.records.last());
            println!(
                "{}: ok, {} records ({} orders, {} fills, {} rested, {} done), seq {}; {}",
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
        let line = i + 1;
        match parsed {
            Ok(r) if json => writeln!(out, "{}", to_json(&r, line, offset))?,
            Ok(r) => writeln!(out, "{line:>7} {offset:>10}  {}", to_text(&r))?,
            Err(reason) => {
                bad += complete as usize;
                if json {
                    let v = serde_json::json!({"line": line, "offset": offset, "damaged": reason});
                    writeln!(out, "{v}")?;
                } else {
                    writeln!(out, "{line:>7} {offset:>10}  DAMAGED: {reason}")?;
                }
            }
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

fn to_json(r: &Record, line: usize, offset: usize) -> serde_json::Value {
    let mut v = match *r {
        Record::Order {
            seq,
            req,
            prob_up,
            mark,
            ts,
            touch,
        } => {
            serde_json::json!({"type": "order", "seq": seq, "client_order_id": req.client_order_id,
            "instrument_id": req.instrument_id, "side": side(req.side), "price": units(req.price),
            "qty": units(req.qty), "tif": format!("{:?}", req.tif), "prob_up": prob_up,
            "mark": units(mark), "exchange_ns": ts, "bid": units(touch.bid), "ask": units(touch.ask)})
        }
        Record::Exec {
            seq,
            exec,
            mark,
            ts,
        } => {
            let mut v = serde_json::json!({"seq": seq, "mark": units(mark), "exchange_ns": ts});
            let extra = match exec {
                Exec::Fill(f) => {
                    serde_json::json!({"type": "fill", "client_order_id": f.client_order_id,
                    "instrument_id": f.instrument_id, "side": side(f.side), "price": units(f.price),
                    "qty": units(f.qty)})
                }
                Exec::Rested(id) => serde_json::json!({"type": "rested", "client_order_id": id}),
                Exec::Done(id) => serde_json::json!({"type": "done", "client_order_id": id}),
            };
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            v
        }
    };
    let m = v.as_object_mut().expect("an object");
    m.insert("line".into(), line.into());
    m.insert("offset".into(), offset.into());
    v
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
    }
}
