//! The stage runtime: what every pipeline stage does the same way, written
//! once. A stage binary parses its own flags beside the shared
//! [`StageArgs`], builds its [`Processor`] (feature engine, model, router)
//! and hands it to a [`Runtime`], which owns the loop:
//!
//! - `--in` / `--out` endpoints ([`Endpoint`]) and the queues behind them;
//! - stop, reload and kill-switch signals ([`Signals`]);
//! - exactly-once resume: output up to the output queue's last sequence
//!   number was published by a predecessor and is not emitted again;
//! - the batch loop: read in place, process, publish, commit, heartbeat;
//! - latency (queue wait, service, end-to-end) and counters to the stats board;
//! - `--limit`, pacing a replay ([`Paced`]), and the JSON summary line;
//! - under a supervisor, death with it ([`bind_to_supervisor`]).
#![forbid(unsafe_code)]

mod args;
mod emitter;
mod error;
mod exit;
mod input;
mod output;
mod paced;
mod runtime;
mod signals;
mod supervision;
mod watch;

pub use args::{Endpoint, EndpointKind, Handoff, StageArgs};
pub use emitter::{Counts, Emitted, Emitter};
pub use error::StageError;
pub use exit::exit_code;
pub use input::{Batch, Input, QueueInput, RowsInput};
pub use output::Output;
pub use paced::Paced;
pub use runtime::{Flow, Processor, Runtime};
pub use signals::Signals;
pub use supervision::{bind_to_supervisor, SUPERVISOR_PID_ENV};
pub use watch::{FileWatch, Watch};

pub use tickline_schema::telemetry::OwnKind;
pub use tickline_telemetry::{OwnSlot, StageTelemetry};

use tickline_shm::{Consumer, Message, WaitStrategy};

/// Attaches to the input queue `name` as its consumer.
pub fn queue_input<T: Message>(
    name: &str,
    wait: WaitStrategy,
    signals: &Signals,
) -> Result<QueueInput<T>, StageError> {
    let c = Consumer::attach(name, wait).map_err(|source| StageError::Attach {
        role: "input",
        name: name.to_owned(),
        source,
    })?;
    Ok(QueueInput(c.with_stop_flag(signals.stop_flag())))
}
