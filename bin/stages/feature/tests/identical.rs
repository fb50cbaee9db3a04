//! The online stage (queue in, queue out) and the offline recorder (source in,
//! CSV out) emit bit-identical feature vectors for the same input, on the
//! synthetic market and on real files; and a killed stage resumes without
//! publishing any event twice.

use std::process::Command;
use std::time::Duration;

use tickline_features::N_FEATURES;
use tickline_feed::{Books, FeedStats, Step};
use tickline_schema::{BookEvent, FeatureVector, Stage};
use tickline_shm::{create, monotonic_ns, Consumer, FullPolicy, Producer, QueueView, WaitStrategy};

const BIN: &str = env!("CARGO_BIN_EXE_tickline-feature");

struct Queues(Vec<String>);

impl Queues {
    fn new(tag: &str, cap: usize) -> Self {
        let pid = std::process::id();
        let (b, f) = (
            format!("/tickline-ft-{pid}-{tag}-b"),
            format!("/tickline-ft-{pid}-{tag}-f"),
        );
        for n in [&b, &f] {
            let _ = tickline_shm::unlink(n);
        }
        create::<BookEvent>(&b, cap).unwrap();
        create::<FeatureVector>(&f, cap).unwrap();
        Queues(vec![b, f])
    }
}

impl Drop for Queues {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = tickline_shm::unlink(n);
        }
    }
}

/// Publishes a source's book events as the feed-handler does; returns how many.
fn publish(spec: &str, queue: &str) -> u64 {
    let mut src = tickline_feed::open_source(spec).unwrap();
    let mut books = Books::default();
    let mut stats = FeedStats::quiet();
    let mut p =
        Producer::<BookEvent>::attach(queue, FullPolicy::Block, WaitStrategy::default()).unwrap();
    let mut e: BookEvent = bytemuck::Zeroable::zeroed();
    let mut seq = 0;
    loop {
        match src.next(&mut books, &mut stats) {
            Step::Event(ev) => {
                books.fill_event(&ev, 10, &mut e);
                e.trace.seq = seq;
                e.trace.stamps = [0; 4];
                e.trace.stamp(Stage::Feed, monotonic_ns());
                p.push(&e);
                seq += 1;
            }
            Step::End => return seq,
            _ => {}
        }
    }
}

fn drain(queue: &str) -> Vec<FeatureVector> {
    let mut c = Consumer::<FeatureVector>::attach(queue, WaitStrategy::BusySpin).unwrap();
    std::iter::from_fn(|| c.try_pop()).collect()
}

/// CSV rows as (seq, feature bits, defaulted).
fn csv_rows(path: &std::path::Path) -> Vec<(u64, Vec<u32>, u32)> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let bits = f[3..3 + N_FEATURES]
                .iter()
                .map(|v| v.parse::<f32>().unwrap().to_bits())
                .collect();
            (
                f[0].parse().unwrap(),
                bits,
                f[3 + N_FEATURES].parse().unwrap(),
            )
        })
        .collect()
}

fn run(args: &[&str]) -> serde_json::Value {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(out.stdout.trim_ascii_end()).unwrap()
}

fn check_identical(spec: &str, tag: &str) {
    let q = Queues::new(tag, 1 << 17);
    let n = publish(spec, &q.0[0]);
    let summary = run(&[
        "--in",
        &format!("queue:{}", q.0[0]),
        "--out",
        &format!("queue:{}", q.0[1]),
        "--limit",
        &n.to_string(),
    ]);
    assert_eq!(summary["published"], serde_json::json!(n));
    let online = drain(&q.0[1]);
    assert_eq!(online.len() as u64, n);

    let csv = std::env::temp_dir().join(format!("tickline-ft-{}-{tag}.csv", std::process::id()));
    run(&[
        "--in",
        &format!("source:{spec}"),
        "--out",
        &format!("csv:{}", csv.display()),
        "--horizon",
        "20",
    ]);
    let rows = csv_rows(&csv);
    let _ = std::fs::remove_file(&csv);
    assert!(
        rows.len() as u64 + 20 * 4 >= n,
        "{tag}: only {} rows of {n}",
        rows.len()
    );
    for (seq, bits, defaulted) in rows {
        let fv = &online[seq as usize];
        assert_eq!(fv.trace.seq, seq);
        let online_bits: Vec<u32> = fv.values[..N_FEATURES]
            .iter()
            .map(|v| v.to_bits())
            .collect();
        assert_eq!(online_bits, bits, "{tag}: features of event {seq} differ");
        assert_eq!(
            fv.defaulted, defaulted,
            "{tag}: defaulted mask of event {seq}"
        );
        assert!(fv.trace.stamped(Stage::Feature).unwrap() >= fv.trace.ingest_ns());
    }
}

#[test]
fn online_and_offline_features_are_bit_identical() {
    check_identical("synthetic:11:20000:3", "syn");
    let data = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../../shared/data");
    assert!(
        data.exists(),
        "real data missing: {} (../shared/data beside the repo)",
        data.display()
    );
    let lobster = data.join("lobster/AAPL_2012-06-21_34200000_57600000_message_10.csv");
    check_identical(&format!("lobster:{}", lobster.display()), "lobster");
    let usdm = data.join("binance/usdm_btcusdt_20240808.gz");
    check_identical(&format!("binance:{}", usdm.display()), "binance");
}

#[test]
fn killed_stage_resumes_without_publishing_twice() {
    let q = Queues::new("kill", 1 << 17);
    let n = publish("synthetic:12:60000:2", &q.0[0]);
    let view = QueueView::open(&q.0[1]).unwrap();
    let spawn = || {
        Command::new(BIN)
            .args([
                "--in",
                &format!("queue:{}", q.0[0]),
                "--out",
                &format!("queue:{}", q.0[1]),
                "--batch",
                "8",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = spawn();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while view.status().tail < n / 3 {
        assert!(std::time::Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let out = Command::new(BIN)
        .args([
            "--in",
            &format!("queue:{}", q.0[0]),
            "--out",
            &format!("queue:{}", q.0[1]),
        ])
        .args(["--limit", &(n - view.status().tail).to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = drain(&q.0[1]);
    assert_eq!(got.len() as u64, n);
    for (i, f) in got.iter().enumerate() {
        assert_eq!(f.trace.seq, i as u64, "each event once, in order");
    }
}

/// Runs the stage over queue `q` to the end of `n` events, killing it with
/// SIGKILL `kills` times on the way; `state`: its --state prefix.
fn run_with_kills(q: &Queues, n: u64, kills: u32, state: Option<&str>) {
    let view = QueueView::open(&q.0[1]).unwrap();
    let args = |limit: Option<u64>| {
        let mut a = vec![
            "--in".to_string(),
            format!("queue:{}", q.0[0]),
            "--out".into(),
            format!("queue:{}", q.0[1]),
            "--batch".into(),
            "8".into(),
        ];
        if let Some(p) = state {
            a.extend(["--state".into(), p.into()]);
        }
        if let Some(l) = limit {
            a.extend(["--limit".into(), l.to_string()]);
        }
        a
    };
    for k in 0..kills {
        let mut child = Command::new(BIN)
            .args(args(None))
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let target = n * (k as u64 + 1) / (kills as u64 + 1);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while view.status().tail < target {
            assert!(std::time::Instant::now() < deadline, "no progress");
            std::thread::sleep(Duration::from_micros(200));
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let left = n - view.status().tail;
    let out = Command::new(BIN).args(args(Some(left))).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What a vector says, stamps aside: seq, instrument, feature bits, mask.
fn content(f: &FeatureVector) -> (u64, u32, Vec<u32>, u32) {
    let bits = f.values[..N_FEATURES].iter().map(|x| x.to_bits()).collect();
    (f.trace.seq, f.instrument_id, bits, f.defaulted)
}

#[test]
fn killed_stage_with_state_emits_exactly_what_an_unkilled_one_does() {
    let spec = "synthetic:14:60000:3";
    let reference = Queues::new("ref", 1 << 17);
    let n = publish(spec, &reference.0[0]);
    run_with_kills(&reference, n, 0, None);
    let want: Vec<_> = drain(&reference.0[1]).iter().map(content).collect();
    assert_eq!(want.len() as u64, n);

    let killed = Queues::new("killed", 1 << 17);
    assert_eq!(publish(spec, &killed.0[0]), n);
    let prefix = format!("/tickline-ft-{}-engine", std::process::id());
    run_with_kills(&killed, n, 6, Some(&prefix));
    let got: Vec<_> = drain(&killed.0[1]).iter().map(content).collect();
    let segments = tickline_shm::list(&format!("{prefix}-")).unwrap();
    for s in &segments {
        tickline_shm::unlink(s).unwrap();
    }
    assert_eq!(got.len(), want.len(), "each event once");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "event {} differs from the unkilled run", w.0);
    }
    assert_eq!(segments.len(), 3, "one state segment per instrument");
}

#[test]
fn a_limit_mid_batch_commits_only_what_it_handled() {
    let q = Queues::new("limit", 1 << 12);
    let n = publish("synthetic:13:500:1", &q.0[0]);
    assert!(n > 100);
    // 37 is not a multiple of the batch: the run stops inside its first batch.
    let s = run(&[
        "--in",
        &format!("queue:{}", q.0[0]),
        "--out",
        &format!("queue:{}", q.0[1]),
        "--batch",
        "64",
        "--limit",
        "37",
    ]);
    assert_eq!(s["published"], serde_json::json!(37), "{s}");
    let input = QueueView::open(&q.0[0]).unwrap().status();
    assert_eq!(input.head, 37, "committed input = handled input");
    // The next run takes up exactly where it stopped.
    run(&[
        "--in",
        &format!("queue:{}", q.0[0]),
        "--out",
        &format!("queue:{}", q.0[1]),
        "--limit",
        "13",
    ]);
    let got = drain(&q.0[1]);
    assert_eq!(
        got.iter().map(|f| f.trace.seq).collect::<Vec<_>>(),
        (0..50).collect::<Vec<_>>()
    );
}
