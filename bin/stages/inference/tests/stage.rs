//! The inference binary between real queues: predictions equal in-process
//! inference; hot reload refuses a bad model and takes a good one; NaN
//! outputs never pass; a missing runtime says what to run.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tickline_features::{FeatureConfig, FeatureEngine, N_FEATURES};
use tickline_feed::synthetic::{SyntheticConfig, SyntheticSource};
use tickline_feed::{Books, FeedStats, Source, Step};
use tickline_inference::{Model, SessionConfig};
use tickline_schema::{BookEvent, FeatureVector, Prediction, Stage};
use tickline_shm::{create, monotonic_ns, Consumer, FullPolicy, Producer, QueueView, WaitStrategy};

const BIN: &str = env!("CARGO_BIN_EXE_tickline-inference");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..")
}

struct Queues(String, String);

impl Queues {
    fn new(tag: &str) -> Self {
        let pid = std::process::id();
        let q = Queues(
            format!("/tickline-inf-{pid}-{tag}-f"),
            format!("/tickline-inf-{pid}-{tag}-p"),
        );
        for n in [&q.0, &q.1] {
            let _ = tickline_shm::unlink(n);
        }
        create::<FeatureVector>(&q.0, 1 << 14).unwrap();
        create::<Prediction>(&q.1, 1 << 14).unwrap();
        q
    }
}

impl Drop for Queues {
    fn drop(&mut self) {
        let _ = tickline_shm::unlink(&self.0);
        let _ = tickline_shm::unlink(&self.1);
    }
}

fn vectors(seed: u64, n: usize) -> Vec<FeatureVector> {
    let cfg = SyntheticConfig {
        seed,
        instruments: 2,
        events: n as u64,
        ..Default::default()
    };
    let mut src = SyntheticSource::new(cfg);
    let (mut books, mut stats) = (Books::default(), FeedStats::quiet());
    let mut engine = FeatureEngine::new(FeatureConfig::default());
    let mut e: BookEvent = bytemuck::Zeroable::zeroed();
    let mut out = Vec::new();
    loop {
        match src.next(&mut books, &mut stats) {
            Step::Event(ev) => {
                books.fill_event(&ev, 10, &mut e);
                e.trace.seq = out.len() as u64;
                e.trace.stamps = [0; 4];
                e.trace.stamp(Stage::Feed, monotonic_ns());
                let mut fv: FeatureVector = bytemuck::Zeroable::zeroed();
                engine.update(&e, &mut fv);
                fv.trace.stamp(Stage::Feature, monotonic_ns());
                out.push(fv);
            }
            Step::End => return out,
            _ => {}
        }
    }
}

fn publish(queue: &str, vs: &[FeatureVector]) {
    let mut p =
        Producer::<FeatureVector>::attach(queue, FullPolicy::Block, WaitStrategy::default())
            .unwrap();
    assert_eq!(p.push_all(vs), tickline_shm::Push::Sent);
}

fn drain(queue: &str) -> Vec<Prediction> {
    let mut c = Consumer::<Prediction>::attach(queue, WaitStrategy::BusySpin).unwrap();
    std::iter::from_fn(|| c.try_pop()).collect()
}

fn stage(q: &Queues, model: &Path, extra: &[&str]) -> Child {
    Command::new(BIN)
        .args([
            "--model",
            &model.display().to_string(),
            "--in",
            &format!("queue:{}", q.0),
            "--out",
            &format!("queue:{}", q.1),
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn summary(child: Child) -> serde_json::Value {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(out.stdout.trim_ascii_end()).unwrap()
}

fn make_model(path: &Path, weight: &str, meta: &[&str]) {
    let mut cmd = Command::new(repo().join(".venv/bin/python"));
    cmd.arg(repo().join("scripts/make_test_model.py"))
        .args(["--weight", weight]);
    for m in meta {
        cmd.args(["--meta", m]);
    }
    let out = cmd
        .arg(path)
        .output()
        .expect(".venv missing: run scripts/setup-python.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn wait_for(q: &str, n: u64) {
    let view = QueueView::open(q).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while view.status().tail < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} predictions",
            view.status().tail
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn sigterm(child: &Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
}

#[test]
fn predictions_through_queues_equal_in_process_inference() {
    let q = Queues::new("eq");
    let vs = vectors(4, 3_000);
    publish(&q.0, &vs);
    let model_path = repo().join("models/tickline-v1.onnx");
    let s = summary(stage(&q, &model_path, &["--limit", &vs.len().to_string()]));
    assert_eq!(s["vectors"], serde_json::json!(vs.len()));
    let preds = drain(&q.1);
    assert_eq!(preds.len(), vs.len());
    let mut model = Model::load(
        &model_path,
        &SessionConfig {
            max_batch: 1,
            ..Default::default()
        },
    )
    .unwrap();
    for (fv, p) in vs.iter().zip(&preds) {
        assert_eq!(p.trace.seq, fv.trace.seq);
        model.rows_mut(1).copy_from_slice(&fv.values[..N_FEATURES]);
        let want = model.run(1).unwrap()[0];
        assert!(
            (p.prob_up - want).abs() <= 1e-6,
            "seq {}: {} vs {want}",
            fv.trace.seq,
            p.prob_up
        );
        assert_eq!(p.model_version, 1);
        assert_eq!(p.horizon_events, 50);
        assert_eq!((p.best_bid, p.best_ask), (fv.best_bid, fv.best_ask));
        assert!(
            p.trace.stamped(Stage::Inference).unwrap() >= p.trace.stamped(Stage::Feature).unwrap()
        );
    }
}

#[test]
fn a_csv_recording_holds_what_the_queue_would() {
    let q = Queues::new("rec");
    let vs = vectors(5, 500);
    publish(&q.0, &vs);
    let dir = std::env::temp_dir().join(format!("tickline-inf-rec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rec = dir.join("p.csv");
    let model_path = repo().join("models/tickline-v1.onnx");
    let out = Command::new(BIN)
        .args(["--model", &model_path.display().to_string()])
        .args(["--in", &format!("queue:{}", q.0)])
        .args(["--out", &format!("csv:{}", rec.display())])
        .args(["--limit", &vs.len().to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read(&rec).unwrap();
    let (preds, bad, _) = tickline_schema::prediction_csv::read(&text[..]).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!((preds.len(), bad), (vs.len(), 0));
    for (fv, p) in vs.iter().zip(&preds) {
        assert_eq!(p.trace.seq, fv.trace.seq);
        assert_eq!((p.best_bid, p.best_ask), (fv.best_bid, fv.best_ask));
        assert!((0.0..=1.0).contains(&p.prob_up));
    }
}

#[test]
fn hot_reload_refuses_a_bad_model_and_takes_a_good_one() {
    let q = Queues::new("reload");
    let dir = std::env::temp_dir().join(format!("tickline-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let live = dir.join("model.onnx");
    std::fs::copy(repo().join("models/tickline-v1.onnx"), &live).unwrap();
    let child = stage(&q, &live, &["--reload-check-ms", "20"]);
    let vs = vectors(5, 900);
    // Swap a file in atomically, as a deploy would.
    let swap = |build: &dyn Fn(&Path)| {
        let tmp = dir.join("next.onnx");
        build(&tmp);
        std::fs::rename(&tmp, &live).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    };
    publish(&q.0, &vs[..300]);
    wait_for(&q.1, 300);
    // A model for another feature set: refused, version 1 keeps serving.
    swap(&|p| make_model(p, "0.01", &["feature_set_version=99", "model_version=7"]));
    publish(&q.0, &vs[300..600]);
    wait_for(&q.1, 600);
    // A fitting model, version 2: taken.
    swap(&|p| make_model(p, "0.01", &["feature_set_version=1", "model_version=2"]));
    publish(&q.0, &vs[600..]);
    wait_for(&q.1, 900);
    sigterm(&child);
    let s = summary(child);
    let preds = drain(&q.1);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(s["reloads"], serde_json::json!(1), "{s}");
    assert_eq!(s["reload_failures"], serde_json::json!(1), "{s}");
    assert!(preds[..600].iter().all(|p| p.model_version == 1));
    assert!(preds[600..].iter().all(|p| p.model_version == 2));
}

#[test]
fn nan_outputs_are_counted_and_never_published() {
    let q = Queues::new("nan");
    let dir = std::env::temp_dir().join(format!("tickline-nan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("nan.onnx");
    make_model(&bad, "nan", &["feature_set_version=1"]);
    let vs = vectors(6, 200);
    publish(&q.0, &vs);
    let s = summary(stage(&q, &bad, &["--limit", "200"]));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(s["bad_outputs"], serde_json::json!(200), "{s}");
    assert_eq!(s["predictions"], serde_json::json!(0));
    assert!(drain(&q.1).is_empty());
}

#[test]
fn a_missing_runtime_says_what_to_run() {
    let out = Command::new(BIN)
        .args(["--in", "csv:/dev/null"])
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("scripts/setup-python.sh") && err.contains("ORT_DYLIB_PATH"),
        "{err}"
    );
}
