//! Reports as CSV rows: what the simulator process records and what the
//! offline replay writes, in one format, so the two compare byte for byte.

use std::io::Write;

use tickline_schema::venue::{ExecKind, ExecReport, VenueReject};
use tickline_schema::FIXED_SCALE;

/// The header row.
pub const CSV_HEADER: &str = "report_seq,kind,client_order_id,instrument_id,side,exchange_ns,local_ns,price,qty,leaves,cum_qty,liquidity,queue_ahead,fee,reason,orders_ahead";

fn kind_name(r: &ExecReport) -> &'static str {
    r.exec_kind().map_or("unknown", |k| match k {
        ExecKind::Accepted => "accepted",
        ExecKind::Fill => "fill",
        ExecKind::Done => "done",
        ExecKind::Rejected => "rejected",
        ExecKind::CaughtUp => "caught_up",
        ExecKind::Promise => "promise",
    })
}

/// One report as a row (prices and quantities in units, fees in currency).
pub fn write_report(w: &mut impl Write, r: &ExecReport) -> std::io::Result<()> {
    let liq = ["", "maker", "taker"]
        .get(r.liquidity as usize)
        .unwrap_or(&"?");
    let reason = VenueReject::ALL
        .iter()
        .find(|x| **x as u8 == r.reason)
        .map_or("", |x| x.name());
    let f = |x: i64| x as f64 / FIXED_SCALE as f64;
    writeln!(
        w,
        "{},{},{},{},{},{},{},{},{},{},{},{liq},{},{},{reason},{}",
        r.report_seq,
        kind_name(r),
        r.client_order_id,
        r.instrument_id,
        r.side,
        r.exchange_ns,
        r.local_ns,
        f(r.price),
        f(r.qty),
        f(r.leaves),
        f(r.cum_qty),
        f(r.queue_ahead),
        r.fee,
        r.orders_ahead
    )
}
