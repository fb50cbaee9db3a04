//! The end-of-run report for people: a short table of what each stage did
//! and how fast, then what the router traded. `summary.json` (and `--json`)
//! keep everything; this keeps what one reads at a glance.

use std::fmt::Write as _;

use serde_json::Value;
use tickline_telemetry::format_ns;

/// Metrics shown per stage, with their column titles.
const COLUMNS: [(&str, &str); 3] = [
    ("service", "service p50/p99"),
    ("queue_wait", "queue wait p50/p99"),
    ("end_to_end", "from ingest p50/p99/p99.9"),
];

/// The report of a run's summary (as `Supervisor::summary` builds it),
/// stages in `order` (the config's).
pub fn render(s: &Value, order: &[String]) -> String {
    let mut out = String::new();
    let elapsed = s["elapsed_s"].as_f64().unwrap_or(0.0);
    let outcome = match s["failed"].as_str() {
        Some(why) => format!("FAILED: {why}"),
        None => "finished".into(),
    };
    let _ = writeln!(
        out,
        "pipeline {}: {outcome} in {elapsed:.2} s ({})",
        s["pipeline"].as_str().unwrap_or("?"),
        s["run_dir"].as_str().unwrap_or("?")
    );
    let by_name = s["stages"].as_object().cloned().unwrap_or_default();
    let stages: Vec<(&String, &Value)> = order
        .iter()
        .filter_map(|n| Some((n, by_name.get(n)?)))
        .collect();
    stage_table(&mut out, &stages);
    feed_latency(&mut out, &stages);
    routers(&mut out, &stages, elapsed);
    venues(&mut out, &stages);
    slow_decisions(&mut out, &s["slow_decisions"]);
    if let Some(queues) = s["queues"].as_object() {
        let parts: Vec<String> = queues
            .iter()
            .map(|(q, v)| {
                format!(
                    "{q} {}/{}",
                    thousands(v["published"].as_u64().unwrap_or(0)),
                    thousands(v["committed"].as_u64().unwrap_or(0))
                )
            })
            .collect();
        let _ = writeln!(out, "queues (published/committed): {}", parts.join(", "));
    }
    let _ = writeln!(
        out,
        "everything else: {}/summary.json (or --json)",
        s["run_dir"].as_str().unwrap_or(".")
    );
    out
}

/// A row per stage: state, restarts, events, and its latencies.
fn stage_table(out: &mut String, stages: &[(&String, &Value)]) {
    let _ = writeln!(
        out,
        "{:<14} {:<8} {:>8} {:>11}  {:<18} {:<20} {}",
        "stage", "state", "restarts", "events", COLUMNS[0].1, COLUMNS[1].1, COLUMNS[2].1
    );
    for (name, st) in stages {
        let lat = &st["latency_ns"];
        let cell = |m: &str, ps: &[&str]| -> String {
            if lat[m]["count"].as_u64().unwrap_or(0) == 0 {
                return "-".into();
            }
            let vals: Vec<String> = ps.iter().map(|p| duration(lat[m][*p].as_f64())).collect();
            vals.join(" / ")
        };
        let _ = writeln!(
            out,
            "{:<14} {:<8} {:>8} {:>11}  {:<18} {:<20} {}",
            name,
            st["state"].as_str().unwrap_or("?"),
            st["restarts"].as_u64().unwrap_or(0),
            thousands(st["stage_summary"]["messages_in"].as_u64().unwrap_or(0)),
            cell("service", &["p50", "p99"]),
            cell("queue_wait", &["p50", "p99"]),
            cell("end_to_end", &["p50", "p99", "p99.9"]),
        );
    }
}

/// The feed latency (receive − exchange), where a source records both on
/// the epoch.
fn feed_latency(out: &mut String, stages: &[(&String, &Value)]) {
    for (name, st) in stages {
        let f = &st["latency_ns"]["feed_latency"];
        if f["count"].as_u64().unwrap_or(0) == 0 {
            continue;
        }
        let _ = writeln!(
            out,
            "{name}: feed latency (receive - exchange time) p50 {}, p99 {}, max {} over {} events",
            duration(f["p50"].as_f64()),
            duration(f["p99"].as_f64()),
            duration(f["max"].as_f64()),
            thousands(f["count"].as_u64().unwrap_or(0))
        );
    }
}

/// Per router (one, or one per shard): tick to decision and what it
/// traded; then the decisions' throughput.
fn routers(out: &mut String, stages: &[(&String, &Value)], elapsed: f64) {
    let routers: Vec<&(&String, &Value)> = stages
        .iter()
        .filter(|(_, st)| !st["latency_ns"]["tick_to_decision"].is_null())
        .collect();
    // A feed replayed as fast as it reads fills every queue: its latencies are backlog.
    let unpaced = stages
        .iter()
        .any(|(_, st)| st["stage_summary"]["paced"].as_bool() == Some(false));
    let mut decided = 0;
    for (name, router) in &routers {
        if routers.len() > 1 {
            let _ = writeln!(out, "{name}:");
        }
        let t = &router["latency_ns"]["tick_to_decision"];
        let _ = writeln!(
            out,
            "tick to decision{}: p50 {}, p99 {}, p99.9 {}, max {} over {} decisions",
            if unpaced {
                " (unpaced replay: latency includes queue backlog; see throughput)"
            } else {
                " (exchange event read to order decided, paced replay)"
            },
            micros(t["p50"].as_f64()),
            micros(t["p99"].as_f64()),
            micros(t["p99.9"].as_f64()),
            micros(t["max"].as_f64()),
            thousands(t["count"].as_u64().unwrap_or(0))
        );
        trading(out, &router["stage_summary"]);
        decided += router["stage_summary"]["predictions"].as_u64().unwrap_or(0);
    }
    if !routers.is_empty() && elapsed > 0.0 {
        let _ = writeln!(
            out,
            "throughput: {} decisions in {elapsed:.2} s of run = {}/s (start-up and drain included)",
            thousands(decided),
            thousands((decided as f64 / elapsed) as u64)
        );
    }
}

/// The flight recorder's slowest decisions and the shares of their causes.
fn slow_decisions(out: &mut String, s: &Value) {
    let recorded = s["recorded"].as_u64().unwrap_or(0);
    if recorded == 0 {
        return;
    }
    let _ = writeln!(
        out,
        "slow decisions: {} recorded (the {} slowest of each interval), causes sampled every {} ms",
        thousands(recorded),
        tickline_schema::flight::SLOWEST_N,
        s["sample_ms"].as_f64().unwrap_or(0.0)
    );
    for (label, key) in [("over 100 µs", "over_100us"), ("over 1 ms", "over_1ms")] {
        let sh = &s[key];
        let n = sh["count"].as_u64().unwrap_or(0);
        if n == 0 {
            continue;
        }
        let causes: Vec<String> = sh["causes"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(c, k)| format!("{c} {}", k.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {label}: {n}, {:.0}% with a named cause ({})",
            sh["named_share"].as_f64().unwrap_or(0.0) * 100.0,
            causes.join(", ")
        );
    }
    let rows: Vec<tickline_causes::SlowRecord> =
        serde_json::from_value(s["slowest"].clone()).unwrap_or_default();
    let _ = writeln!(out, "  the {} slowest (* the slowest hop):", rows.len());
    let _ = writeln!(out, "  {}", tickline_causes::table::header());
    for r in &rows {
        let _ = writeln!(out, "  {}", tickline_causes::table::row(r));
    }
    for n in s["notes"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "  note: {}", n.as_str().unwrap_or(""));
    }
}

/// Orders, fills, rejects, PnL and positions from the router's summary.
fn trading(out: &mut String, r: &Value) {
    if r["orders"].is_null() {
        return;
    }
    let rejects: Vec<String> = r["rejects"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k} {}", thousands(v.as_u64().unwrap_or(0))))
                .collect()
        })
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "orders {}, fills {} ({} filled); rejects: {}",
        thousands(r["orders"].as_u64().unwrap_or(0)),
        thousands(r["fills"].as_u64().unwrap_or(0)),
        r["filled_qty"].as_f64().unwrap_or(0.0),
        if rejects.is_empty() {
            "none".into()
        } else {
            rejects.join(", ")
        }
    );
    let positions: Vec<String> = r["positions"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k}: {v}")).collect())
        .unwrap_or_default();
    let fills_from = match r["venue"].as_str() {
        Some("sim") => "fills from the venue simulator, before fees",
        Some("fix") => "fills from the FIX venue, before fees",
        _ => "paper fills at the touch, no fees",
    };
    let _ = writeln!(
        out,
        "PnL {:.2} (realised, plus open positions at their last mid; {fills_from}); positions {}; \
         hit rate {} over {} judged fills (share of fills whose price the mid had passed in our \
         favour one model horizon later: a taker must beat half the spread){}",
        r["pnl"].as_f64().unwrap_or(f64::NAN),
        if positions.is_empty() {
            "flat".into()
        } else {
            positions.join(", ")
        },
        r["hit_rate"]
            .as_f64()
            .map_or("-".into(), |h| format!("{h:.2}")),
        r["judged_fills"].as_u64().unwrap_or(0),
        if r["killed"].as_bool() == Some(true) {
            "; KILL SWITCH ON"
        } else {
            ""
        }
    );
}

/// What each venue simulator did: fills, passive share, queue position,
/// fees, and the router's PnL net of them.
fn venues(out: &mut String, stages: &[(&String, &Value)]) {
    let pnl: f64 = stages
        .iter()
        .filter_map(|(_, st)| st["stage_summary"]["pnl"].as_f64())
        .sum();
    for (name, st) in stages {
        let s = &st["stage_summary"];
        let v = &s["venue"];
        if !v.is_object() {
            continue;
        }
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        let (fills, maker) = (n("fills"), n("maker_fills"));
        let fees = v["fees"].as_f64().unwrap_or(0.0);
        let ahead = v["maker_queue_ahead"].as_f64().unwrap_or(0.0) / maker.max(1) as f64;
        let _ = writeln!(
            out,
            "{name} ({}, latency {}): fills {} ({} passive = {:.0}%, {} taker), queue ahead at \
             join {ahead:.3} on average per passive fill, fees {fees:.2}, PnL net of fees {:.2}; \
             refused {}",
            s["queue_model"].as_str().unwrap_or("?"),
            s["latency"].as_str().unwrap_or("?"),
            thousands(fills),
            thousands(maker),
            100.0 * maker as f64 / fills.max(1) as f64,
            thousands(n("taker_fills")),
            pnl - fees,
            v["rejects"]
                .as_object()
                .map_or(0, |m| m.values().filter_map(Value::as_u64).sum::<u64>()),
        );
    }
}

/// Nanoseconds in microseconds ("12.3 µs", "4,650 µs"); "-" if unknown.
fn micros(ns: Option<f64>) -> String {
    match ns {
        Some(ns) if ns < 100_000.0 => format!("{:.1} µs", ns / 1e3),
        Some(ns) => format!("{} µs", thousands((ns / 1e3).round() as u64)),
        None => "-".into(),
    }
}

/// Nanoseconds as a short duration; "-" if unknown.
fn duration(ns: Option<f64>) -> String {
    ns.map_or("-".into(), format_ns)
}

/// 1234567 as "1,234,567".
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers_and_durations() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(duration(Some(121.0)), "121 ns");
        assert_eq!(duration(Some(10_671.0)), "10.7 µs");
        assert_eq!(duration(Some(62_324_735.0)), "62.3 ms");
        assert_eq!(micros(Some(9_960.0)), "10.0 µs");
        assert_eq!(micros(Some(4_650_000.0)), "4,650 µs");
    }

    fn summary(paced: bool) -> Value {
        serde_json::json!({
            "pipeline": "t", "run_dir": "r", "elapsed_s": 2.0,
            "stages": {
                "feed-handler": {"state": "done", "latency_ns": {}, "stage_summary": {"paced": paced, "messages_in": 10}},
                "order-router": {"state": "done", "latency_ns": {"tick_to_decision": {
                    "count": 10, "p50": 7_600.0, "p99": 74_500.0, "p99.9": 342_000.0, "max": 1_797_000.0}},
                    "stage_summary": {"predictions": 10}}
            }
        })
    }

    #[test]
    fn an_unpaced_replay_says_its_latency_is_backlog() {
        let order = ["feed-handler".to_owned(), "order-router".to_owned()];
        let unpaced = render(&summary(false), &order);
        assert!(
            unpaced.contains("unpaced replay: latency includes queue backlog; see throughput"),
            "{unpaced}"
        );
        let paced = render(&summary(true), &order);
        assert!(!paced.contains("backlog"), "{paced}");
        assert!(
            paced.contains("p50 7.6 µs, p99 74.5 µs, p99.9 342 µs, max 1,797 µs over 10 decisions"),
            "{paced}"
        );
    }
}
