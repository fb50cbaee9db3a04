//! Slow decisions as rows for people: one per decision, the time in each
//! hop with the slowest marked, the outcome and the cause. The report and
//! `tickline-stats slowest` print the same table.

use std::fmt::Write as _;

use tickline_schema::flight::HOPS;
use tickline_telemetry::format_ns;

use crate::record::SlowRecord;

/// The header line.
pub fn header() -> String {
    let mut s = format!("{:>10} {:>5} {:>9}", "seq", "inst", "total");
    for h in HOPS {
        let _ = write!(s, " {h:>13}");
    }
    let _ = write!(s, "  {:<20} cause", "outcome");
    s
}

/// One decision's row.
pub fn row(r: &SlowRecord) -> String {
    let mut s = format!(
        "{:>10} {:>5} {:>9}",
        r.seq,
        r.instrument_id,
        format_ns(r.total_ns as f64)
    );
    for (name, ns) in HOPS.iter().zip(r.hops_ns.as_array()) {
        let mark = if *name == r.slowest_hop { "*" } else { " " };
        let _ = write!(s, " {:>12}{mark}", format_ns(ns as f64));
    }
    let a = &r.attribution;
    let _ = write!(
        s,
        "  {:<20} {} ({}): {}",
        r.outcome,
        a.cause.name(),
        a.stage,
        a.detail
    );
    s
}
