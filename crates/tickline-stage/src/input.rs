//! Where a stage's messages come from: a shared-memory queue (the pipeline),
//! rows already in memory (a recording replayed), or a source of its own
//! (the feed-handler's market data, which implements [`Input`] in
//! `tickline-feed`). Each hands out batches in place and is told how many
//! were handled, so a queue commits only what is done.

use std::time::Duration;

use tickline_shm::{Consumer, Message, WaitOutcome};
use tickline_telemetry::StageTelemetry;

/// How long an idle stage sleeps before it looks at its signals and files again.
pub(crate) const IDLE_WAKE: Duration = Duration::from_millis(100);

/// What a read gave.
pub enum Batch<'a, T> {
    /// One or more messages, not yet committed.
    Ready(&'a [T]),
    /// Nothing now; wait and try again.
    Idle,
    /// Nothing ever again.
    End,
}

/// A stream of input messages, read in batches.
pub trait Input<T> {
    /// Up to `max` (≥ 1) messages.
    fn read(&mut self, max: usize) -> Batch<'_, T>;
    /// The first `n` messages of the last batch are handled.
    fn commit(&mut self, n: usize);
    /// Waits after [`Batch::Idle`], at most a short while.
    fn wait(&mut self) -> WaitOutcome;
    /// Says this process is alive (queues only).
    fn beat(&self) {}
    /// Bad input so far (malformed feed bytes...), all kinds summed.
    fn errors(&self) -> u64 {
        0
    }
    /// Updates the input's own values in the stats segment, as
    /// [`crate::Processor::report`] does the processor's.
    fn report(&mut self, _tel: &mut StageTelemetry) {}
}

/// The consuming end of a queue.
pub struct QueueInput<T: Message>(pub Consumer<T>);

impl<T: Message> Input<T> for QueueInput<T> {
    #[inline]
    fn read(&mut self, max: usize) -> Batch<'_, T> {
        let slots = self.0.read_slots(max);
        if slots.is_empty() {
            Batch::Idle
        } else {
            Batch::Ready(slots)
        }
    }

    #[inline]
    fn commit(&mut self, n: usize) {
        self.0.commit(n);
    }

    fn wait(&mut self) -> WaitOutcome {
        self.0.wait(Some(IDLE_WAKE))
    }

    #[inline]
    fn beat(&self) {
        self.0.beat();
    }
}

/// Messages already in memory, e.g. parsed from a recording.
pub struct RowsInput<T> {
    rows: Vec<T>,
    next: usize,
}

impl<T> RowsInput<T> {
    /// Replays `rows` in order.
    pub fn new(rows: Vec<T>) -> Self {
        RowsInput { rows, next: 0 }
    }
}

impl<T> Input<T> for RowsInput<T> {
    fn read(&mut self, max: usize) -> Batch<'_, T> {
        debug_assert!(self.next <= self.rows.len());
        if self.next == self.rows.len() {
            return Batch::End;
        }
        let end = self.rows.len().min(self.next + max);
        Batch::Ready(&self.rows[self.next..end])
    }

    fn commit(&mut self, n: usize) {
        self.next += n;
        debug_assert!(self.next <= self.rows.len(), "commit past the rows");
    }

    fn wait(&mut self) -> WaitOutcome {
        WaitOutcome::Ready
    }
}
