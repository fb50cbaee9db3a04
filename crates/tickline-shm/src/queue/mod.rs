//! Single-producer/single-consumer ring of `T` slots in a shared segment.
//!
//! Protocol: `tail` counts published messages and is written only by the
//! producer (release store after the slots are written); `head` counts
//! committed messages and is written only by the consumer (release store after
//! the slots are read). Slot `i` lives at `i & (capacity - 1)`. Both counters
//! live in the segment, so either side can die and a successor resumes from them.

mod consumer;
mod producer;

use std::str::FromStr;

pub use consumer::Consumer;
pub use producer::Producer;

use crate::error::{QueueError, Result};

/// What the producer does when the ring is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FullPolicy {
    /// Wait for the consumer (backpressure): for replays.
    #[default]
    Block,
    /// Drop the new message and count it: for live feeds that must not stall.
    DropNewest,
}

impl FromStr for FullPolicy {
    type Err = QueueError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "block" => Ok(FullPolicy::Block),
            "drop" | "drop-newest" => Ok(FullPolicy::DropNewest),
            _ => Err(QueueError::BadParameter(format!(
                "unknown full-queue policy {s:?}: expected block or drop-newest"
            ))),
        }
    }
}

/// Outcome of [`Producer::push`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Push {
    /// Published.
    Sent,
    /// Ring full under [`FullPolicy::DropNewest`]; counted in the header.
    Dropped,
    /// The stop flag was raised while waiting for space.
    Stopped,
}
