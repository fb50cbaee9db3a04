//! The native engine against ONNX Runtime, the reference: the committed
//! model and test ensembles give the same probabilities (bit for bit where
//! the arithmetic is the same), a logistic regression within 1e-6 on the
//! vectors it will see, and whatever it does not evaluate exactly (an
//! unsupported attribute or operator) is refused, never approximated.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use tickline_features::N_FEATURES;
use tickline_inference::{onnx, EngineChoice, InferenceError, Model, SessionConfig};

mod common;
use common::{predict, python, repo, run_ok, vectors};

fn load(path: &Path, engine: EngineChoice, batch: usize) -> Result<Model, InferenceError> {
    Model::load(
        path,
        &SessionConfig {
            max_batch: batch,
            engine,
            ..Default::default()
        },
    )
}

/// A model from scripts/make_test_model.py (`args` choose its kind).
fn make_model(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let path = dir.join(format!("{name}.onnx"));
    run_ok(
        Command::new(python())
            .arg(repo().join("scripts/make_test_model.py"))
            .args(args)
            .args(["--meta", "feature_set_version=1", "--meta", "n_features=16"])
            .arg(&path),
    );
    path
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tickline-engines-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Both engines on the same vectors at batch 1 and 256: the largest difference.
fn max_diff(path: &Path, x: &[f32]) -> f64 {
    let mut worst = 0.0f64;
    for batch in [1, 256] {
        let mut ort = load(path, EngineChoice::Ort, batch).unwrap();
        let mut trees = load(path, EngineChoice::Trees, batch).unwrap();
        assert_eq!((ort.engine_name(), trees.engine_name()), ("ort", "trees"));
        let (a, b) = (predict(&mut ort, x, batch), predict(&mut trees, x, batch));
        assert_eq!(a.len(), x.len() / N_FEATURES);
        for (p, q) in a.iter().zip(&b) {
            worst = worst.max((p - q).abs());
        }
    }
    worst
}

#[test]
fn the_committed_model_gives_onnx_runtimes_probabilities_bit_for_bit() {
    let path = repo().join("models/tickline-v1.onnx");
    let auto = load(&path, EngineChoice::Auto, 32).unwrap();
    assert_eq!(auto.engine_name(), "trees", "{}", auto.engine());
    assert_eq!(auto.parity().unwrap().vectors, 4096);
    assert_eq!(max_diff(&path, &vectors(11, 5_000)), 0.0);
}

#[test]
fn test_ensembles_match_in_every_mode_and_class_layout() {
    let dir = tempdir("modes");
    let x = vectors(12, 3_000);
    for (name, args) in [
        ("leq", vec!["--kind", "trees"]),
        (
            "lt",
            vec!["--kind", "trees", "--mode", "BRANCH_LT", "--seed", "2"],
        ),
        (
            "gte",
            vec!["--kind", "trees", "--mode", "BRANCH_GTE", "--seed", "3"],
        ),
        (
            "eq",
            vec!["--kind", "trees", "--mode", "BRANCH_EQ", "--seed", "4"],
        ),
        (
            "neq",
            vec!["--kind", "trees", "--mode", "BRANCH_NEQ", "--seed", "5"],
        ),
        (
            "two-ids",
            vec![
                "--kind",
                "trees",
                "--mode",
                "BRANCH_GT",
                "--two-class-ids",
                "--seed",
                "6",
            ],
        ),
        (
            "softmax",
            vec![
                "--kind",
                "trees",
                "--two-class-ids",
                "--post",
                "SOFTMAX",
                "--seed",
                "7",
            ],
        ),
        (
            "none",
            vec!["--kind", "trees", "--post", "NONE", "--seed", "8"],
        ),
    ] {
        let path = make_model(&dir, name, &args);
        let d = max_diff(&path, &x);
        assert!(d <= 1e-6, "{name}: largest difference {d}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_logistic_regression_matches_on_the_vectors_it_will_see() {
    let dir = tempdir("lr");
    let path = make_model(&dir, "lr", &["--kind", "lr"]);
    let x = vectors(13, 4_000);
    // The parity check on recorded vectors (the stage's --parity-features).
    let cfg = SessionConfig {
        max_batch: 1,
        engine: EngineChoice::Trees,
        parity_rows: Arc::new(x.clone()),
        parity_vectors: 4_000,
        ..Default::default()
    };
    let mut trees = Model::load(&path, &cfg).unwrap();
    let p = trees.parity().unwrap();
    assert_eq!((p.vectors, p.recorded), (4_000, 4_000));
    assert!(p.passed(), "{p}");
    let mut ort = load(&path, EngineChoice::Ort, 1).unwrap();
    let (a, b) = (predict(&mut ort, &x, 1), predict(&mut trees, &x, 1));
    let worst = a
        .iter()
        .zip(&b)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f64::max);
    assert!(worst <= 1e-6, "{worst}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn what_the_native_engine_does_not_evaluate_is_refused_and_auto_falls_back() {
    let dir = tempdir("refused");
    for (name, args, needle) in [
        (
            "tracks",
            vec!["--kind", "trees", "--missing-tracks"],
            "missing-value tracking",
        ),
        (
            "probit",
            vec!["--kind", "trees", "--post", "SOFTMAX_ZERO"],
            "post_transform",
        ),
        ("matmul", vec!["--kind", "matmul"], "operator ::Sigmoid"),
    ] {
        let path = make_model(&dir, name, &args);
        let err = load(&path, EngineChoice::Trees, 8).err().expect("refused");
        let msg = err.to_string();
        assert!(
            matches!(err, InferenceError::Native { .. }),
            "{name}: {msg}"
        );
        assert!(msg.contains(needle), "{name}: {msg}");
        let auto = load(&path, EngineChoice::Auto, 8).unwrap();
        assert_eq!(auto.engine_name(), "ort");
        assert!(auto.engine().contains(needle), "{name}: {}", auto.engine());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_corrupt_or_truncated_model_is_a_clear_error() {
    let dir = tempdir("corrupt");
    let bytes = std::fs::read(repo().join("models/tickline-v1.onnx")).unwrap();
    for (name, body) in [
        ("truncated", &bytes[..bytes.len() / 2]),
        ("garbage", &b"\x0a\xff\xff\xff\xff\x0fnot onnx"[..]),
    ] {
        let path = dir.join(format!("{name}.onnx"));
        std::fs::write(&path, body).unwrap();
        for engine in [EngineChoice::Trees, EngineChoice::Ort, EngineChoice::Auto] {
            let err = load(&path, engine, 1).err().expect("a broken model loaded");
            assert!(
                err.to_string().contains(&path.display().to_string()),
                "{err}"
            );
        }
        assert!(
            matches!(onnx::decode(body), Err(onnx::OnnxError::Decode(_))),
            "{name}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
