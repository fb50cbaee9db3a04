//! What the model tests share: the repository, its Python, feature vectors of
//! the synthetic market, and running a model over them.
#![allow(dead_code)]

use std::path::PathBuf;

use tickline_features::{FeatureConfig, FeatureEngine, N_FEATURES};
use tickline_feed::synthetic::{SyntheticConfig, SyntheticSource};
use tickline_feed::{Books, FeedStats, Source, Step};
use tickline_inference::Model;
use tickline_schema::{BookEvent, FeatureVector};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn python() -> PathBuf {
    let p = repo().join(".venv/bin/python");
    assert!(
        p.exists(),
        "{} missing: run scripts/setup-python.sh",
        p.display()
    );
    p
}

/// `n` feature vectors (row-major) of the synthetic market, as the feature stage makes them.
pub fn vectors(seed: u64, n: usize) -> Vec<f32> {
    let cfg = SyntheticConfig {
        seed,
        instruments: 2,
        events: n as u64 + 200,
        ..Default::default()
    };
    let mut src = SyntheticSource::new(cfg);
    let (mut books, mut stats) = (Books::default(), FeedStats::quiet());
    let mut engine = FeatureEngine::new(FeatureConfig::default());
    let (mut e, mut fv): (BookEvent, FeatureVector) =
        (bytemuck::Zeroable::zeroed(), bytemuck::Zeroable::zeroed());
    let mut out = Vec::new();
    loop {
        match src.next(&mut books, &mut stats) {
            Step::Event(ev) => {
                books.fill_event(&ev, 10, &mut e);
                engine.update(&e, &mut fv);
                out.extend_from_slice(&fv.values[..N_FEATURES]);
            }
            Step::End => break,
            _ => {}
        }
    }
    out.truncate(n * N_FEATURES);
    out
}

/// P(up) for every vector, `batch` at a time.
pub fn predict(model: &mut Model, x: &[f32], batch: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for chunk in x.chunks(batch * N_FEATURES) {
        let rows = chunk.len() / N_FEATURES;
        model.rows_mut(rows).copy_from_slice(chunk);
        out.extend_from_slice(model.run(rows).unwrap());
    }
    out
}

/// Runs `cmd`, failing the test with its stderr if it fails.
pub fn run_ok(cmd: &mut std::process::Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
