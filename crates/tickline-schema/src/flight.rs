//! The flight recorder's records: the slowest decisions of an interval, each
//! with its whole trace, kept in the deciding stage's stats segment.

use bytemuck::{Pod, Zeroable};

/// Decisions kept per interval (and for the whole run).
pub const SLOWEST_N: usize = 32;
/// Completed intervals a stats segment keeps, the newest over the oldest.
pub const SLOWEST_INTERVALS: usize = 4;

/// One decision: what it was and when each hop handed it on. Times are
/// CLOCK_MONOTONIC ns unless said otherwise. Every field is a `u64` word.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct SlowDecision {
    /// Sequence number of the market event.
    pub seq: u64,
    /// Its instrument.
    pub instrument_id: u64,
    /// The venue's time for the event (the source's clock, see `Trace`).
    pub exchange_ns: u64,
    /// When its data reached us, epoch ns (0: the source has none).
    pub receive_ns: u64,
    /// Each stage's publish stamp (the feed's is the ingest time); the
    /// router's is 0 unless the decision was an order.
    pub stamps: [u64; 4],
    /// When the deciding stage read the batch that held it.
    pub read_ns: u64,
    /// When it was decided.
    pub decided_ns: u64,
    /// What it came to: [`Outcome`] as a word.
    pub outcome: u64,
    /// The trace's flags (stale book, out of order).
    pub flags: u64,
    /// Zero.
    pub _reserved: [u64; 4],
}

/// What a decision came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No order: in the band or at target.
    NoOrder,
    /// An order was sent.
    Order,
    /// Refused, with the router's reject reason index.
    Reject(u32),
}

impl Outcome {
    /// As stored in [`SlowDecision::outcome`].
    pub fn to_word(self) -> u64 {
        match self {
            Outcome::NoOrder => 0,
            Outcome::Order => 1,
            Outcome::Reject(r) => 2 + u64::from(r),
        }
    }

    /// From a stored word.
    pub fn from_word(w: u64) -> Self {
        match w {
            0 => Outcome::NoOrder,
            1 => Outcome::Order,
            r => Outcome::Reject(u32::try_from(r - 2).unwrap_or(u32::MAX)),
        }
    }
}

/// The hops of a decision, in path order.
pub const HOPS: [&str; 4] = ["feature", "inference", "router_queue", "router"];

impl SlowDecision {
    /// Ingest to decision, ns.
    pub fn total_ns(&self) -> u64 {
        self.decided_ns.saturating_sub(self.stamps[0])
    }

    /// Each hop's time, in the order of [`HOPS`]: the feature and inference
    /// stages' (their wait for input and their work, publish to publish),
    /// the router's wait in its queue (read − inference publish) and its own
    /// work (decision − read).
    pub fn hops(&self) -> [u64; 4] {
        let [feed, feature, inference, _] = self.stamps;
        let read = if self.read_ns == 0 {
            inference
        } else {
            self.read_ns
        };
        [
            feature.saturating_sub(feed),
            inference.saturating_sub(feature),
            read.saturating_sub(inference),
            self.decided_ns.saturating_sub(read),
        ]
    }

    /// The index in [`HOPS`] of the slowest hop.
    pub fn slowest_hop(&self) -> usize {
        let h = self.hops();
        (0..h.len()).max_by_key(|i| h[*i]).unwrap_or(0)
    }

    /// Start and end (monotonic ns) of hop `i`.
    pub fn hop_span(&self, i: usize) -> (u64, u64) {
        let h = self.hops();
        let start = self.stamps[0] + h[..i].iter().sum::<u64>();
        (start, start + h[i])
    }
}

/// The slowest decisions of one interval (or of the run), slowest first,
/// under a seqlock: `version` is odd while the writer updates the block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct SlowestBlock {
    /// Seqlock version.
    pub version: u64,
    /// Interval number from 1; 0: nothing published yet.
    pub interval: u64,
    /// Monotonic ns the interval began.
    pub start_ns: u64,
    /// Monotonic ns it ended.
    pub end_ns: u64,
    /// Decisions made in it.
    pub decisions: u64,
    /// Entries in use.
    pub len: u64,
    /// The slowest decisions, slowest first.
    pub entries: [SlowDecision; SLOWEST_N],
}

impl Default for SlowestBlock {
    fn default() -> Self {
        Zeroable::zeroed()
    }
}

impl SlowestBlock {
    /// The entries in use.
    pub fn decisions(&self) -> &[SlowDecision] {
        &self.entries[..(self.len as usize).min(SLOWEST_N)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hops_add_up_to_the_total_and_the_slowest_is_found() {
        let d = SlowDecision {
            stamps: [1_000, 1_500, 9_500, 0],
            read_ns: 9_700,
            decided_ns: 10_000,
            ..Default::default()
        };
        assert_eq!(d.hops(), [500, 8_000, 200, 300]);
        assert_eq!(d.hops().iter().sum::<u64>(), d.total_ns());
        assert_eq!(HOPS[d.slowest_hop()], "inference");
        assert_eq!(d.hop_span(1), (1_500, 9_500));
        assert_eq!(d.hop_span(3), (9_700, 10_000));
    }

    #[test]
    fn outcomes_round_trip() {
        for o in [
            Outcome::NoOrder,
            Outcome::Order,
            Outcome::Reject(0),
            Outcome::Reject(10),
        ] {
            assert_eq!(Outcome::from_word(o.to_word()), o);
        }
    }
}
