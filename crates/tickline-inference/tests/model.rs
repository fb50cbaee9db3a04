//! The committed model through ONNX Runtime from Rust: the same probabilities
//! as Python's onnxruntime on the same vectors; and models that do not fit the
//! feature set are refused with a message that says what differs.

use std::path::{Path, PathBuf};
use std::process::Command;

use tickline_features::N_FEATURES;
use tickline_inference::{InferenceError, Model, SessionConfig};

mod common;
use common::{predict, python, repo, run_ok, vectors};

#[test]
fn rust_and_python_onnxruntime_agree_within_1e6() {
    let path = repo().join("models/tickline-v1.onnx");
    let mut model = Model::load(
        &path,
        &SessionConfig {
            max_batch: 32,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(model.info().input, "features");
    assert_eq!(model.info().horizon_events, 50);
    let x = vectors(9, 2_000);
    let p32 = predict(&mut model, &x, 32);
    let p1 = predict(&mut model, &x, 1);
    assert_eq!(p32.len(), 2_000);

    let dir = std::env::temp_dir().join(format!("tickline-ort-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("x.f32"), bytemuck::cast_slice::<f32, u8>(&x)).unwrap();
    let script = format!(
        "import numpy as np, onnxruntime as ort\n\
         x = np.fromfile('{d}/x.f32', dtype=np.float32).reshape(-1, {N_FEATURES})\n\
         s = ort.InferenceSession('{m}', providers=['CPUExecutionProvider'])\n\
         p = s.run(['probabilities'], {{'features': x}})[0][:, 1].astype(np.float64)\n\
         p.tofile('{d}/p.f64')\n",
        d = dir.display(),
        m = path.display()
    );
    run_ok(Command::new(python()).arg("-c").arg(&script));
    let py: Vec<f64> =
        bytemuck::cast_slice::<u8, f64>(&std::fs::read(dir.join("p.f64")).unwrap()).to_vec();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(py.len(), p32.len());
    for i in 0..py.len() {
        assert!(
            (p32[i] - py[i]).abs() <= 1e-6,
            "row {i}: rust {} python {}",
            p32[i],
            py[i]
        );
        assert!(
            (p1[i] - py[i]).abs() <= 1e-6,
            "row {i} at batch 1: rust {} python {}",
            p1[i],
            py[i]
        );
        assert!((0.0..=1.0).contains(&p32[i]));
    }
    // Not a constant model: the features move the probability.
    let spread =
        p32.iter().cloned().fold(f64::MIN, f64::max) - p32.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread > 0.1, "probabilities barely vary: {spread}");
}

/// A small ONNX model from scripts/make_test_model.py.
fn make_model(dir: &Path, name: &str, cols: usize, output: &str, meta: &[(&str, &str)]) -> PathBuf {
    let path = dir.join(format!("{name}.onnx"));
    let mut cmd = Command::new(python());
    cmd.arg(repo().join("scripts/make_test_model.py")).args([
        "--cols",
        &cols.to_string(),
        "--output",
        output,
    ]);
    for (k, v) in meta {
        cmd.args(["--meta", &format!("{k}={v}")]);
    }
    run_ok(cmd.arg(&path));
    path
}

#[test]
fn models_that_do_not_fit_are_refused_saying_what_differs() {
    let dir = std::env::temp_dir().join(format!("tickline-badmodels-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good_meta = [("feature_set_version", "1"), ("n_features", "16")];
    let cases = [
        (
            make_model(&dir, "narrow", 10, "probabilities", &good_meta),
            "shape [batch, 16]",
        ),
        (
            make_model(&dir, "nameless", 16, "scores", &good_meta),
            "no `probabilities` output",
        ),
        (
            make_model(&dir, "unlabelled", 16, "probabilities", &[]),
            "no `feature_set_version`",
        ),
        (
            make_model(
                &dir,
                "old",
                16,
                "probabilities",
                &[("feature_set_version", "0")],
            ),
            "feature set version 0",
        ),
    ];
    for (path, needle) in &cases {
        let err = Model::load(path, &SessionConfig::default())
            .err()
            .expect("a bad model loaded");
        let msg = err.to_string();
        assert!(matches!(err, InferenceError::Mismatch { .. }), "{msg}");
        assert!(msg.contains(needle), "{}: {msg}", path.display());
    }
    // The same graph with the right width and metadata loads.
    let ok = make_model(&dir, "ok", 16, "probabilities", &good_meta);
    Model::load(&ok, &SessionConfig::default()).unwrap();
    let garbage = dir.join("garbage.onnx");
    std::fs::write(&garbage, b"not a model").unwrap();
    assert!(matches!(
        Model::load(&garbage, &SessionConfig::default()),
        Err(InferenceError::Load { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}
