//! A journal never forgets: 1,000 random corruptions (flipped bytes,
//! truncations, overwritten runs) of a real journal, written by the router
//! over a trading stream. Each must end in a refusal naming the exact line
//! and byte offset of the first damaged record (the file untouched), or in
//! a cut of an unfinished last line alone. No intact record is ever dropped.

use std::path::Path;

use tickline_router::journal::{parse_record, JournalError};
use tickline_router::{
    FsyncPolicy, Journal, PaperExchange, Record, RiskLimits, Router, RouterConfig, Sizing, UNIT,
};
use tickline_schema::{Prediction, TimeInForce};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn config(passive: bool) -> RouterConfig {
    RouterConfig {
        band: 0.05,
        sizing: Sizing::Kelly {
            k: 0.5,
            budget: 200 * UNIT,
        },
        lot: UNIT,
        limits: RiskLimits {
            max_position: 40 * UNIT,
            max_gross_notional: 1e7,
            max_order_qty: 15 * UNIT,
            max_orders_per_sec: 20,
            max_daily_loss: 1e6,
            price_band_bps: 50.0,
        },
        aggressive: !passive,
        tif: if passive {
            TimeInForce::Day
        } else {
            TimeInForce::ImmediateOrCancel
        },
        max_signal_age_ns: None,
    }
}

/// A journal as the router writes it: resting passive orders for a while,
/// then (after a restart) immediate-or-cancel ones; orders, fills, rests
/// and dones.
fn real_journal(path: &Path) -> Vec<u8> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut mid, mut t) = (100 * UNIT, 34_200_000_000_000u64);
    for (passive, seqs) in [(true, 0..1_500u64), (false, 1_500..3_000)] {
        let (j, rec) = Journal::open(path, FsyncPolicy::Never).unwrap();
        let gw = PaperExchange::new(1_000_000);
        let mut router = Router::new(config(passive), gw, Some(j), &rec.records, 50).unwrap();
        for seq in seqs {
            mid += (rng.below(9) as i64 - 4) * UNIT / 100;
            t += (1 + rng.below(300) as u64) * 1_000_000;
            let mut p: Prediction = bytemuck::Zeroable::zeroed();
            p.trace.seq = seq;
            p.trace.exchange_ns = t;
            p.instrument_id = 1 + (seq % 3) as u32;
            p.prob_up = rng.below(1000) as f64 / 1000.0;
            p.best_bid = mid - UNIT / 100;
            p.best_ask = mid + UNIT / 100;
            router.on_prediction(&p).unwrap();
        }
        router.sync().unwrap();
    }
    std::fs::read(path).unwrap()
}

/// Start offsets of each line, and its end (the newline's index).
fn lines(raw: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, b) in raw.iter().enumerate() {
        if *b == b'\n' {
            out.push((start, i));
            start = i + 1;
        }
    }
    out
}

enum Damage {
    Flip(usize, u8),
    Truncate(usize),
    Overwrite(usize, Vec<u8>),
}

#[test]
fn a_thousand_corruptions_are_refused_at_their_position_or_cut_as_a_torn_tail() {
    let dir = std::env::temp_dir().join(format!("tickline-jc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("orders.journal");
    let _ = std::fs::remove_file(&path);
    let raw = real_journal(&path);
    let spans = lines(&raw);
    let text = std::str::from_utf8(&raw).unwrap();
    let records: Vec<Record> = text.lines().map(|l| parse_record(l).unwrap()).collect();
    let kinds = |c: char| text.lines().filter(|l| l.starts_with(c)).count();
    assert!(
        records.len() > 300 && ['O', 'F', 'R', 'D'].iter().all(|c| kinds(*c) > 10),
        "a journal with every kind of record: {} records, {:?}",
        records.len(),
        ['O', 'F', 'R', 'D'].map(kinds)
    );
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut refused, mut cut, mut unchanged) = (0, 0, 0);
    for case in 0..1_000 {
        let damage = match case % 5 {
            0 => Damage::Truncate(rng.below(raw.len())),
            1 => {
                let at = rng.below(raw.len() - 1);
                let len = 1 + rng.below(40.min(raw.len() - at - 1));
                Damage::Overwrite(at, (0..len).map(|_| rng.next() as u8).collect())
            }
            _ => Damage::Flip(rng.below(raw.len()), 1 + rng.below(255) as u8),
        };
        let mut bad = raw.clone();
        let damaged: Vec<usize> = match &damage {
            Damage::Flip(at, x) => {
                bad[*at] ^= x;
                vec![*at]
            }
            Damage::Overwrite(at, bytes) => {
                bad[*at..*at + bytes.len()].copy_from_slice(bytes);
                (*at..*at + bytes.len())
                    .filter(|i| bad[*i] != raw[*i])
                    .collect()
            }
            Damage::Truncate(len) => {
                bad.truncate(*len);
                vec![]
            }
        };
        // The first original line a changed byte falls in.
        let first_damaged = damaged
            .iter()
            .filter_map(|i| spans.iter().position(|(s, e)| s <= i && i <= e))
            .min();
        std::fs::write(&path, &bad).unwrap();
        let what = |outcome: &str| format!("case {case}: {outcome}");
        match Journal::open(&path, FsyncPolicy::Never) {
            Err(JournalError::Corrupt { line, offset, .. }) => {
                let k = first_damaged.unwrap_or_else(|| panic!("{}", what("refused, undamaged")));
                assert_eq!(
                    (line, offset),
                    (k as u64 + 1, spans[k].0 as u64),
                    "{}",
                    what("refused at the wrong position")
                );
                assert_eq!(
                    std::fs::read(&path).unwrap(),
                    bad,
                    "{}",
                    what("file touched")
                );
                refused += 1;
            }
            Err(e) => panic!("{}", what(&e.to_string())),
            Ok((_, rec)) => {
                let n = rec.records.len();
                assert_eq!(rec.records[..], records[..n], "{}", what("records changed"));
                let kept = std::fs::read(&path).unwrap();
                let last_full = spans[..n].last().map_or(0, |(_, e)| e + 1);
                assert_eq!(
                    kept.len(),
                    last_full,
                    "{}",
                    what("cut more or less than the tail")
                );
                if let Damage::Truncate(len) = damage {
                    // Every line the truncation left whole is kept.
                    let whole = spans.iter().filter(|(_, e)| *e < len).count();
                    assert_eq!(n, whole, "{}", what("a whole line was dropped"));
                } else if n < records.len() {
                    // Only the damaged last line may go.
                    assert_eq!(
                        (n, first_damaged),
                        (records.len() - 1, Some(records.len() - 1)),
                        "{}",
                        what("an intact record was dropped")
                    );
                }
                if n == records.len() {
                    unchanged += 1;
                } else {
                    cut += 1;
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("1000 corruptions: {refused} refused at their line, {cut} torn tails cut, {unchanged} without effect");
    assert!(refused > 500 && cut > 150, "{refused} refused, {cut} cut");
}
