//! Model inference for the inference stage, behind one seam: ONNX Runtime
//! (the reference, any ONNX graph) or the native engine (ONNX-ML tree
//! ensembles, and the scaler + linear classifier of a logistic regression),
//! read from the same `.onnx` file. The native engine serves only after
//! giving ONNX Runtime's probabilities, within 1e-6, on a few thousand
//! vectors at load.
#![forbid(unsafe_code)]

pub mod linear;
pub mod native;
pub mod onnx;
mod ort_engine;
pub mod parity;
pub mod post;
pub mod trees;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tickline_features::{FEATURE_SET_VERSION, N_FEATURES};

pub use native::NativeModel;
pub use ort_engine::{find_runtime, runtime, runtime_path, OrtSession};
pub use parity::Parity;

/// What can fail finding the runtime, loading a model or running it.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    #[error(
        "ONNX Runtime (libonnxruntime.so 1.31) not found. Run `scripts/setup-python.sh` from the \
         repository (it installs onnxruntime 1.31 into .venv), or set ORT_DYLIB_PATH to the library. \
         Looked for: {0}"
    )]
    /// No `libonnxruntime.so` where it was looked for.
    RuntimeNotFound(String),
    /// The library was found but would not load.
    #[error("loading ONNX Runtime from {path}: {msg}")]
    RuntimeLoad {
        /// The library.
        path: String,
        /// The loader's complaint.
        msg: String,
    },
    /// The model file would not load.
    #[error("model {path}: {msg}")]
    Load {
        /// The model file.
        path: String,
        /// ONNX Runtime's complaint.
        msg: String,
    },
    /// The model's inputs, outputs or metadata do not fit the feature set.
    #[error("model {path} does not fit feature set v{FEATURE_SET_VERSION} ({N_FEATURES} f32 features): {what}")]
    Mismatch {
        /// The model file.
        path: String,
        /// What differs.
        what: String,
    },
    /// A run failed.
    #[error("inference failed: {0}")]
    Run(String),
    /// The native engine was asked for and cannot evaluate this model.
    #[error("model {path}: the native engine cannot serve it: {msg}")]
    Native {
        /// The model file.
        path: String,
        /// Why.
        msg: String,
    },
    /// The native engine's outputs differ from ONNX Runtime's: refused.
    #[error("model {path}: the native engine is refused, its outputs differ from ONNX Runtime's by more than {tol:e}: {parity}", tol = parity::TOLERANCE)]
    Parity {
        /// The model file.
        path: String,
        /// What the check found.
        parity: Box<Parity>,
    },
}

/// Result of model operations.
pub type Result<T> = std::result::Result<T, InferenceError>;

/// Which engine serves the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineChoice {
    /// The native engine when it evaluates the whole graph and passes the
    /// parity check, else ONNX Runtime (saying why).
    Auto,
    /// ONNX Runtime, always.
    Ort,
    /// The native engine, or the load fails.
    Trees,
}

impl std::str::FromStr for EngineChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(EngineChoice::Auto),
            "ort" => Ok(EngineChoice::Ort),
            "trees" => Ok(EngineChoice::Trees),
            _ => Err(format!("engine `{s}`: expected auto, ort or trees")),
        }
    }
}

/// Session options; the defaults suit a 2-core machine shared by 5 processes.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Threads inside one operator. 1: the stage has one core at most.
    pub intra_threads: usize,
    /// Let ONNX Runtime's worker threads spin between runs (faster wake-up, burns CPU).
    pub spinning: bool,
    /// Largest batch `run` takes; buffers are sized for it at load.
    pub max_batch: usize,
    /// Which engine serves.
    pub engine: EngineChoice,
    /// Recorded feature vectors (row-major) the parity check uses first.
    pub parity_rows: Arc<Vec<f32>>,
    /// Vectors the parity check compares in all (generated ones fill up).
    pub parity_vectors: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            intra_threads: 1,
            spinning: false,
            max_batch: 32,
            engine: EngineChoice::Auto,
            parity_rows: Arc::new(Vec::new()),
            parity_vectors: 4096,
        }
    }
}

/// What the model declares about itself, checked at load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelInfo {
    /// Name of the model's input tensor.
    pub input: String,
    /// Name of its probability output.
    pub output: String,
    /// The model's version, from its metadata.
    pub model_version: u32,
    /// The label horizon it was trained on, in events.
    pub horizon_events: u32,
    /// The model's kind (e.g. gbt, lr), from its metadata.
    pub kind: String,
}

/// The engine serving a model.
enum Engine {
    Ort(OrtSession),
    Native(Box<NativeModel>),
}

/// A loaded, validated model with buffers for its largest batch.
pub struct Model {
    engine: Engine,
    info: ModelInfo,
    path: PathBuf,
    /// Which engine serves, and why.
    engine_note: String,
    parity: Option<Parity>,
    /// Row-major inputs for up to `max_batch` rows.
    input: Vec<f32>,
    /// P(up) per row of the last run.
    probs: Vec<f64>,
    max_batch: usize,
}

impl Model {
    /// Loads a model, checks it against the contract (one f32 input of shape
    /// [batch, N_FEATURES], an f32 `probabilities` output of shape [batch, 2],
    /// metadata naming this feature set's version) in ONNX Runtime, and
    /// picks the engine `cfg.engine` asks for.
    pub fn load(path: &Path, cfg: &SessionConfig) -> Result<Model> {
        let (mut ort, info) = OrtSession::load(path, cfg)?;
        let max_batch = cfg.max_batch.max(1);
        let (engine, engine_note, parity) = match cfg.engine {
            EngineChoice::Ort => (Engine::Ort(ort), "ort (asked for)".to_owned(), None),
            choice => match Self::native(path, &mut ort, cfg) {
                Ok((native, p)) => {
                    let note = format!(
                        "trees ({}; parity {:.1e} over {} vectors)",
                        native.describe(),
                        p.max_abs_diff,
                        p.vectors
                    );
                    (Engine::Native(Box::new(native)), note, Some(p))
                }
                Err(e) if choice == EngineChoice::Trees => return Err(e),
                Err(e) => (
                    Engine::Ort(ort),
                    format!("ort (native engine not used: {e})"),
                    None,
                ),
            },
        };
        Ok(Model {
            engine,
            info,
            path: path.to_path_buf(),
            engine_note,
            parity,
            input: vec![0.0; max_batch * N_FEATURES],
            probs: vec![0.0; max_batch],
            max_batch,
        })
    }

    /// The native engine for the model at `path`, if it evaluates the whole
    /// graph and matches ONNX Runtime.
    fn native(
        path: &Path,
        ort: &mut OrtSession,
        cfg: &SessionConfig,
    ) -> Result<(NativeModel, Parity)> {
        let err = |msg: String| InferenceError::Native {
            path: path.display().to_string(),
            msg,
        };
        let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let proto = onnx::decode(&bytes).map_err(|e| err(e.to_string()))?;
        let mut native = NativeModel::build(&proto, "probabilities", N_FEATURES)
            .map_err(|e| err(e.to_string()))?;
        let p = check_parity(ort, &mut native, cfg)?;
        if !p.passed() {
            return Err(InferenceError::Parity {
                path: path.display().to_string(),
                parity: Box::new(p),
            });
        }
        Ok((native, p))
    }

    /// What the model declares.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The largest batch a run takes.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// Runs the model `runs` times at batch 1 and `runs` times at its largest
    /// batch, on zero rows: ONNX Runtime's first runs allocate and fault in
    /// what later runs reuse, so a served model should have done them.
    pub fn warm_up(&mut self, runs: usize) -> Result<()> {
        self.input.fill(0.0);
        for _ in 0..runs {
            self.run(1)?;
            self.run(self.max_batch)?;
        }
        Ok(())
    }

    /// The input rows to fill for a batch of `rows` (at most `max_batch`).
    pub fn rows_mut(&mut self, rows: usize) -> &mut [f32] {
        &mut self.input[..rows.min(self.max_batch) * N_FEATURES]
    }

    /// Which engine serves, and why (for the log and the summary).
    pub fn engine(&self) -> &str {
        &self.engine_note
    }

    /// The engine's short name: `trees` or `ort`.
    pub fn engine_name(&self) -> &'static str {
        match self.engine {
            Engine::Ort(_) => "ort",
            Engine::Native(_) => "trees",
        }
    }

    /// The parity check's result, when the native engine serves.
    pub fn parity(&self) -> Option<&Parity> {
        self.parity.as_ref()
    }

    /// Runs the first `rows` input rows; P(up) per row, unchecked (the
    /// stage decides what to do with out-of-range values).
    pub fn run(&mut self, rows: usize) -> Result<&[f64]> {
        let rows = rows.min(self.max_batch);
        match &mut self.engine {
            Engine::Ort(s) => {
                let out = s.run(&self.input, rows)?;
                for (dst, pair) in self.probs.iter_mut().zip(out.chunks_exact(2)) {
                    *dst = pair[1] as f64;
                }
            }
            Engine::Native(m) => {
                for (dst, x) in self.probs[..rows]
                    .iter_mut()
                    .zip(self.input.chunks_exact(N_FEATURES))
                {
                    *dst = m.eval(x)[1] as f64;
                }
            }
        }
        Ok(&self.probs[..rows])
    }
}

/// Both engines on the recorded rows, then generated ones up to `cfg.parity_vectors`.
fn check_parity(
    ort: &mut OrtSession,
    native: &mut NativeModel,
    cfg: &SessionConfig,
) -> Result<Parity> {
    let total = cfg.parity_vectors.max(1);
    let recorded = (cfg.parity_rows.len() / N_FEATURES).min(total);
    let mut x = cfg.parity_rows[..recorded * N_FEATURES].to_vec();
    x.extend(parity::generated(
        &native.thresholds(),
        total - recorded,
        0x0071_C11E,
    ));
    let mut want = Vec::with_capacity(total * 2);
    let mut got = Vec::with_capacity(total * 2);
    for chunk in x.chunks(cfg.max_batch.max(1) * N_FEATURES) {
        want.extend_from_slice(ort.run(chunk, chunk.len() / N_FEATURES)?);
    }
    for row in x.chunks_exact(N_FEATURES) {
        got.extend_from_slice(native.eval(row));
    }
    Ok(parity::compare(&x, N_FEATURES, recorded, &want, &got, 2))
}
