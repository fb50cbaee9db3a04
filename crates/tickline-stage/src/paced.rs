//! Pacing as a wrapper around any input: messages handed out when due, at
//! their recorded exchange-time spacing (times a speed), from the first one
//! this process publishes. A message not yet due is held, the read says
//! [`Batch::Idle`], and [`Input::wait`] sleeps until it is due. Reading
//! (for a feed, parsing and the books) thus happens ahead, while waiting:
//! a message that had to wait is handed out alone and already read, so the
//! stage's service time for it is what lies between its being due and its
//! publication. What is handed out is released only when committed.

use std::time::Duration;

use tickline_schema::{Trace, Traced};
use tickline_shm::{monotonic_ns, Message, WaitOutcome};
use tickline_telemetry::StageTelemetry;

use crate::input::{Batch, Input, IDLE_WAKE};

/// When each message is due.
struct Pacing {
    speed: f64,
    /// Messages up to this sequence number were published by a predecessor:
    /// they pass at once (they are skipped downstream) and pacing starts
    /// after them.
    resume_after: Option<u64>,
    /// (exchange ns, monotonic ns) of the first paced message.
    origin: Option<(u64, u64)>,
}

impl Pacing {
    /// Monotonic ns at which the message traced `t` is due (0: at once).
    fn due_ns(&mut self, t: &Trace, now: u64) -> u64 {
        if self.resume_after.is_some_and(|r| t.seq <= r) {
            return 0;
        }
        let (x0, m0) = *self.origin.get_or_insert((t.exchange_ns, now));
        m0 + (t.exchange_ns.saturating_sub(x0) as f64 / self.speed) as u64
    }
}

/// `inner` replayed at `speed` times its recorded rate.
pub struct Paced<T, I> {
    inner: I,
    pacing: Pacing,
    /// The next message, read from `inner` and not yet committed here.
    next: Option<T>,
    end: bool,
}

impl<T: Message + Traced, I: Input<T>> Paced<T, I> {
    /// Paces `inner` at `speed` (> 0) times its recorded rate.
    pub fn new(inner: I, speed: f64, resume_after: Option<u64>) -> Self {
        assert!(speed.is_finite() && speed > 0.0, "pacing speed {speed}");
        Paced {
            inner,
            pacing: Pacing {
                speed,
                resume_after,
                origin: None,
            },
            next: None,
            end: false,
        }
    }

    /// The wrapped input.
    pub fn inner(&self) -> &I {
        &self.inner
    }

    /// The wrapped input, unwrapped.
    pub fn into_inner(self) -> I {
        self.inner
    }

    /// Reads the next message from `inner` into `self.next` (committed
    /// there at once: from then on this wrapper holds it).
    fn fill(&mut self) {
        debug_assert!(self.next.is_none());
        match self.inner.read(1) {
            Batch::Ready(b) => self.next = Some(b[0]),
            Batch::Idle => return,
            Batch::End => {
                self.end = true;
                return;
            }
        }
        self.inner.commit(1);
    }
}

impl<T: Message + Traced, I: Input<T>> Input<T> for Paced<T, I> {
    /// One message a read, as soon as it is due: each is published (and
    /// handed to a consumer sharing the CPU) without waiting for the rest
    /// of a burst.
    fn read(&mut self, _max: usize) -> Batch<'_, T> {
        if self.next.is_none() {
            self.fill();
        }
        let now = monotonic_ns();
        match &self.next {
            None if self.end => Batch::End,
            None => Batch::Idle,
            Some(m) if self.pacing.due_ns(m.trace(), now) > now => Batch::Idle,
            Some(m) => Batch::Ready(std::slice::from_ref(m)),
        }
    }

    fn commit(&mut self, n: usize) {
        debug_assert!(n <= 1, "commit past the batch of one");
        if n == 1 {
            self.next = None;
        }
    }

    fn wait(&mut self) -> WaitOutcome {
        let Some(m) = &self.next else {
            return self.inner.wait();
        };
        let now = monotonic_ns();
        let due = self.pacing.due_ns(m.trace(), now);
        if due > now {
            std::thread::sleep(Duration::from_nanos(due - now).min(IDLE_WAKE));
        }
        WaitOutcome::Ready
    }

    fn beat(&self) {
        self.inner.beat();
    }

    fn errors(&self) -> u64 {
        self.inner.errors()
    }

    fn report(&mut self, tel: &mut StageTelemetry) {
        self.inner.report(tel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RowsInput;
    use tickline_schema::BookEvent;

    fn events(exchange_ms: &[u64]) -> Vec<BookEvent> {
        exchange_ms
            .iter()
            .enumerate()
            .map(|(i, ms)| {
                let mut e: BookEvent = bytemuck::Zeroable::zeroed();
                e.trace.seq = i as u64 + 1;
                e.trace.exchange_ns = 1_000_000_000 + ms * 1_000_000;
                e
            })
            .collect()
    }

    /// Reads everything: (seq, ms since the first read) of each message.
    fn drain(p: &mut Paced<BookEvent, RowsInput<BookEvent>>) -> Vec<(u64, u64)> {
        let t0 = monotonic_ns();
        let mut got = Vec::new();
        loop {
            let n = match p.read(8) {
                Batch::Ready(b) => {
                    let t = (monotonic_ns() - t0) / 1_000_000;
                    got.extend(b.iter().map(|e| (e.trace.seq, t)));
                    b.len()
                }
                Batch::Idle => {
                    p.wait();
                    continue;
                }
                Batch::End => return got,
            };
            p.commit(n);
        }
    }

    #[test]
    fn messages_come_when_due_and_same_time_ones_together() {
        let rows = RowsInput::new(events(&[0, 0, 60, 60, 120]));
        let mut p = Paced::new(rows, 1.0, None);
        let got = drain(&mut p);
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert_eq!(got[0].1, got[1].1, "due together: {got:?}");
        assert!(
            (55..1_000).contains(&got[2].1),
            "not before it is due: {got:?}"
        );
        assert!((115..1_000).contains(&got[4].1), "{got:?}");
        assert!(got[4].1 >= got[2].1 + 55, "spacing kept: {got:?}");
    }

    #[test]
    fn a_predecessors_messages_pass_at_once_and_pacing_starts_after_them() {
        let rows = RowsInput::new(events(&[0, 500, 1000, 1050]));
        let mut p = Paced::new(rows, 1.0, Some(2));
        let got = drain(&mut p);
        assert_eq!(got.len(), 4);
        assert!(
            got[2].1 < 300,
            "the first new one is due at once, not 1 s on: {got:?}"
        );
        assert!((45..1_000).contains(&got[3].1), "{got:?}");
    }

    #[test]
    fn speed_scales_the_gaps() {
        let rows = RowsInput::new(events(&[0, 400]));
        let got = drain(&mut Paced::new(rows, 8.0, None));
        assert!((45..300).contains(&got[1].1), "400 ms at 8x is 50: {got:?}");
    }
}
