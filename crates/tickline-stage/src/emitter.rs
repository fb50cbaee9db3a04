//! The output side of a stage as its processor sees it: publish stamps the
//! message, records its end-to-end latency and skips what a predecessor
//! already published.

use tickline_schema::telemetry::Metric;
use tickline_schema::{Stage, Traced};
use tickline_shm::{monotonic_ns, Message, Push};
use tickline_telemetry::StageTelemetry;

use crate::Output;

/// What became of an emitted message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emitted {
    /// Published.
    Sent,
    /// A predecessor already published it: skipped.
    Replayed,
    /// Dropped by a full output's drop-newest policy (counted).
    Dropped,
    /// The stage is stopping while the output was full: not published.
    Stopped,
}

/// Message counts of one run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    /// Input messages handled, redelivered ones included.
    pub handled: u64,
    /// Of those, ones a predecessor had already handled.
    pub replayed: u64,
    /// Messages handed to the output (sent or dropped when full).
    pub published: u64,
    /// Of those, dropped by a drop-newest output.
    pub dropped: u64,
}

/// The output side of a stage as its processor sees it: stamps, end-to-end
/// latency, resume after a predecessor, and the counts.
pub struct Emitter<'a, O: Message + Traced> {
    pub(crate) stage: Stage,
    pub(crate) output: &'a mut Output<O>,
    pub(crate) tel: &'a mut StageTelemetry,
    pub(crate) counts: &'a mut Counts,
    pub(crate) resume_after: Option<u64>,
    pub(crate) stopped: bool,
    /// When the batch being processed was read (monotonic ns).
    pub(crate) read_ns: u64,
}

impl<O: Message + Traced> Emitter<'_, O> {
    /// True (and counted) if the output for input `seq` was published by a
    /// predecessor; such input may still be processed (to warm state) but
    /// must not be emitted again.
    #[inline]
    pub fn is_replay(&mut self, seq: u64) -> bool {
        let replay = self.resume_after.is_some_and(|r| seq <= r);
        self.counts.replayed += replay as u64;
        replay
    }

    /// Stamps `msg` now and publishes it, unless it is a replay.
    #[inline]
    pub fn emit(&mut self, msg: &mut O) -> Emitted {
        self.emit_at(msg, monotonic_ns())
    }

    /// As [`Emitter::emit`], with the stamp given (messages of one batch
    /// that became ready at once).
    #[inline]
    pub fn emit_at(&mut self, msg: &mut O, now: u64) -> Emitted {
        if self.is_replay(msg.trace().seq) {
            return Emitted::Replayed;
        }
        msg.trace_mut().stamp(self.stage, now);
        if self.stage != Stage::Feed {
            self.tel
                .record_since(Metric::EndToEnd, msg.trace().ingest_ns(), now);
        }
        match self.output.push(msg) {
            Push::Sent => {
                self.counts.published += 1;
                Emitted::Sent
            }
            Push::Dropped => {
                self.counts.published += 1;
                self.counts.dropped += 1;
                Emitted::Dropped
            }
            Push::Stopped => {
                self.stopped = true;
                Emitted::Stopped
            }
        }
    }

    /// When the batch being processed was read from the input (monotonic
    /// ns): where a message's wait in the queue ends and the stage's work
    /// on it begins.
    #[inline]
    pub fn read_ns(&self) -> u64 {
        self.read_ns
    }

    /// The stage's recorder, for latencies of its own.
    pub fn telemetry(&mut self) -> &mut StageTelemetry {
        self.tel
    }
}
