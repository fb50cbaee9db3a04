//! The simulated venue: a matching engine in exchange time ([`Venue`]),
//! where a resting order of ours stands in its price level's queue
//! ([`QueueModel`] over [`MarketLevels`], [`FifoPos`]), and how long orders and their reports
//! take ([`Latency`]). The `venue-sim` stage process drives it from the
//! feed's events and the router's orders.
#![forbid(unsafe_code)]

mod args;
mod book;
mod csv;
mod engine;
mod l2;
mod l3;
mod latency;
mod npy;
mod queue;
pub mod reorder;

pub use args::{VenueArgs, VenueArgsError};
pub use book::Book;
pub use csv::{write_report, CSV_HEADER};
pub use engine::{Venue, VenueConfig, VenueStats, MAX_INSTRUMENTS};
pub use l2::MarketLevels;
pub use l3::{Change, Entry, FifoPos, MarketOrders};
pub use latency::{Latency, LatencyError, LatencyRow, Recorded};
pub use queue::{LevelModel, ProbFn, QueueModel, QueueModelError, QueuePos};
