//! The venue simulator in the real pipeline on the shared Binance USD-M
//! capture (config/sim-binance.toml): its reports are byte for byte those
//! of an offline replay of the orders the router journaled (exchange time
//! alone decides them, not when the processes ran), each order is answered
//! only after its entry latency, the router journals exactly the fills the
//! venue made, and a router killed with SIGKILL mid-run loses and doubles
//! none. On Databento's ESH4 MBO file (config/sim-esh4.toml, exact FIFO),
//! the orders ahead of each fill equal an independent count
//! (scripts/check_venue_fifo.py, over Databento's own decoder), also after
//! the simulator is killed with SIGKILL mid-run and rebuilds its queues.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tickline_schema::telemetry::{get_str, PipelineStatus};
use tickline_shm::{BoardReader, QueueView};

use tickline_e2e::{binary, output_ok, pipeline_binaries, repo, wait_ok};

/// Two cores: one pipeline at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The config's entry latency (constant:1000:1000), ns.
const ENTRY_NS: u64 = 1_000_000;

/// A simulator config and how to replay its run offline.
struct Setup {
    /// config/NAME.toml.
    config: &'static str,
    /// The feed's source, as in the config.
    source: &'static str,
    /// The venue's settings (and instrument ids), as in the config.
    replay: &'static [&'static str],
}

const BINANCE: Setup = Setup {
    config: "sim-binance",
    source: "binance:../shared/data/binance/usdm_btcusdt_20240808.gz",
    replay: &[
        "--instrument-ids",
        "BTCUSDT=1",
        "--queue-model",
        "risk_averse",
        "--latency",
        "constant:1000:1000",
        "--tick",
        "0.1",
        "--lot",
        "0.001",
        "--maker-fee-bps",
        "2",
        "--taker-fee-bps",
        "5",
        "--reorder-ms",
        "100",
    ],
};

const ESH4: Setup = Setup {
    config: "sim-esh4",
    source: "dbn:../shared/data/databento/esh4-glbx-mdp3-20231225.mbo.dbn.zst",
    replay: &[
        "--queue-model",
        "fifo",
        "--latency",
        "constant:1000:1000",
        "--tick",
        "0.25",
        "--lot",
        "1",
        "--maker-fee-bps",
        "0.05",
        "--taker-fee-bps",
        "0.05",
    ],
};

struct Run {
    name: String,
    dir: PathBuf,
    config: PathBuf,
    setup: &'static Setup,
}

impl Run {
    /// config/sim-binance.toml under a name of its own, `pace` for the feed.
    fn new(tag: &str, pace: &str) -> Run {
        Run::of(&BINANCE, tag, pace)
    }

    /// `setup`'s config under a name of its own, `pace` for the feed.
    fn of(setup: &'static Setup, tag: &str, pace: &str) -> Run {
        pipeline_binaries();
        binary("tickline-venue-sim");
        let name = format!("t{}-{tag}", std::process::id());
        let dir = std::env::temp_dir().join(format!("tickline-venue-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = setup.config;
        let text = std::fs::read_to_string(repo().join(format!("config/{cfg}.toml"))).unwrap();
        let run_dir = dir.join("run").display().to_string();
        let edits = [
            (format!("name = \"{cfg}\""), format!("name = \"{name}\"")),
            (
                format!("run_dir = \"runs/{cfg}\""),
                format!("run_dir = \"{run_dir}\""),
            ),
            (
                "\"--pace\", \"max\"".into(),
                format!("\"--pace\", \"{pace}\""),
            ),
        ];
        let mut text = text;
        for (from, to) in edits {
            assert!(text.contains(&from), "{from} not in config/{cfg}.toml");
            text = text.replacen(&from, &to, 1);
        }
        let config = dir.join("config.toml");
        std::fs::write(&config, text).unwrap();
        Run {
            name,
            dir,
            config,
            setup,
        }
    }

    fn start(&self) -> Child {
        Command::new(binary("tickline-supervisor"))
            .args([
                "run",
                "--json",
                "--config",
                &self.config.display().to_string(),
            ])
            .current_dir(repo())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// The reports `tickline-venue-replay` gives for the journal's orders,
    /// with the venue settings of the config.
    fn replayed(&self) -> String {
        let out = self.dir.join("replayed.csv");
        let journal = self.dir.join("run/orders.journal");
        output_ok(
            Command::new(binary("tickline-venue-replay"))
                .args(["--source", self.setup.source])
                .args(self.setup.replay)
                .args([
                    "--orders-csv",
                    &self.dir.join("orders.csv").display().to_string(),
                ])
                .args(["--journal", &journal.display().to_string()])
                .args(["--out", &out.display().to_string()])
                .current_dir(repo()),
        );
        std::fs::read_to_string(out).unwrap()
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join("run").join(file)).unwrap()
    }

    fn pid_of(&self, stage: &str) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(Instant::now() < deadline, "{stage} never started");
            let board =
                BoardReader::<PipelineStatus>::open(&format!("/tickline-{}-status", self.name));
            if let Some((_, st)) = board.ok().and_then(|b| b.read()) {
                let s = st.stages.iter().find(|s| get_str(&s.name) == stage);
                if let Some(s) = s.filter(|s| s.pid != 0) {
                    return s.pid;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Messages the consumer of queue `queue` has taken (and committed).
    fn taken_from(&self, queue: &str) -> u64 {
        QueueView::open(&format!("/tickline-{}-q-{queue}", self.name))
            .map(|v| v.status().head)
            .unwrap_or(0)
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn finish(c: Child) -> serde_json::Value {
    let out = wait_ok(c);
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("no summary ({e}): {text}"))
}

/// A report row of venue-reports.csv, by column name.
fn reports(csv: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            header
                .iter()
                .map(|h| h.to_string())
                .zip(l.split(',').map(String::from))
                .collect()
        })
        .collect()
}

fn fixed(s: &str) -> i64 {
    (s.parse::<f64>().unwrap() * 1e8).round() as i64
}

/// (order id, price, qty) of a fill.
type FillKey = (u64, i64, i64);

/// Each fill's [`FillKey`], sorted.
fn venue_fills(csv: &str) -> Vec<FillKey> {
    let mut v: Vec<_> = reports(csv)
        .iter()
        .filter(|r| r["kind"] == "fill")
        .map(|r| {
            (
                r["client_order_id"].parse().unwrap(),
                fixed(&r["price"]),
                fixed(&r["qty"]),
            )
        })
        .collect();
    v.sort();
    v
}

/// The journal's fills, as `venue_fills`, and its orders' send times.
fn journal_fills_and_orders(journal: &str) -> (Vec<FillKey>, BTreeMap<u64, u64>) {
    let mut fills = Vec::new();
    let mut sent = BTreeMap::new();
    for l in journal.lines() {
        let f: Vec<&str> = l.split('|').collect();
        match f[0] {
            "F" => fills.push((
                f[2].parse().unwrap(),
                f[5].parse().unwrap(),
                f[6].parse().unwrap(),
            )),
            "O" => {
                sent.insert(f[2].parse().unwrap(), f[10].parse().unwrap());
            }
            _ => {}
        }
    }
    fills.sort();
    (fills, sent)
}

/// Every order's first answer comes exactly one entry latency after it
/// was sent, and no fill before it.
fn assert_answered_after_arrival(csv: &str, sent: &BTreeMap<u64, u64>) {
    let mut first: BTreeMap<u64, u64> = BTreeMap::new();
    for r in reports(csv).iter().filter(|r| r["kind"] != "caught_up") {
        let id: u64 = r["client_order_id"].parse().unwrap();
        let t: u64 = r["exchange_ns"].parse().unwrap();
        let arrival = sent[&id] + ENTRY_NS;
        assert!(
            t >= arrival,
            "order {id}: {} at {t}, before its arrival at {arrival}",
            r["kind"]
        );
        first.entry(id).or_insert(t);
    }
    for (id, t) in &first {
        assert_eq!(*t, sent[id] + ENTRY_NS, "order {id} answered late");
    }
    assert_eq!(first.len(), sent.len(), "every order is answered");
}

#[test]
fn the_venue_answers_the_journaled_orders_as_an_offline_replay_does() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let run = Run::new("replay", "max");
    let s = finish(run.start());
    let sim = &s["stages"]["venue-sim"]["stage_summary"];
    assert_eq!(sim["caught_up"], true, "{sim}");
    // The feed's --book-records: the venue follows the full depth.
    assert!(
        sim["venue"]["level_changes"].as_u64() > Some(400_000),
        "{sim}"
    );
    let csv = run.read("venue-reports.csv");
    let (fills, sent) = journal_fills_and_orders(&run.read("orders.journal"));
    assert!(fills.len() >= 20, "a real run fills orders: {sim}");
    assert_eq!(fills, venue_fills(&csv), "journal fills = venue fills");
    assert_answered_after_arrival(&csv, &sent);
    assert!(
        csv == run.replayed(),
        "the live venue and the replay differ"
    );
}

/// When a kill lands: `pace` for the feed, and the kill once `at`
/// messages have been taken from queue `queue`.
struct KillAt {
    pace: &'static str,
    queue: &'static str,
    at: u64,
}

/// Runs `setup`'s config, kills `stage` with SIGKILL mid-run, and checks
/// that the journal has exactly the venue's fills and that the venue
/// answered as a replay does. The run and the venue's summary.
fn kill_mid_run(setup: &'static Setup, stage: &str, when: KillAt) -> (Run, serde_json::Value) {
    let run = Run::of(setup, &format!("kill-{}-{stage}", setup.config), when.pace);
    let child = run.start();
    let first = run.pid_of(stage);
    let deadline = Instant::now() + Duration::from_secs(60);
    while run.taken_from(when.queue) < when.at {
        assert!(Instant::now() < deadline, "{} moved too little", when.queue);
        std::thread::sleep(Duration::from_millis(1));
    }
    kill(Pid::from_raw(first as i32), Signal::SIGKILL).unwrap();
    let s = finish(child);
    assert_eq!(s["stages"][stage]["restarts"], 1, "{}", s["stages"][stage]);
    let sim = &s["stages"]["venue-sim"]["stage_summary"];
    assert_eq!(sim["caught_up"], true, "{sim}");
    let csv = run.read("venue-reports.csv");
    let (fills, sent) = journal_fills_and_orders(&run.read("orders.journal"));
    assert!(!fills.is_empty());
    assert_eq!(fills, venue_fills(&csv), "journal fills = venue fills");
    assert_answered_after_arrival(&csv, &sent);
    assert!(
        csv == run.replayed(),
        "the live venue and the replay differ"
    );
    let sim = sim.clone();
    (run, sim)
}

/// On the Binance capture: once the router has put 300 messages on the
/// venue's queue.
const BINANCE_MID_RUN: KillAt = KillAt {
    pace: "realtime:40",
    queue: "orders",
    at: 300,
};

#[test]
fn kill_9_of_the_router_mid_run_loses_and_doubles_no_fill() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    kill_mid_run(&BINANCE, "order-router", BINANCE_MID_RUN);
}

#[test]
fn kill_9_of_the_venue_mid_run_rebuilds_it_and_loses_and_doubles_no_fill() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (_, sim) = kill_mid_run(&BINANCE, "venue-sim", BINANCE_MID_RUN);
    assert!(sim["rebuilt_from_inputs"].as_u64().unwrap() > 0, "{sim}");
    assert_eq!(sim["lost_state"], false, "{sim}");
}

/// Exact FIFO after a kill -9: the simulator rebuilds every other
/// participant's order from its input log (ESH4 replays in under a
/// second at full speed: the kill lands once it has taken a quarter of
/// the file's 115,814 events), and its fills still equal the count.
#[test]
fn kill_9_of_the_venue_on_mbo_data_rebuilds_its_fifo_queues() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let when = KillAt {
        pace: "max",
        queue: "venue-book",
        at: 30_000,
    };
    let (run, sim) = kill_mid_run(&ESH4, "venue-sim", when);
    assert!(sim["rebuilt_from_inputs"].as_u64().unwrap() > 0, "{sim}");
    assert_eq!(sim["lost_state"], false, "{sim}");
    let got = fifo_count(
        &run.dir.join("orders.csv"),
        &run.dir.join("run/venue-reports.csv"),
    );
    assert!(got["fills_venue"].as_u64().unwrap() > 0, "{got}");
}

/// scripts/check_venue_fifo.py's verdict on `reports` for `orders`; on a
/// difference, the inputs are kept under target/ to look at.
fn fifo_count(orders: &Path, reports: &Path) -> serde_json::Value {
    let dbn = &ESH4.source["dbn:".len()..];
    let out = Command::new(repo().join(".venv/bin/python"))
        .arg("scripts/check_venue_fifo.py")
        .args(["--dbn", dbn, "--entry-us", "1000"])
        .arg("--orders")
        .arg(orders)
        .arg("--reports")
        .arg(reports)
        .current_dir(repo())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let got: serde_json::Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{e}: {text} {}", String::from_utf8_lossy(&out.stderr)));
    if !out.status.success() {
        let keep = repo().join("target/venue-fifo-failure");
        let _ = std::fs::create_dir_all(&keep);
        let _ = std::fs::copy(orders, keep.join("orders.csv"));
        let _ = std::fs::copy(reports, keep.join("venue-reports.csv"));
        panic!(
            "fills differ from the count (inputs in {}): {got}",
            keep.display()
        );
    }
    got
}

#[test]
fn esh4_fifo_fills_equal_an_independent_count_of_the_orders_ahead() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let run = Run::of(&ESH4, "fifo", "max");
    let s = finish(run.start());
    let sim = &s["stages"]["venue-sim"]["stage_summary"];
    assert_eq!(sim["caught_up"], true, "{sim}");
    assert_eq!(sim["venue"]["order_records"], 65_819, "{sim}");
    let csv = run.read("venue-reports.csv");
    let (fills, sent) = journal_fills_and_orders(&run.read("orders.journal"));
    // How many the router's stream gets varies from run to run (reports
    // reach it asynchronously); the random streams below are the bulk.
    assert!(!fills.is_empty(), "a real run fills orders: {sim}");
    assert_eq!(fills, venue_fills(&csv), "journal fills = venue fills");
    assert_answered_after_arrival(&csv, &sent);
    assert!(
        csv == run.replayed(),
        "the live venue and the replay differ"
    );
    let got = fifo_count(
        &run.dir.join("orders.csv"),
        &run.dir.join("run/venue-reports.csv"),
    );
    assert_eq!(got["fills_venue"], fills.len(), "{got}");
}

/// Many more orders than a pipeline run sends, at random times (the
/// pre-open included) and prices near the touch: every fill of the offline
/// replay equals the independent count.
#[test]
fn esh4_fifo_fills_of_a_random_order_stream_equal_the_count() {
    binary("tickline-venue-replay");
    let dir = std::env::temp_dir().join(format!("tickline-fifo-random-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (orders, reports) = (dir.join("orders.csv"), dir.join("reports.csv"));
    let dbn = &ESH4.source["dbn:".len()..];
    let made = output_ok(
        Command::new(repo().join(".venv/bin/python"))
            .arg("scripts/random_orders_dbn.py")
            .args(["--dbn", dbn, "--tick", "0.25", "--n", "1500", "--seed", "7"])
            .current_dir(repo()),
    );
    std::fs::write(&orders, &made.stdout).unwrap();
    output_ok(
        Command::new(binary("tickline-venue-replay"))
            .args(["--source", ESH4.source])
            .args(ESH4.replay)
            .arg("--orders-in")
            .arg(&orders)
            .arg("--out")
            .arg(&reports)
            .current_dir(repo()),
    );
    let got = fifo_count(&orders, &reports);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(got["fills_venue"].as_u64().unwrap() >= 1000, "{got}");
    assert!(
        got["refused_or_expired"]["book_crossed"].as_u64().unwrap() > 0,
        "{got}"
    );
}
