//! Hot model reload: a new model when the file's modification time changes
//! (checked at most every `every`) or on SIGHUP. A model that fails to load
//! or validate is refused, and the old one keeps serving.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use tickline_inference::{Model, SessionConfig};

pub struct Reloader {
    path: PathBuf,
    cfg: SessionConfig,
    seen: Option<SystemTime>,
    last_check: Instant,
    every: Duration,
    pub reloads: u64,
    pub failures: u64,
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Reloader {
    pub fn new(path: &Path, cfg: SessionConfig, every_ms: u64) -> Self {
        Reloader {
            path: path.to_owned(),
            cfg,
            seen: mtime(path),
            last_check: Instant::now(),
            every: Duration::from_millis(every_ms),
            reloads: 0,
            failures: 0,
        }
    }

    /// A new model if the file changed or `hup` (a SIGHUP came).
    pub fn poll(&mut self, hup: bool) -> Option<Model> {
        if !hup && self.last_check.elapsed() < self.every {
            return None;
        }
        self.last_check = Instant::now();
        let m = mtime(&self.path);
        if !hup && m == self.seen {
            return None;
        }
        self.seen = m;
        match Model::load(&self.path, &self.cfg) {
            Ok(model) => {
                self.reloads += 1;
                eprintln!(
                    "inference: reloaded {} (model version {})",
                    self.path.display(),
                    model.info().model_version
                );
                Some(model)
            }
            Err(e) => {
                self.failures += 1;
                eprintln!("inference: new model refused, the old one keeps serving: {e}");
                None
            }
        }
    }
}
