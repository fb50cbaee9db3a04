//! What can stop a stage, named with what it happened to.

use tickline_shm::QueueError;
use tickline_telemetry::TelemetryError;

/// A stage's failure: set-up (arguments, queues, board, signals) or its own work.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// `--in`/`--out` names a kind of endpoint this stage does not take.
    #[error("bad {flag} {given:?}: this stage takes {expected}")]
    Endpoint {
        /// The flag, e.g. `--in`.
        flag: &'static str,
        /// What was given.
        given: String,
        /// What the stage takes.
        expected: String,
    },
    /// A required flag is missing.
    #[error("{0} is required")]
    Missing(&'static str),
    /// Attaching to an input or output queue failed.
    #[error("attaching to {role} queue {name}")]
    Attach {
        /// `input` or `output`.
        role: &'static str,
        /// The segment name.
        name: String,
        /// Why.
        #[source]
        source: QueueError,
    },
    /// A `file:` recording could not be created.
    #[error("creating recording {path}")]
    Create {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The stats board could not be attached.
    #[error(transparent)]
    Telemetry(#[from] TelemetryError),
    /// A signal handler could not be installed.
    #[error("installing the handler of signal {signal}")]
    Signal {
        /// The signal number.
        signal: i32,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The supervisor that started this stage is gone, or cannot be tied to.
    #[error("supervision: {0}")]
    Supervisor(String),
    /// `--mlock` was asked for and refused (RLIMIT_MEMLOCK, privileges).
    #[error("locking memory (--mlock)")]
    Mlock(#[source] std::io::Error),
    /// `--sched-idle` was asked for and refused.
    #[error("entering SCHED_IDLE (--sched-idle)")]
    SchedIdle(#[source] std::io::Error),
    /// The stage's own logic failed (journal, model, output file...).
    #[error(transparent)]
    Processor(Box<dyn std::error::Error + Send + Sync>),
}

impl StageError {
    /// Wraps an error of a [`crate::Processor`].
    pub fn processor(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StageError::Processor(e.into())
    }
}
