//! Where a stage's messages go: a queue, or nowhere. Recordings to files are
//! the stage's own business (each has its own format).

use tickline_schema::Traced;
use tickline_shm::{FullPolicy, Message, Producer, Push, WaitStrategy};

use crate::{Endpoint, Signals, StageError};

/// A stage's output.
pub enum Output<T: Message> {
    /// Discarded (profiling, or the stage records to a file itself).
    Null,
    /// The producing end of a queue.
    Queue(Producer<T>),
}

impl<T: Message + Traced> Output<T> {
    /// A queue for `queue:NAME`, else [`Output::Null`].
    pub fn open(
        ep: &Endpoint,
        policy: FullPolicy,
        wait: WaitStrategy,
        signals: &Signals,
    ) -> Result<Self, StageError> {
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
            Output::Null => None,
            Output::Queue(p) => p.last_published().map(|m| m.trace().seq),
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
        }
    }

    /// Says this process is alive.
    pub fn beat(&self) {
        if let Output::Queue(p) = self {
            p.beat();
        }
    }
}
