//! Latency and counters of one stage, recorded in HdrHistograms on the hot
//! path (no locks, no allocation) and published as a whole snapshot to a
//! shared-memory board a few times a second; plus decoding for readers.
#![forbid(unsafe_code)]

use std::time::Duration;

use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use tickline_schema::telemetry::{Metric, StageStats, HIST_BYTES};
use tickline_shm::{monotonic_ns, BoardWriter, QueueError};

/// What can fail attaching to a board or reading one.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The stats board could not be attached.
    #[error("attaching to stats board {board}")]
    Board {
        /// The board's segment name.
        board: String,
        /// Why.
        #[source]
        source: QueueError,
    },
    /// A snapshot's histogram bytes are not a V2 histogram.
    #[error("{metric} histogram of a snapshot does not decode: {reason}")]
    Decode {
        /// Which histogram.
        metric: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
}

/// 1 ns to 100 s at 3 significant digits: the range every stage records in.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid bounds")
}

/// p50, p90, p99, p99.9 and max in ns, as JSON.
pub fn percentiles(h: &Histogram<u64>) -> serde_json::Value {
    if h.is_empty() {
        return serde_json::json!({"count": 0});
    }
    serde_json::json!({
        "count": h.len(),
        "p50": h.value_at_quantile(0.5),
        "p90": h.value_at_quantile(0.9),
        "p99": h.value_at_quantile(0.99),
        "p99.9": h.value_at_quantile(0.999),
        "max": h.max(),
    })
}

/// One stage's recorder.
pub struct StageTelemetry {
    hists: [Histogram<u64>; 3],
    snapshot: Box<StageStats>,
    board: Option<BoardWriter<StageStats>>,
    serializer: V2Serializer,
    buf: Vec<u8>,
    every_ns: u64,
    last_publish: u64,
    /// Histograms that did not fit a board slot (counted, not published).
    pub oversize: u64,
}

impl StageTelemetry {
    /// `board`: the name of a [`StageStats`] board (made by the supervisor),
    /// or None to record only for the stage's own summary.
    pub fn new(board: Option<&str>, every: Duration) -> Result<Self, TelemetryError> {
        let board = board
            .map(|b| {
                BoardWriter::<StageStats>::attach(b).map_err(|source| TelemetryError::Board {
                    board: b.to_owned(),
                    source,
                })
            })
            .transpose()?;
        let mut snapshot: Box<StageStats> = bytemuck::allocation::zeroed_box();
        snapshot.pid = std::process::id();
        snapshot.started_ns = monotonic_ns();
        Ok(StageTelemetry {
            hists: [new_histogram(), new_histogram(), new_histogram()],
            snapshot,
            board,
            serializer: V2Serializer::new(),
            buf: Vec::with_capacity(HIST_BYTES),
            every_ns: every.as_nanos() as u64,
            last_publish: 0,
            oversize: 0,
        })
    }

    /// Records one latency of metric `m`.
    #[inline]
    pub fn record(&mut self, m: Metric, ns: u64) {
        self.hists[m as usize].saturating_record(ns.max(1));
    }

    /// `n` messages that shared one measurement (a batch, per message).
    #[inline]
    pub fn record_n(&mut self, m: Metric, ns: u64, n: u64) {
        let _ = self.hists[m as usize].record_n(ns.clamp(1, 100_000_000_000), n);
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
        self.snapshot.messages_in += messages_in;
        self.snapshot.messages_out += messages_out;
        self.snapshot.errors += errors;
    }

    /// Sets the error total (for stages that keep their own counters).
    pub fn set_errors(&mut self, errors: u64) {
        self.snapshot.errors = errors;
    }

    /// The histogram of `m` so far.
    pub fn histogram(&self, m: Metric) -> &Histogram<u64> {
        &self.hists[m as usize]
    }

    /// Publishes if the interval has passed. Call between batches.
    #[inline]
    pub fn tick(&mut self, now: u64) {
        if now.saturating_sub(self.last_publish) >= self.every_ns {
            self.publish(now);
        }
    }

    /// Serialises the histograms into the snapshot and publishes it.
    pub fn publish(&mut self, now: u64) {
        self.last_publish = now;
        let Some(board) = &mut self.board else {
            return;
        };
        self.snapshot.updated_ns = now;
        for m in Metric::ALL {
            self.buf.clear();
            let len = match self
                .serializer
                .serialize(&self.hists[m as usize], &mut self.buf)
            {
                Ok(n) if n <= HIST_BYTES => n,
                _ => {
                    self.oversize += 1;
                    0
                }
            };
            self.snapshot.hist_bytes_mut(m)[..len].copy_from_slice(&self.buf[..len]);
            self.snapshot.hist_len[m as usize] = len as u32;
        }
        board.publish(&self.snapshot);
    }

    /// Percentiles of every metric that has samples, as JSON.
    pub fn summary(&self) -> serde_json::Value {
        Metric::ALL
            .iter()
            .filter(|m| !self.hists[**m as usize].is_empty())
            .map(|m| (m.name().to_owned(), percentiles(&self.hists[*m as usize])))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

/// The histograms of a published snapshot (empty where none was recorded).
pub fn decode(s: &StageStats) -> Result<[Histogram<u64>; 3], TelemetryError> {
    let mut d = Deserializer::new();
    let mut one = |m: Metric| -> Result<Histogram<u64>, TelemetryError> {
        let bytes = s.hist_bytes(m);
        if bytes.is_empty() {
            return Ok(new_histogram());
        }
        d.deserialize(&mut &bytes[..])
            .map_err(|e| TelemetryError::Decode {
                metric: m.name(),
                reason: format!("{e:?}"),
            })
    };
    Ok([
        one(Metric::Service)?,
        one(Metric::QueueWait)?,
        one(Metric::EndToEnd)?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickline_schema::telemetry::StageStats;
    use tickline_shm::{create_board, unlink, BoardReader};

    #[test]
    fn a_published_snapshot_decodes_to_what_was_recorded() {
        let name = format!("/tickline-tel-{}", std::process::id());
        let _ = unlink(&name);
        create_board::<StageStats>(&name).unwrap();
        let mut t = StageTelemetry::new(Some(&name), Duration::ZERO).unwrap();
        for i in 1..=100_000u64 {
            t.record(Metric::Service, i % 5_000 + 100);
            t.record(Metric::EndToEnd, 1_000_000 + i);
        }
        t.count(100_000, 99_000, 3);
        t.publish(monotonic_ns());
        let (ver, s) = BoardReader::<StageStats>::open(&name)
            .unwrap()
            .read()
            .unwrap();
        assert_eq!(ver, 1);
        assert_eq!(
            (s.messages_in, s.messages_out, s.errors),
            (100_000, 99_000, 3)
        );
        let h = decode(&s).unwrap();
        assert_eq!(h[0], *t.histogram(Metric::Service));
        assert_eq!(h[2], *t.histogram(Metric::EndToEnd));
        assert!(h[1].is_empty());
        assert_eq!(t.oversize, 0);
        unlink(&name).unwrap();
    }
}
