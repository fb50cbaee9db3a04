//! The replay tool on the synthetic market and a journal written here: an
//! order that arrives after the last event takes the levels it crosses and
//! its rest expires; a journal that is not one is refused, naming it.

use std::process::Command;

use tickline_router::{FsyncPolicy, Journal, OrderRequest, Record, Touch};
use tickline_schema::{Side, TimeInForce, FIXED_SCALE};

fn run(journal: &std::path::Path, out: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tickline-venue-replay"))
        .args([
            "--source",
            "synthetic:7:2000:1",
            "--tick",
            "0.01",
            "--lot",
            "1",
        ])
        .args(["--taker-fee-bps", "5", "--journal"])
        .arg(journal)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn a_late_ioc_takes_the_levels_it_crosses_and_a_bad_journal_is_refused() {
    let dir = std::env::temp_dir().join(format!("tickline-replay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (journal, out) = (dir.join("orders.journal"), dir.join("reports.csv"));
    let (mut j, _) = Journal::open(&journal, FsyncPolicy::Never).unwrap();
    let px = 1_000_000 * FIXED_SCALE;
    let tif = TimeInForce::ImmediateOrCancel;
    let req = OrderRequest::new(1, 0, Side::Buy, px, 500 * FIXED_SCALE, FIXED_SCALE, tif);
    let rec = Record::Order {
        seq: 1,
        req: req.unwrap(),
        prob_up: 0.9,
        mark: 0,
        ts: u64::MAX / 2,
        touch: Touch::default(),
    };
    j.append(&rec).unwrap();
    j.commit().unwrap();
    drop(j);

    let o = run(&journal, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let fills: Vec<&Vec<&str>> = rows.iter().filter(|r| r[1] == "fill").collect();
    assert!(!fills.is_empty(), "{csv}");
    let prices: Vec<f64> = fills.iter().map(|r| r[7].parse().unwrap()).collect();
    assert!(
        prices.windows(2).all(|p| p[0] < p[1]),
        "best level first: {prices:?}"
    );
    assert!(fills.iter().all(|r| r[11] == "taker"), "{csv}");
    let kinds: Vec<&str> = rows.iter().map(|r| r[1]).collect();
    assert_eq!(kinds.last(), Some(&"caught_up"));
    let qty: f64 = fills.iter().map(|r| r[8].parse::<f64>().unwrap()).sum();
    if qty < 500.0 {
        assert_eq!(kinds[kinds.len() - 2], "done", "the rest expires: {csv}");
    }

    std::fs::write(&journal, "not a journal\n").unwrap();
    let o = run(&journal, &out);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("orders.journal"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
