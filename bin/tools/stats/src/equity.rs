//! A run's equity curve: after each fill the router journaled, its cash
//! plus its positions at their marks; and the same net of the fees the
//! venue simulator charged (its `venue-reports.csv`, fill for fill).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use tickline_router::journal::verify;
use tickline_router::{Exec, Record, UNIT};

/// Equity after one fill.
pub struct Point {
    /// Seconds since the first fill (venue time where known).
    pub t_s: f64,
    /// Before fees, currency.
    pub gross: f64,
    /// After fees, currency.
    pub net: f64,
}

/// The venue's fills in order: (exchange ns, fee). Empty without a file.
fn venue_fees(dir: &Path) -> Result<Vec<(u64, f64)>> {
    let path = dir.join("venue-reports.csv");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.get(1) != Some(&"fill") {
            continue;
        }
        let bad = || format!("{} line {}: not a report row", path.display(), n + 1);
        let t = f.get(5).and_then(|x| x.parse().ok()).with_context(bad)?;
        let fee = f.get(13).and_then(|x| x.parse().ok()).with_context(bad)?;
        out.push((t, fee));
    }
    Ok(out)
}

/// The curve of the run in `dir`.
pub fn read(dir: &Path) -> Result<Vec<Point>> {
    let journal = dir.join("orders.journal");
    let scan = verify(&journal).with_context(|| journal.display().to_string())?;
    let fees = venue_fees(dir)?;
    let (mut cash, mut fee_sum) = (0.0, 0.0);
    let mut held: BTreeMap<u32, (i64, i64)> = BTreeMap::new();
    let mut points = Vec::new();
    let fills = scan.records.iter().filter_map(|r| match *r {
        Record::Exec {
            exec: Exec::Fill(f),
            mark,
            ts,
            ..
        } => Some((f, mark, ts)),
        _ => None,
    });
    for (k, (f, mark, ts)) in fills.enumerate() {
        let unit = UNIT as f64;
        cash -= f.price as f64 / unit * f.signed_qty() as f64 / unit;
        let h = held.entry(f.instrument_id).or_default();
        (h.0, h.1) = (h.0 + f.signed_qty(), mark);
        let value: f64 = held
            .values()
            .map(|(q, m)| *q as f64 / unit * *m as f64 / unit)
            .sum();
        let (t, fee) = fees.get(k).copied().unwrap_or((ts, 0.0));
        fee_sum += fee;
        points.push((t, cash + value, cash + value - fee_sum));
    }
    let t0 = points.first().map_or(0, |p| p.0);
    Ok(points
        .into_iter()
        .map(|(t, gross, net)| Point {
            t_s: t.saturating_sub(t0) as f64 / 1e9,
            gross,
            net,
        })
        .collect())
}
