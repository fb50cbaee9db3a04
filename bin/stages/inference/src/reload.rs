//! Hot model reload. A helper thread at idle priority watches the model
//! file; when its modification time changes it loads, validates and warms
//! the new model there, and the hot loop swaps it in with one flag read. A
//! SIGHUP reloads at once on the hot thread (an operator's explicit ask). A
//! model that fails to load or validate is refused; the old one keeps serving.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tickline_inference::{Model, SessionConfig};
use tickline_stage::{FileWatch, Watch};

/// What a load needs, shared with the watcher thread.
struct Loader {
    path: PathBuf,
    cfg: SessionConfig,
    warmup_runs: usize,
    reloads: AtomicU64,
    failures: AtomicU64,
}

impl Loader {
    fn load(&self) -> Option<Model> {
        let loaded = Model::load(&self.path, &self.cfg).and_then(|mut m| {
            m.warm_up(self.warmup_runs)?;
            Ok(m)
        });
        match loaded {
            Ok(model) => {
                self.reloads.fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "inference: reloaded {} (model version {}, engine {})",
                    self.path.display(),
                    model.info().model_version,
                    model.engine()
                );
                Some(model)
            }
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                eprintln!("inference: new model refused, the old one keeps serving: {e}");
                None
            }
        }
    }
}

pub struct Reloader {
    loader: Arc<Loader>,
    ready: Arc<Mutex<Option<Model>>>,
    watch: FileWatch,
}

impl Reloader {
    /// Watches `path` every `every_ms`.
    pub fn spawn(
        path: &Path,
        cfg: SessionConfig,
        every_ms: u64,
        warmup_runs: usize,
    ) -> std::io::Result<Self> {
        let loader = Arc::new(Loader {
            path: path.to_owned(),
            cfg,
            warmup_runs,
            reloads: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        });
        let ready = Arc::new(Mutex::new(None));
        let (l, r) = (loader.clone(), ready.clone());
        let watch = FileWatch::spawn(
            path.to_owned(),
            Watch::Modified,
            Duration::from_millis(every_ms),
            move || {
                if let Some(m) = l.load() {
                    *r.lock().unwrap_or_else(|e| e.into_inner()) = Some(m);
                }
            },
        )?;
        Ok(Reloader {
            loader,
            ready,
            watch,
        })
    }

    /// A new model: one the watcher has ready, or (if `hup`) one loaded now.
    /// The lock is taken only when the watcher said it has news.
    pub fn poll(&mut self, hup: bool) -> Option<Model> {
        let watched = if self.watch.take_news() {
            self.ready.lock().unwrap_or_else(|e| e.into_inner()).take()
        } else {
            None
        };
        match (watched, hup) {
            (Some(m), false) => Some(m),
            (_, true) => self.loader.load(),
            (None, false) => None,
        }
    }

    /// Models swapped in so far.
    pub fn reloads(&self) -> u64 {
        self.loader.reloads.load(Ordering::Relaxed)
    }

    /// Models refused so far.
    pub fn failures(&self) -> u64 {
        self.loader.failures.load(Ordering::Relaxed)
    }
}
