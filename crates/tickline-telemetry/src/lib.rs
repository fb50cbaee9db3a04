//! Latency and counters of one stage, recorded on the hot path into bucket
//! counts that live in a shared-memory counters segment (no locks, no
//! allocation, nothing to serialise or copy when it is published), and read
//! back as HdrHistograms by the supervisor and `tickline-stats`.
//!
//! The buckets are HdrHistogram's own layout (1 ns to 100 s, 3 significant
//! digits), so a histogram rebuilt from them is the one the stage would have
//! recorded directly.
#![forbid(unsafe_code)]

mod buckets;
mod flight;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use tickline_schema::flight::{SlowestBlock, SLOWEST_INTERVALS};
use tickline_schema::telemetry::{
    stats_word as w, Metric, OwnKind, StageStats, HIST_COUNTS, N_METRICS, OWN_NAME_WORDS, OWN_SLOTS,
};
use tickline_shm::{monotonic_ns, CountersReader, CountersWriter, QueueError};

pub use buckets::{bucket_of, bucket_value};
pub use flight::{FlightRecorder, Slowest};

/// What can fail attaching to a stats segment.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The stats segment could not be attached or opened.
    #[error("attaching to stats segment {board}")]
    Board {
        /// The segment name.
        board: String,
        /// Why.
        #[source]
        source: QueueError,
    },
}

/// A latency in nanoseconds, for people: "121 ns", "10.7 µs", "62.3 ms".
pub fn format_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.1} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// 1 ns to 100 s at 3 significant digits: the range every stage records in.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, tickline_schema::telemetry::HIST_HIGHEST_NS, 3)
        .expect("valid bounds")
}

/// Median (the mean of the middle two for an even count), minimum and
/// maximum of repeated measurements: how benchmarks report rounds.
pub fn median_range(v: &mut [f64]) -> (f64, f64, f64) {
    assert!(!v.is_empty(), "median of no measurements");
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    (median, v[0], v[n - 1])
}

/// Mean, p50, p90, p99, p99.9 and max in ns, as JSON.
pub fn percentiles(h: &Histogram<u64>) -> serde_json::Value {
    if h.is_empty() {
        return serde_json::json!({"count": 0});
    }
    serde_json::json!({
        "count": h.len(),
        "mean": h.mean().round(),
        "p50": h.value_at_quantile(0.5),
        "p90": h.value_at_quantile(0.9),
        "p99": h.value_at_quantile(0.99),
        "p99.9": h.value_at_quantile(0.999),
        "max": h.max(),
    })
}

/// The words a stage writes: in shared memory, or its own when it runs alone.
enum Store {
    Shared(CountersWriter<StageStats>),
    Local(Box<[AtomicU64]>),
}

impl Store {
    #[inline]
    fn words(&self) -> &[AtomicU64] {
        match self {
            Store::Shared(c) => c.words(),
            Store::Local(b) => b,
        }
    }
}

/// Adds `n` to a word this process alone writes.
#[inline]
fn add(word: &AtomicU64, n: u64) {
    word.store(word.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

/// A histogram of one metric's bucket counts.
pub fn histogram_from_counts(counts: impl IntoIterator<Item = u64>) -> Histogram<u64> {
    let mut h = new_histogram();
    for (i, c) in counts.into_iter().enumerate().filter(|(_, c)| *c > 0) {
        h.record_n(bucket_value(i), c)
            .expect("bucket values are in range");
    }
    h
}

/// Histograms rebuilt from the counts of each metric.
fn histograms(counts: &[u64]) -> [Histogram<u64>; N_METRICS] {
    debug_assert_eq!(counts.len(), N_METRICS * HIST_COUNTS);
    std::array::from_fn(|m| {
        histogram_from_counts(
            counts[m * HIST_COUNTS..(m + 1) * HIST_COUNTS]
                .iter()
                .copied(),
        )
    })
}

/// One stage's recorder.
pub struct StageTelemetry {
    store: Store,
    every_ns: u64,
    last_publish: u64,
    own_used: usize,
}

/// A declared own value of a stage (see [`StageTelemetry::own`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnSlot(usize);

/// An own value as read back.
#[derive(Clone, Debug, PartialEq)]
pub struct OwnValue {
    /// `name` or `name{label="value"}`.
    pub name: String,
    /// Counter or gauge.
    pub kind: OwnKind,
    /// Its value.
    pub value: f64,
}

impl StageTelemetry {
    /// `board`: the name of a [`StageStats`] counters segment (made by the
    /// supervisor), or None to record only for the stage's own summary.
    /// `every`: how often [`StageTelemetry::tick`] says the stage is alive.
    pub fn new(board: Option<&str>, every: Duration) -> Result<Self, TelemetryError> {
        let store = match board {
            Some(b) => Store::Shared(CountersWriter::attach(b).map_err(|source| {
                TelemetryError::Board {
                    board: b.to_owned(),
                    source,
                }
            })?),
            None => Store::Local((0..w::LEN).map(|_| AtomicU64::new(0)).collect()),
        };
        let words = store.words();
        // A restarted stage starts from zero (readers tell it by pid and start).
        for x in words {
            x.store(0, Ordering::Relaxed);
        }
        let now = monotonic_ns();
        words[w::STARTED_NS].store(now, Ordering::Relaxed);
        words[w::UPDATED_NS].store(now, Ordering::Relaxed);
        words[w::PID].store(u64::from(std::process::id()), Ordering::Release);
        Ok(StageTelemetry {
            store,
            every_ns: every.as_nanos() as u64,
            last_publish: now,
            own_used: 0,
        })
    }

    /// Declares a value of the stage's own (orders, fills, PnL...), named
    /// `name` or `name{label="value"}` (at most 48 bytes, one label), to be
    /// set with [`Self::set_count`] or [`Self::set_gauge`]. None once every
    /// slot is taken or if the name is too long.
    pub fn own(&mut self, name: &str, kind: OwnKind) -> Option<OwnSlot> {
        if self.own_used == OWN_SLOTS || name.len() > OWN_NAME_WORDS * 8 || name.is_empty() {
            return None;
        }
        let i = self.own_used;
        self.own_used += 1;
        let words = self.store.words();
        let mut bytes = [0u8; OWN_NAME_WORDS * 8];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        for (k, chunk) in bytes.chunks_exact(8).enumerate() {
            let v = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            words[w::OWN_NAMES + i * OWN_NAME_WORDS + k].store(v, Ordering::Relaxed);
        }
        // The kind last: a reader that sees it sees the whole name.
        words[w::OWN_KINDS + i].store(kind as u64, Ordering::Release);
        Some(OwnSlot(i))
    }

    /// Sets an own counter.
    #[inline]
    pub fn set_count(&self, slot: OwnSlot, v: u64) {
        self.store.words()[w::OWN_VALUES + slot.0].store(v, Ordering::Relaxed);
    }

    /// Sets an own gauge.
    #[inline]
    pub fn set_gauge(&self, slot: OwnSlot, v: f64) {
        self.store.words()[w::OWN_VALUES + slot.0].store(v.to_bits(), Ordering::Relaxed);
    }

    /// Records one latency of metric `m`.
    #[inline]
    pub fn record(&mut self, m: Metric, ns: u64) {
        self.record_n(m, ns, 1);
    }

    /// `n` messages that shared one measurement (a batch, per message).
    #[inline]
    pub fn record_n(&mut self, m: Metric, ns: u64, n: u64) {
        let i = w::COUNTS + m as usize * HIST_COUNTS + bucket_of(ns);
        add(&self.store.words()[i], n);
    }

    /// Latency since an upstream stamp, if it has one (0 = not stamped).
    #[inline]
    pub fn record_since(&mut self, m: Metric, stamp: u64, now: u64) {
        if stamp != 0 && now >= stamp {
            self.record(m, now - stamp);
        }
    }

    /// Adds to the message counters.
    #[inline]
    pub fn count(&mut self, messages_in: u64, messages_out: u64, errors: u64) {
        let words = self.store.words();
        add(&words[w::MESSAGES_IN], messages_in);
        add(&words[w::MESSAGES_OUT], messages_out);
        add(&words[w::ERRORS], errors);
    }

    /// Sets the error total (for stages that keep their own counters).
    #[inline]
    pub fn set_errors(&mut self, errors: u64) {
        self.store.words()[w::ERRORS].store(errors, Ordering::Relaxed);
    }

    /// Says the stage is warmed up and ready for its first event.
    pub fn set_ready(&mut self) {
        self.store.words()[w::READY_NS].store(monotonic_ns(), Ordering::Release);
    }

    /// The histogram of `m` so far.
    pub fn histogram(&self, m: Metric) -> Histogram<u64> {
        let base = w::COUNTS + m as usize * HIST_COUNTS;
        let words = &self.store.words()[base..base + HIST_COUNTS];
        histogram_from_counts(words.iter().map(|x| x.load(Ordering::Relaxed)))
    }

    /// Publishes the flight recorder's block of the run so far.
    pub fn publish_slowest_run(&self, b: &SlowestBlock) {
        let base = w::SLOWEST_RUN;
        flight::write_block(&self.store.words()[base..base + flight::BLOCK_WORDS], b);
    }

    /// Publishes a closed interval's block, in the slot its number picks.
    pub fn publish_slowest_interval(&self, b: &SlowestBlock) {
        let base = w::SLOWEST + (b.interval as usize % SLOWEST_INTERVALS) * flight::BLOCK_WORDS;
        flight::write_block(&self.store.words()[base..base + flight::BLOCK_WORDS], b);
    }

    /// Marks the stage alive if the interval has passed: one store, nothing
    /// to serialise (readers read the counts where they are). Call between
    /// batches. True if it did (a moment to update own values).
    #[inline]
    pub fn tick(&mut self, now: u64) -> bool {
        let due = now.saturating_sub(self.last_publish) >= self.every_ns;
        if due {
            self.publish(now);
        }
        due
    }

    /// Marks the stage alive now.
    pub fn publish(&mut self, now: u64) {
        self.last_publish = now;
        self.store.words()[w::UPDATED_NS].store(now, Ordering::Release);
    }

    /// Percentiles of every metric that has samples, as JSON.
    pub fn summary(&self) -> serde_json::Value {
        Metric::ALL
            .iter()
            .map(|m| (m.name(), self.histogram(*m)))
            .filter(|(_, h)| !h.is_empty())
            .map(|(name, h)| (name.to_owned(), percentiles(&h)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

/// What a stage's stats segment held at one read.
pub struct Snapshot {
    /// The stage's pid (0: no stage has written yet).
    pub pid: u32,
    /// CLOCK_MONOTONIC ns of the stage's start.
    pub started_ns: u64,
    /// Its last sign of life.
    pub updated_ns: u64,
    /// When it was ready (0: not yet).
    pub ready_ns: u64,
    /// Input messages handled.
    pub messages_in: u64,
    /// Output messages published.
    pub messages_out: u64,
    /// Errors, all kinds.
    pub errors: u64,
    /// One histogram per [`Metric`].
    pub hists: [Histogram<u64>; N_METRICS],
    /// The stage's own values, in declaration order.
    pub own: Vec<OwnValue>,
}

/// The own values held in a copy of a stats segment's words.
fn own_values(b: &[u64]) -> Vec<OwnValue> {
    (0..OWN_SLOTS)
        .map_while(|i| {
            let kind = OwnKind::from_u64(b[w::OWN_KINDS + i])?;
            let name_words = &b[w::OWN_NAMES + i * OWN_NAME_WORDS..][..OWN_NAME_WORDS];
            let bytes: Vec<u8> = name_words.iter().flat_map(|x| x.to_le_bytes()).collect();
            let len = bytes.iter().position(|c| *c == 0).unwrap_or(bytes.len());
            let raw = b[w::OWN_VALUES + i];
            Some(OwnValue {
                name: String::from_utf8_lossy(&bytes[..len]).into_owned(),
                kind,
                value: match kind {
                    OwnKind::Counter => raw as f64,
                    OwnKind::Gauge => f64::from_bits(raw),
                },
            })
        })
        .collect()
}

/// Reads a stage's stats segment (read-only).
pub struct StatsReader {
    reader: CountersReader<StageStats>,
    buf: Vec<u64>,
}

impl StatsReader {
    /// Opens the segment `name`.
    pub fn open(name: &str) -> Result<Self, TelemetryError> {
        let reader = CountersReader::open(name).map_err(|source| TelemetryError::Board {
            board: name.to_owned(),
            source,
        })?;
        Ok(StatsReader {
            reader,
            buf: vec![0; w::LEN],
        })
    }

    /// The start time of the stage writing it, and its pid (0: none yet).
    pub fn owner(&self) -> (u32, u64) {
        let words = self.reader.words();
        let pid = words[w::PID].load(Ordering::Acquire) as u32;
        (pid, words[w::STARTED_NS].load(Ordering::Relaxed))
    }

    /// When the stage said it was ready (0: not yet).
    pub fn ready_ns(&self) -> u64 {
        self.reader.words()[w::READY_NS].load(Ordering::Acquire)
    }

    /// The live bucket counts of metric `m` (see [`bucket_value`]), for
    /// readers that take them a slice at a time.
    pub fn counts(&self, m: Metric) -> &[AtomicU64] {
        let base = w::COUNTS + m as usize * HIST_COUNTS;
        &self.reader.words()[base..base + HIST_COUNTS]
    }

    /// The flight recorder's block of the run so far, if published.
    pub fn slowest_run(&self) -> Option<SlowestBlock> {
        let base = w::SLOWEST_RUN;
        flight::read_block(&self.reader.words()[base..base + flight::BLOCK_WORDS])
    }

    /// The closed intervals' blocks the segment still holds, oldest first.
    pub fn slowest_intervals(&self) -> Vec<SlowestBlock> {
        let mut v: Vec<SlowestBlock> = (0..SLOWEST_INTERVALS)
            .filter_map(|k| {
                let base = w::SLOWEST + k * flight::BLOCK_WORDS;
                flight::read_block(&self.reader.words()[base..base + flight::BLOCK_WORDS])
            })
            .collect();
        v.sort_by_key(|b| b.interval);
        v
    }

    /// Everything, read now; None if no stage has written, or it was
    /// replaced while being read.
    pub fn read(&mut self) -> Option<Snapshot> {
        let owner = self.owner();
        if owner.0 == 0 {
            return None;
        }
        self.reader.copy_into(&mut self.buf);
        if self.owner() != owner {
            return None;
        }
        let b = &self.buf;
        Some(Snapshot {
            pid: owner.0,
            started_ns: owner.1,
            updated_ns: b[w::UPDATED_NS],
            ready_ns: b[w::READY_NS],
            messages_in: b[w::MESSAGES_IN],
            messages_out: b[w::MESSAGES_OUT],
            errors: b[w::ERRORS],
            hists: histograms(&b[w::COUNTS..]),
            own: own_values(b),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickline_shm::{create_counters, unlink};

    #[test]
    fn a_reader_sees_what_the_stage_recorded_as_one_histogram_would() {
        let name = format!("/tickline-tel-{}", std::process::id());
        let _ = unlink(&name);
        create_counters::<StageStats>(&name).unwrap();
        let mut t = StageTelemetry::new(Some(&name), Duration::ZERO).unwrap();
        let (mut direct_s, mut direct_e) = (new_histogram(), new_histogram());
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..100_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (s, e) = (x % 5_000 + 100, 1_000 + (x >> 20) % 10_000_000_000);
            t.record(Metric::Service, s);
            t.record(Metric::EndToEnd, e);
            direct_s.record(s).unwrap();
            direct_e.record(e).unwrap();
        }
        // Out of range: counted at the ends, as saturating_record would.
        t.record(Metric::TickToDecision, 0);
        t.record(Metric::TickToDecision, u64::MAX);
        t.count(100_000, 99_000, 3);
        t.set_ready();
        let mut r = StatsReader::open(&name).unwrap();
        let s = r.read().unwrap();
        assert_eq!(s.pid, std::process::id());
        assert_eq!(
            (s.messages_in, s.messages_out, s.errors),
            (100_000, 99_000, 3)
        );
        assert!(s.ready_ns >= s.started_ns);
        assert_eq!(s.hists[Metric::Service as usize], direct_s);
        assert_eq!(s.hists[Metric::EndToEnd as usize], direct_e);
        assert!(s.hists[Metric::QueueWait as usize].is_empty());
        let d = &s.hists[Metric::TickToDecision as usize];
        assert_eq!((d.len(), d.min()), (2, 1));
        assert!(d.max() >= tickline_schema::telemetry::HIST_HIGHEST_NS);
        assert_eq!(t.histogram(Metric::Service), direct_s);
        drop(t);
        // A new stage on the same segment starts from zero.
        let t2 = StageTelemetry::new(Some(&name), Duration::ZERO).unwrap();
        assert!(r.read().unwrap().hists[0].is_empty());
        drop(t2);
        unlink(&name).unwrap();
    }

    #[test]
    fn own_values_are_read_back_by_name_and_kind() {
        let name = format!("/tickline-tel-own-{}", std::process::id());
        let _ = unlink(&name);
        create_counters::<StageStats>(&name).unwrap();
        let mut t = StageTelemetry::new(Some(&name), Duration::ZERO).unwrap();
        let orders = t.own("router_orders", OwnKind::Counter).unwrap();
        let pnl = t.own("router_pnl{book=\"a\"}", OwnKind::Gauge).unwrap();
        assert!(t.own(&"x".repeat(49), OwnKind::Gauge).is_none(), "too long");
        t.set_count(orders, 42);
        t.set_gauge(pnl, -1.25);
        let mut r = StatsReader::open(&name).unwrap();
        let own = r.read().unwrap().own;
        let _ = unlink(&name);
        let want = |n: &str, kind, value| OwnValue {
            name: n.to_owned(),
            kind,
            value,
        };
        assert_eq!(
            own,
            vec![
                want("router_orders", OwnKind::Counter, 42.0),
                want("router_pnl{book=\"a\"}", OwnKind::Gauge, -1.25)
            ]
        );
    }
}
