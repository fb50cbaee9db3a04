//! The supervisor's log: timestamped lines to stderr and to `run_dir/supervisor.log`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};

/// Timestamped log lines, from the supervisor's start.
pub struct Log {
    pub start: Instant,
    file: File,
}

impl Log {
    /// Appends to `supervisor.log` in `run_dir`.
    pub fn open(run_dir: &Path) -> Result<Self> {
        let path = run_dir.join("supervisor.log");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Log {
            start: Instant::now(),
            file,
        })
    }

    /// One line, to both.
    pub fn say(&mut self, msg: &str) {
        let line = format!(
            "[supervisor +{:.3}s] {msg}",
            self.start.elapsed().as_secs_f64()
        );
        eprintln!("{line}");
        let _ = writeln!(self.file, "{line}");
    }
}
