//! ONNX Runtime for the inference stage: finding the shared library, loading
//! a model, checking it against the declared feature set, and running
//! batches into preallocated buffers.
//!
//! The library is `libonnxruntime.so` 1.31 from PyPI's `onnxruntime` wheel
//! (the version `ort` 2.0.0-rc.15 speaks), loaded at run time: first
//! `$ORT_DYLIB_PATH`, then the project's `.venv` (made by
//! `scripts/setup-python.sh`), searched from the working directory and from
//! the executable's location upward.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};
use tickline_features::{FEATURE_SET_VERSION, N_FEATURES};

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
}

/// Result of model operations.
pub type Result<T> = std::result::Result<T, InferenceError>;

/// Where the library would be found, in order.
fn runtime_candidates() -> Vec<PathBuf> {
    let mut bases: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        bases.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    if let Ok(exe) = std::env::current_exe() {
        bases.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    let mut out = Vec::new();
    for base in bases {
        let lib = base.join(".venv/lib");
        let Ok(pythons) = std::fs::read_dir(&lib) else {
            continue;
        };
        for py in pythons.flatten() {
            let capi = py.path().join("site-packages/onnxruntime/capi");
            if let Ok(files) = std::fs::read_dir(&capi) {
                let mut libs: Vec<PathBuf> = files
                    .flatten()
                    .map(|f| f.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with("libonnxruntime.so"))
                    })
                    .collect();
                libs.sort();
                out.extend(libs);
            }
        }
    }
    out
}

/// The library to load: `$ORT_DYLIB_PATH`, else the first `.venv` that has one.
pub fn find_runtime() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(InferenceError::RuntimeNotFound(format!(
                "ORT_DYLIB_PATH={} (no such file)",
                p.display()
            )))
        };
    }
    runtime_candidates().into_iter().next().ok_or_else(|| {
        InferenceError::RuntimeNotFound(
            "$ORT_DYLIB_PATH (unset), .venv/lib/python3*/site-packages/onnxruntime/capi/ \
             under the working directory, the executable's directory, and their parents"
                .into(),
        )
    })
}

static RUNTIME: OnceLock<std::result::Result<(PathBuf, Environment), String>> = OnceLock::new();

/// Loads ONNX Runtime once per process; the environment lives as long as it.
pub fn runtime() -> Result<&'static Environment> {
    let r = RUNTIME.get_or_init(|| {
        let path = find_runtime().map_err(|e| e.to_string())?;
        let env = ort::init_from(&path)
            .map_err(|e| format!("loading ONNX Runtime from {}: {e}", path.display()))?
            .with_name("tickline")
            .build()
            .map_err(|e| format!("creating the ONNX Runtime environment: {e}"))?;
        Ok((path, env))
    });
    match r {
        Ok((_, env)) => Ok(env),
        Err(msg) => Err(InferenceError::RuntimeLoad {
            path: std::env::var("ORT_DYLIB_PATH").unwrap_or_default(),
            msg: msg.clone(),
        }),
    }
}

/// Path of the loaded library, once [`runtime`] succeeded.
pub fn runtime_path() -> Option<&'static Path> {
    match RUNTIME.get() {
        Some(Ok((p, _))) => Some(p),
        _ => None,
    }
}

/// Session options; the defaults suit a 2-core machine shared by 5 processes.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Threads inside one operator. 1: the stage has one core at most.
    pub intra_threads: usize,
    /// Let ONNX Runtime's worker threads spin between runs (faster wake-up, burns CPU).
    pub spinning: bool,
    /// Largest batch `predict` takes; buffers are sized for it at load.
    pub max_batch: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            intra_threads: 1,
            spinning: false,
            max_batch: 32,
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

/// A loaded, validated model with buffers for its largest batch.
pub struct Model {
    session: Session,
    info: ModelInfo,
    path: PathBuf,
    /// Row-major inputs for up to `max_batch` rows.
    input: Vec<f32>,
    /// P(up) per row of the last run.
    probs: Vec<f64>,
    max_batch: usize,
}

fn load_err(path: &Path, msg: impl std::fmt::Display) -> InferenceError {
    InferenceError::Load {
        path: path.display().to_string(),
        msg: msg.to_string(),
    }
}

fn mismatch(path: &Path, what: String) -> InferenceError {
    InferenceError::Mismatch {
        path: path.display().to_string(),
        what,
    }
}

fn describe(t: &ValueType) -> String {
    match t {
        ValueType::Tensor { ty, shape, .. } => format!("{ty:?} tensor of shape {:?}", &shape[..]),
        other => format!("{other:?}"),
    }
}

impl Model {
    /// Loads and checks a model: one f32 input of shape [batch, N_FEATURES],
    /// an f32 `probabilities` output of shape [batch, 2], and metadata naming
    /// this feature set's version.
    pub fn load(path: &Path, cfg: &SessionConfig) -> Result<Model> {
        let env = runtime()?;
        let build = || -> std::result::Result<Session, String> {
            let s = |e: ort::Error<ort::session::builder::SessionBuilder>| e.to_string();
            Session::builder(env)
                .map_err(|e| e.to_string())?
                .with_optimization_level(GraphOptimizationLevel::Level3)
                .map_err(s)?
                .with_intra_threads(cfg.intra_threads.max(1))
                .map_err(s)?
                .with_inter_threads(1)
                .map_err(s)?
                .with_intra_op_spinning(cfg.spinning)
                .map_err(s)?
                .commit_from_file(path)
                .map_err(|e| e.to_string())
        };
        let session = build().map_err(|m| load_err(path, m))?;
        let info = Self::check(&session, path)?;
        let max_batch = cfg.max_batch.max(1);
        Ok(Model {
            session,
            info,
            path: path.to_path_buf(),
            input: vec![0.0; max_batch * N_FEATURES],
            probs: vec![0.0; max_batch],
            max_batch,
        })
    }

    fn check(session: &Session, path: &Path) -> Result<ModelInfo> {
        let inputs = session.inputs();
        if inputs.len() != 1 {
            return Err(mismatch(
                path,
                format!(
                    "it has {} inputs, the stage feeds exactly one",
                    inputs.len()
                ),
            ));
        }
        let input = &inputs[0];
        match input.dtype() {
            ValueType::Tensor {
                ty: TensorElementType::Float32,
                shape,
                ..
            } if shape.len() == 2 && shape[1] == N_FEATURES as i64 => {}
            t => {
                return Err(mismatch(
                    path,
                    format!(
                    "input `{}` is a {}, expected a Float32 tensor of shape [batch, {N_FEATURES}]",
                    input.name(),
                    describe(t)
                ),
                ))
            }
        }
        let output = session
            .outputs()
            .iter()
            .find(|o| o.name() == "probabilities")
            .ok_or_else(|| {
                let names: Vec<_> = session
                    .outputs()
                    .iter()
                    .map(|o| o.name().to_owned())
                    .collect();
                mismatch(
                    path,
                    format!("no `probabilities` output (outputs: {names:?})"),
                )
            })?;
        match output.dtype() {
            ValueType::Tensor {
                ty: TensorElementType::Float32,
                shape,
                ..
            } if shape.len() == 2 && shape[1] == 2 => {}
            t => {
                return Err(mismatch(
                    path,
                    format!(
                    "output `probabilities` is a {}, expected a Float32 tensor of shape [batch, 2]",
                    describe(t)
                ),
                ))
            }
        }
        let meta = session.metadata().map_err(|e| load_err(path, e))?;
        let get = |k: &str| meta.custom(k);
        let version = get("feature_set_version").ok_or_else(|| {
            mismatch(
                path,
                "no `feature_set_version` in its metadata (train it with scripts/train_model.py)"
                    .into(),
            )
        })?;
        if version.parse::<u32>().ok() != Some(FEATURE_SET_VERSION) {
            return Err(mismatch(
                path,
                format!("it was trained on feature set version {version}"),
            ));
        }
        if let Some(n) = get("n_features") {
            if n.parse::<usize>().ok() != Some(N_FEATURES) {
                return Err(mismatch(path, format!("its metadata says {n} features")));
            }
        }
        let num = |k: &str| get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok(ModelInfo {
            input: input.name().to_owned(),
            output: output.name().to_owned(),
            model_version: num("model_version"),
            horizon_events: num("horizon_events"),
            kind: get("model_kind").unwrap_or_default(),
        })
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

    /// Runs the first `rows` input rows; P(up) per row, unchecked (the
    /// stage decides what to do with out-of-range values).
    pub fn run(&mut self, rows: usize) -> Result<&[f64]> {
        let rows = rows.min(self.max_batch);
        let x = TensorRef::from_array_view(([rows, N_FEATURES], &self.input[..rows * N_FEATURES]))
            .map_err(|e| InferenceError::Run(e.to_string()))?;
        let outputs = self
            .session
            .run(ort::inputs![x])
            .map_err(|e| InferenceError::Run(e.to_string()))?;
        let (shape, p) = outputs["probabilities"]
            .try_extract_tensor::<f32>()
            .map_err(|e| InferenceError::Run(e.to_string()))?;
        if shape.len() != 2 || shape[0] != rows as i64 || shape[1] != 2 {
            return Err(InferenceError::Run(format!(
                "probabilities of shape {:?} for {rows} rows",
                &shape[..]
            )));
        }
        for (dst, pair) in self.probs.iter_mut().zip(p.chunks_exact(2)) {
            *dst = pair[1] as f64;
        }
        Ok(&self.probs[..rows])
    }
}
