//! The slow-decision log (`run_dir/slowest.jsonl`): one JSON line per
//! interval of the deciding stage, its slowest decisions with their hops
//! and causes. Written by the supervisor, read by `tickline-stats`.

use serde::{Deserialize, Serialize};
use tickline_schema::flight::{SlowDecision, HOPS};

use crate::attribute::Attribution;

/// Each hop's time, ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hops {
    /// Feed publish to feature publish.
    pub feature: u64,
    /// Feature publish to inference publish.
    pub inference: u64,
    /// Inference publish to the router's read.
    pub router_queue: u64,
    /// The router's read to its decision.
    pub router: u64,
}

impl Hops {
    /// In the order of `HOPS`.
    pub fn as_array(&self) -> [u64; 4] {
        [self.feature, self.inference, self.router_queue, self.router]
    }
}

/// One slow decision with its cause.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlowRecord {
    /// Sequence number of the market event.
    pub seq: u64,
    /// Its instrument.
    pub instrument_id: u64,
    /// The venue's time for it.
    pub exchange_ns: u64,
    /// When its data reached us, epoch ns (0: unknown).
    pub receive_ns: u64,
    /// Each stage's publish stamp, CLOCK_MONOTONIC ns.
    pub stamps: [u64; 4],
    /// The router's read of it.
    pub read_ns: u64,
    /// Its decision.
    pub decided_ns: u64,
    /// Ingest to decision.
    pub total_ns: u64,
    /// Each hop's time.
    pub hops_ns: Hops,
    /// The slowest hop's name.
    pub slowest_hop: String,
    /// `order`, `no_order` or `reject:<reason>`.
    pub outcome: String,
    /// Why it was slow.
    pub attribution: Attribution,
}

impl SlowRecord {
    /// `d` with its outcome in words and its cause.
    pub fn new(d: &SlowDecision, outcome: String, attribution: Attribution) -> Self {
        let h = d.hops();
        SlowRecord {
            seq: d.seq,
            instrument_id: d.instrument_id,
            exchange_ns: d.exchange_ns,
            receive_ns: d.receive_ns,
            stamps: d.stamps,
            read_ns: d.read_ns,
            decided_ns: d.decided_ns,
            total_ns: d.total_ns(),
            hops_ns: Hops {
                feature: h[0],
                inference: h[1],
                router_queue: h[2],
                router: h[3],
            },
            slowest_hop: HOPS[d.slowest_hop()].to_owned(),
            outcome,
            attribution,
        }
    }
}

/// One line of the log: an interval of one deciding stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntervalRecord {
    /// The deciding stage.
    pub stage: String,
    /// Its interval number (from 1).
    pub interval: u64,
    /// CLOCK_MONOTONIC ns it began and ended.
    pub start_ns: u64,
    /// End.
    pub end_ns: u64,
    /// Decisions in it.
    pub decisions: u64,
    /// How often the causes were sampled, ms.
    pub sample_ms: f64,
    /// Its slowest decisions, slowest first.
    pub slowest: Vec<SlowRecord>,
}
