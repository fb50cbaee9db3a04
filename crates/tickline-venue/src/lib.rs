//! The simulated venue: a matching engine in exchange time ([`Venue`]),
//! where a resting order of ours stands in its price level's queue
//! ([`QueueModel`], [`FifoPos`]), and how long orders and their reports
//! take ([`Latency`]). The `venue-sim` stage process drives it from the
//! feed's events and the router's orders.
#![forbid(unsafe_code)]

mod book;
mod engine;
mod latency;
mod npy;
mod queue;

pub use book::Book;
pub use engine::{Venue, VenueConfig, VenueStats, MAX_INSTRUMENTS};
pub use latency::{Latency, LatencyError, LatencyRow, Recorded};
pub use queue::{FifoPos, ProbFn, QueueModel, QueueModelError, QueuePos};
