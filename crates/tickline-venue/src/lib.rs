//! The venue simulator's models (issue 28, first part): where a resting
//! order of ours stands in its price level's queue, and how long orders
//! and their reports take. The simulator process
//! that drives them from the feed and the router's orders is not built yet.
#![forbid(unsafe_code)]

mod latency;
mod npy;
mod queue;

pub use latency::{Latency, LatencyError, LatencyRow, Recorded};
pub use queue::{FifoPos, ProbFn, QueueModel, QueueModelError, QueuePos};
