//! The feed-handler's summary says what it means: records read and events
//! published apart, the active span measured, throughput over that span,
//! and the event-time counts of a source that mixes clocks.

const BIN: &str = env!("CARGO_BIN_EXE_tickline-feed-handler");

fn data(rel: &str) -> String {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../../shared/data")
        .join(rel);
    assert!(p.exists(), "real data missing: {}", p.display());
    p.display().to_string()
}

fn summary(source: &str) -> serde_json::Value {
    let out = std::process::Command::new(BIN)
        .args(["--source", source])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

#[test]
fn the_summary_counts_records_and_events_apart_over_the_active_span() {
    for source in [
        format!("itch:{}", data("itch/ex20101224.ITCH_50.framed")),
        format!("binance:{}", data("binance/usdm_btcusdt_20240808.gz")),
        format!(
            "dbn:{}",
            data("databento/esh4-glbx-mdp3-20231225.mbo.dbn.zst")
        ),
    ] {
        let s = summary(&source);
        let (records, events) = (
            s["input_messages"].as_u64().unwrap(),
            s["events"].as_u64().unwrap(),
        );
        assert!(events > 0 && events <= records, "{source}: {s}");
        let active = s["active_s"].as_f64().unwrap();
        assert!(
            active > 0.0 && active <= s["elapsed_s"].as_f64().unwrap(),
            "{source}: {s}"
        );
        let rate = s["events_per_s"].as_f64().unwrap();
        assert!(
            (rate * active / events as f64 - 1.0).abs() < 1e-6,
            "{source}: {s}"
        );
    }
    // Binance futures: trades and depth on one clock, the rest flagged;
    // the capture host's clock is behind Binance's, which the summary says.
    let s = summary(&format!(
        "binance:{}",
        data("binance/usdm_btcusdt_20240808.gz")
    ));
    assert!(s["out_of_order"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["feed_latency_measured"], true);
    assert!(
        s["receive_minus_exchange_ns"][0].as_i64().unwrap() < 0,
        "{s}"
    );
    // Databento: ts_recv after ts_event, so a feed latency histogram.
    let s = summary(&format!(
        "dbn:{}",
        data("databento/esh4-glbx-mdp3-20231225.mbo.dbn.zst")
    ));
    assert_eq!(s["received_before_exchange"], 0, "{s}");
    assert_eq!(s["latency_ns"]["feed_latency"]["count"], s["events"], "{s}");
}
