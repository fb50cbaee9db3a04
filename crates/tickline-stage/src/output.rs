//! Where a stage's messages go: a queue, a raw recording of them, or
//! nowhere. Text recordings (CSV) are the stage's own business.

use std::fs::File;
use std::io::{BufWriter, Write};

use tickline_schema::Traced;
use tickline_shm::{FullPolicy, Message, Producer, Push, WaitStrategy};

use crate::{Endpoint, Signals, StageError};

/// A stage's output.
pub enum Output<T: Message> {
    /// Discarded (profiling, or the stage records to a file itself).
    Null,
    /// The producing end of a queue.
    Queue(Producer<T>),
    /// The messages' bytes, back to back, as a queue carries them (for
    /// replaying the same stream into another implementation).
    File {
        /// The recording.
        w: BufWriter<File>,
        /// The first write error, reported at the end.
        err: Option<std::io::Error>,
    },
}

impl<T: Message + Traced> Output<T> {
    /// A queue for `queue:NAME`, else [`Output::Null`].
    pub fn open(
        ep: &Endpoint,
        policy: FullPolicy,
        wait: WaitStrategy,
        signals: &Signals,
    ) -> Result<Self, StageError> {
        if let Endpoint::File(path) = ep {
            let f = File::create(path).map_err(|source| StageError::Create {
                path: path.clone(),
                source,
            })?;
            return Ok(Output::File {
                w: BufWriter::with_capacity(1 << 20, f),
                err: None,
            });
        }
        let Endpoint::Queue(name) = ep else {
            return Ok(Output::Null);
        };
        let p = Producer::attach(name, policy, wait).map_err(|source| StageError::Attach {
            role: "output",
            name: name.clone(),
            source,
        })?;
        Ok(Output::Queue(p.with_stop_flag(signals.stop_flag())))
    }

    /// Sequence number of the last message a predecessor published here.
    pub fn last_seq(&self) -> Option<u64> {
        match self {
            Output::Queue(p) => p.last_published().map(|m| m.trace().seq),
            Output::Null | Output::File { .. } => None,
        }
    }

    /// Publishes `msg` (or drops it, by the queue's full policy).
    #[inline]
    pub fn push(&mut self, msg: &T) -> Push {
        match self {
            Output::Null => {
                std::hint::black_box(msg);
                Push::Sent
            }
            Output::Queue(p) => p.push(msg),
            Output::File { w, err } => {
                if err.is_none() {
                    if let Err(e) = w.write_all(bytemuck::bytes_of(msg)) {
                        *err = Some(e);
                    }
                }
                Push::Sent
            }
        }
    }

    /// Flushes a recording; its first write error, if any.
    pub fn finish(&mut self) -> std::io::Result<()> {
        match self {
            Output::File { w, err } => match err.take() {
                Some(e) => Err(e),
                None => w.flush(),
            },
            _ => Ok(()),
        }
    }

    /// Says this process is alive.
    pub fn beat(&self) {
        if let Output::Queue(p) = self {
            p.beat();
        }
    }
}
