//! ONNX Runtime, the reference engine: finding the shared library, a
//! session per model, the model contract checked against its declared
//! inputs, outputs and metadata, and batched runs into preallocated buffers.
//!
//! The library is `libonnxruntime.so` 1.31 from PyPI's `onnxruntime` wheel
//! (the version `ort` 2.0.0-rc.15 speaks), loaded at run time: first
//! `$ORT_DYLIB_PATH`, then the project's `.venv` (made by
//! `scripts/setup-python.sh`), searched from the working directory and from
//! the executable's location upward.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};
use tickline_features::{FEATURE_SET_VERSION, N_FEATURES};

use crate::{InferenceError, ModelInfo, Result, SessionConfig};

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

/// An ONNX Runtime session with output room for the largest batch.
pub struct OrtSession {
    session: Session,
    /// Row-major `probabilities` of the last run, two per row.
    out: Vec<f32>,
}

impl OrtSession {
    /// Loads `path` and checks it against the model contract.
    pub fn load(path: &Path, cfg: &SessionConfig) -> Result<(OrtSession, ModelInfo)> {
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
        let out = vec![0.0; cfg.max_batch.max(1) * 2];
        Ok((OrtSession { session, out }, info))
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
        Self::info(session, path, input.name(), output.name())
    }

    /// What the model's metadata says: feature set (refused if not ours),
    /// version, horizon and kind.
    fn info(session: &Session, path: &Path, input: &str, output: &str) -> Result<ModelInfo> {
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
            input: input.to_owned(),
            output: output.to_owned(),
            model_version: num("model_version"),
            horizon_events: num("horizon_events"),
            kind: get("model_kind").unwrap_or_default(),
        })
    }

    /// Runs `rows` rows of `input` (row-major); both probability columns per row.
    pub fn run(&mut self, input: &[f32], rows: usize) -> Result<&[f32]> {
        debug_assert!(rows * 2 <= self.out.len() && input.len() >= rows * N_FEATURES);
        let x = TensorRef::from_array_view(([rows, N_FEATURES], &input[..rows * N_FEATURES]))
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
        self.out[..rows * 2].copy_from_slice(&p[..rows * 2]);
        Ok(&self.out[..rows * 2])
    }
}
