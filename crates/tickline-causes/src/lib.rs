//! Why a decision was slow. The supervisor samples each stage's main thread
//! (/proc: run state, CPU, faults, run and run-queue time, context switches),
//! each CPU's steal, and each queue's futex sleeps and wake-ups; each slow
//! decision the router's flight recorder kept is matched to the samples
//! around its slowest hop and given a cause, with the figures it rests on.
#![forbid(unsafe_code)]

mod attribute;
mod history;
mod procfs;
mod record;
pub mod table;
mod times;

pub use attribute::{attribute, Attribution, Cause, Evidence, Pipeline};
pub use history::{History, Sample, StageSample, Window};
pub use procfs::{StealFile, ThreadFiles, ThreadSample};
pub use record::{Hops, IntervalRecord, SlowRecord};
pub use times::Sums;
