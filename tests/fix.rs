//! Orders over FIX 4.4 to a QuickFIX venue (scripts/fix/venue.cpp), with real
//! processes: the round trip order, ack, fill; a sequence gap the venue makes
//! on purpose, filled by a resend; kill -9 of the order-router (and with it
//! its FIX gateway thread) at random moments during a paced replay; and the
//! venue itself killed and restarted mid-session. Each time the venue must
//! have seen every ClOrdID exactly once and hold the positions the journal
//! holds. Needs libquickfix-dev (scripts/setup-fix.sh).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tickline_e2e::{
    binary, fix_venue, output_ok, pipeline_binaries, repo, synthetic_pipeline_config, wait_ok,
};

/// Two cores: one pipeline at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tickline-fix-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The QuickFIX venue process.
struct Venue {
    bin: PathBuf,
    port: u16,
    dir: PathBuf,
    extra: Vec<String>,
    child: Option<Child>,
}

impl Venue {
    fn start(bin: PathBuf, dir: &Path, extra: &[&str]) -> Venue {
        let mut v = Venue {
            bin,
            port: free_port(),
            dir: dir.join("venue"),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        v.spawn();
        v
    }

    fn spawn(&mut self) {
        let child = Command::new(&self.bin)
            .args([
                "--port",
                &self.port.to_string(),
                "--dir",
                &self.dir.display().to_string(),
            ])
            .args(["--price", "105"])
            .args(&self.extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        self.child = Some(child);
        // Listening once the port takes connections.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "venue never listened");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill9(&mut self) {
        let mut c = self.child.take().unwrap();
        kill(Pid::from_raw(c.id() as i32), Signal::SIGKILL).unwrap();
        c.wait().unwrap();
    }

    /// SIGTERM; the venue's JSON summary.
    fn stop(&mut self) -> serde_json::Value {
        let c = self.child.take().unwrap();
        kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM).unwrap();
        let out = c.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(text.trim()).unwrap_or_else(|e| {
            panic!(
                "venue summary ({e}): {text} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    fn spec(&self) -> String {
        format!("fix:127.0.0.1:{}", self.port)
    }
}

impl Drop for Venue {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Predictions on two instruments, one quoted near 100 and one near 110,
/// around the venue's price (105): on each, orders one way fill at once and
/// the other way do not.
fn predictions_csv(path: &Path, n: u64) {
    let mut text = String::from(
        "seq,exchange_ns,instrument_id,model_version,feature_set_version,horizon_events,prob_up,best_bid,best_ask\n",
    );
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in 1..=n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let inst = 1 + i % 2;
        let base = if inst == 1 {
            10_000_000_000
        } else {
            11_000_000_000
        };
        let bid = base + (x % 200) as i64 * 1_000_000;
        let p = [0.2, 0.35, 0.5, 0.65, 0.8][(x >> 20) as usize % 5];
        text.push_str(&format!(
            "{i},{},{inst},1,1,50,{p},{bid},{}\n",
            i * 1_000_000,
            bid + 2_000_000
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// Orders in flight count against the position limit until answered, and
/// a file of predictions is read in milliseconds: a wide limit lets many go.
const ROUTER_LIMITS: [&str; 10] = [
    "--sizing",
    "kelly:0.5:20",
    "--max-position",
    "1000",
    "--max-order",
    "5",
    "--max-rate",
    "100000",
    "--max-gross",
    "1e9",
];

/// The order-router over a predictions file; its summary.
fn route_csv(csv: &Path, journal: &Path, venue: &str) -> serde_json::Value {
    let out = output_ok(
        Command::new(binary("tickline-order-router"))
            .args(["--in", &format!("csv:{}", csv.display())])
            .args([
                "--journal",
                &journal.display().to_string(),
                "--venue",
                venue,
            ])
            .args(ROUTER_LIMITS),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

/// The journal's and the venue's accounts agree: every order once, the same
/// positions, nothing left unanswered.
fn assert_agree(router: &serde_json::Value, venue: &serde_json::Value) {
    assert_eq!(venue["duplicates"], 0, "venue {venue}");
    assert_eq!(
        venue["orders"], router["orders"],
        "router {router}\nvenue {venue}"
    );
    let mut theirs: Vec<(String, f64)> = venue["positions"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().parse().unwrap()))
        .filter(|(_, q)| *q != 0.0)
        .collect();
    let mut ours: Vec<(String, f64)> = router["positions"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_f64().unwrap()))
        .filter(|(_, q)| *q != 0.0)
        .collect();
    theirs.sort_by(|a, b| a.0.cmp(&b.0));
    ours.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(ours, theirs, "positions: journal vs venue");
    assert_eq!(router["venue_counters"]["working"], 0, "{router}");
}

#[test]
fn orders_go_out_acks_and_fills_come_back_and_both_sides_agree() {
    let Some(bin) = fix_venue() else { return };
    let dir = scratch("round-trip");
    let mut venue = Venue::start(bin, &dir, &[]);
    predictions_csv(&dir.join("p.csv"), 3000);
    let router = route_csv(&dir.join("p.csv"), &dir.join("journal"), &venue.spec());
    let v = venue.stop();
    assert!(router["orders"].as_u64().unwrap() > 20, "{router}");
    assert!(router["fills"].as_u64().unwrap() > 5, "{router}");
    assert!(v["fills"].as_u64().unwrap() > 5, "{v}");
    assert_eq!(router["venue_counters"]["logons"], 1);
    assert_agree(&router, &v);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_sequence_gap_from_the_venue_is_asked_for_and_filled() {
    let Some(bin) = fix_venue() else { return };
    let dir = scratch("gap");
    // The venue skips a sequence number after its 5th ExecutionReport.
    let mut venue = Venue::start(bin, &dir, &["--skip-seq-after", "5"]);
    predictions_csv(&dir.join("p.csv"), 2000);
    let router = route_csv(&dir.join("p.csv"), &dir.join("journal"), &venue.spec());
    let v = venue.stop();
    assert!(
        router["venue_counters"]["resend_requests"]
            .as_u64()
            .unwrap()
            >= 1,
        "{router}"
    );
    assert!(router["orders"].as_u64().unwrap() > 5, "{router}");
    assert_agree(&router, &v);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A pipeline config over the paced synthetic market whose router trades
/// at `venue`.
fn pipeline_config(dir: &Path, name: &str, venue: &str, events: u64) -> PathBuf {
    let restart = "[restart]\nbackoff_initial_ms = 20\nbackoff_max_ms = 100\nmax_restarts = 1000\nwithin_s = 60\n";
    let text = synthetic_pipeline_config(
        name,
        &dir.join("run"),
        events,
        "realtime:0.02",
        restart,
        &["--max-rate", "100000", "--venue", venue],
        5000,
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn supervise(config: &Path) -> Child {
    pipeline_binaries();
    Command::new(binary("tickline-supervisor"))
        .args(["run", "--json", "--config", &config.display().to_string()])
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child) -> serde_json::Value {
    let out = wait_ok(child);
    serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap()
}

/// The router's pid, from the supervisor's status board.
fn router_pid(name: &str) -> Option<u32> {
    use tickline_schema::telemetry::{get_str, PipelineStatus};
    let b = tickline_shm::BoardReader::<PipelineStatus>::open(&format!("/tickline-{name}-status"))
        .ok()?;
    let (_, st) = b.read()?;
    st.stages
        .iter()
        .find(|s| get_str(&s.name) == "order-router" && s.pid != 0)
        .map(|s| s.pid)
}

fn orders_in_journal(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join("run/orders.journal"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("O|"))
        .count() as u64
}

#[test]
fn kill_9_of_the_router_and_its_gateway_at_random_moments_loses_and_doubles_no_order() {
    let Some(bin) = fix_venue() else { return };
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("kill-router");
    let mut venue = Venue::start(bin, &dir, &[]);
    let name = format!("fx{}k", std::process::id());
    // About 15 s of trading (the synthetic market's 20,000 events span
    // about 0.3 s of its time; paced at 0.02).
    let cfg = pipeline_config(&dir, &name, &venue.spec(), 20_000);
    let mut child = supervise(&cfg);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while kills < 8 && Instant::now() < deadline && child.try_wait().unwrap().is_none() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(150 + seed % 400));
        // Only once it trades, so the kills land between orders and acks.
        if orders_in_journal(&dir) == 0 {
            continue;
        }
        if let Some(pid) = router_pid(&name) {
            if kill(Pid::from_raw(pid as i32), Signal::SIGKILL).is_ok() {
                kills += 1;
            }
        }
    }
    let s = finish(child);
    let router = &s["stages"]["order-router"]["stage_summary"];
    let v = venue.stop();
    eprintln!(
        "{kills} kills; router: {} orders, {} fills, positions {}, fix {}; venue {v}",
        router["orders"], router["fills"], router["positions"], router["venue_counters"]
    );
    assert!(kills >= 4, "only {kills} kills landed");
    assert!(
        s["stages"]["order-router"]["restarts"].as_u64().unwrap() >= 4,
        "{s}"
    );
    assert_eq!(
        router["orders"].as_u64().unwrap(),
        orders_in_journal(&dir),
        "{router}"
    );
    assert!(router["orders"].as_u64().unwrap() > 10, "{router}");
    assert_agree(router, &v);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_venue_restarting_mid_session_loses_and_doubles_no_order() {
    let Some(bin) = fix_venue() else { return };
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("kill-venue");
    let mut venue = Venue::start(bin, &dir, &[]);
    let name = format!("fx{}v", std::process::id());
    let cfg = pipeline_config(&dir, &name, &venue.spec(), 20_000);
    let child = supervise(&cfg);
    let deadline = Instant::now() + Duration::from_secs(60);
    while orders_in_journal(&dir) < 10 {
        assert!(Instant::now() < deadline, "no orders");
        std::thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..2 {
        venue.kill9();
        std::thread::sleep(Duration::from_millis(300));
        venue.spawn();
        std::thread::sleep(Duration::from_millis(700));
    }
    let s = finish(child);
    let router = &s["stages"]["order-router"]["stage_summary"];
    let v = venue.stop();
    eprintln!(
        "router: {} orders, {} fills, positions {}, fix {}; venue {v}",
        router["orders"], router["fills"], router["positions"], router["venue_counters"]
    );
    assert!(
        router["venue_counters"]["logons"].as_u64().unwrap() >= 3,
        "{router}"
    );
    assert_agree(router, &v);
    let _ = std::fs::remove_dir_all(&dir);
}
