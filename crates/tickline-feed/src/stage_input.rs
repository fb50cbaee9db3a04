//! A market-data source as a stage's input: the feed-handler's (and the
//! offline feature run's) messages, read in batches through the same stage
//! loop as a queue's, each batch's events stamped at ingest.

use tickline_schema::{BookEvent, Stage};
use tickline_shm::{monotonic_ns, WaitOutcome};
use tickline_stage::{Batch, Input, OwnKind, OwnSlot, StageTelemetry};

use crate::{EventReader, ReadStep};

/// Book events from an [`EventReader`], as a stage [`Input`]; bad input is
/// the stage's error count, stream/book disagreements its `feed_book_checks`.
pub struct SourceInput {
    reader: EventReader,
    batch: Vec<BookEvent>,
    end: bool,
    /// The `feed_book_checks` slot, once declared (None: board full).
    book_checks: Option<Option<OwnSlot>>,
}

impl SourceInput {
    /// Reads `reader` in batches of at most `max_batch`.
    pub fn new(reader: EventReader, max_batch: usize) -> Self {
        SourceInput {
            reader,
            batch: vec![bytemuck::Zeroable::zeroed(); max_batch.max(1)],
            end: false,
            book_checks: None,
        }
    }

    /// The reader: its counts, instruments and checks.
    pub fn reader(&self) -> &EventReader {
        &self.reader
    }
}

impl Input<BookEvent> for SourceInput {
    fn read(&mut self, max: usize) -> Batch<'_, BookEvent> {
        let max = max.min(self.batch.len());
        let mut n = 0;
        while n < max && !self.end {
            // Parsed in place: no copy of the event on the way out.
            match self.reader.next(&mut self.batch[n]) {
                ReadStep::Event => n += 1,
                ReadStep::Skip => {}
                ReadStep::Idle => break,
                ReadStep::End => self.end = true,
            }
        }
        // Ingest: the batch is read, so its events are here (one clock read
        // a batch; a feed-handler's publish stamps again).
        let now = monotonic_ns();
        for e in &mut self.batch[..n] {
            e.trace.stamp(Stage::Feed, now);
        }
        match (n, self.end) {
            (0, true) => Batch::End,
            (0, false) => Batch::Idle,
            _ => Batch::Ready(&self.batch[..n]),
        }
    }

    fn commit(&mut self, n: usize) {
        // Events are handed out once: a batch not wholly handled ends the run.
        debug_assert!(n <= self.batch.len());
    }

    fn wait(&mut self) -> WaitOutcome {
        // A live source with nothing now: its receive already waited (at
        // most 1 ms, so a stop is seen); let the CPU's other stage run.
        std::thread::yield_now();
        WaitOutcome::Ready
    }

    fn errors(&self) -> u64 {
        self.reader.stats().error_counts().map(|(_, n)| n).sum()
    }

    fn report(&mut self, tel: &mut StageTelemetry) {
        let slot = *self
            .book_checks
            .get_or_insert_with(|| tel.own("feed_book_checks", OwnKind::Counter));
        if let Some(slot) = slot {
            let checks = self.reader.stats().book_check_counts().map(|(_, n)| n);
            tel.set_count(slot, checks.sum());
        }
    }
}
