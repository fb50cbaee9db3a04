//! The consuming end of a queue: reads published slots in place, then
//! frees them with one release store of `head` (commit).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::monotonic_ns;
use crate::error::Result;
use crate::layout::Message;
use crate::ring::Ring;
use crate::segment::{claim_role, release_role};
use crate::wait::{wait_until, wake_if_sleeping, SleepWords, WaitOutcome, WaitStrategy};

/// The reading end. At most one live process holds it per segment.
pub struct Consumer<T: Message> {
    ring: Ring<T>,
    head: u64,
    cached_tail: u64,
    wait: WaitStrategy,
    stop: Option<Arc<AtomicBool>>,
}

impl<T: Message> Consumer<T> {
    /// Attaches to an existing segment and resumes at its last committed slot:
    /// whatever a dead predecessor read but did not commit is delivered again.
    pub fn attach(name: &str, wait: WaitStrategy) -> Result<Self> {
        let ring = Ring::<T>::open(name, true)?;
        let h = ring.header();
        claim_role(&h.consumer.pid, name, "consumer")?;
        h.consumer
            .heartbeat_ns
            .store(monotonic_ns(), Ordering::Relaxed);
        let head = h.consumer.head.load(Ordering::Acquire);
        let cached_tail = h.producer.tail.load(Ordering::Acquire);
        Ok(Consumer {
            ring,
            head,
            cached_tail,
            wait,
            stop: None,
        })
    }

    /// A flag that, once set, makes waits return [`WaitOutcome::Stopped`].
    pub fn with_stop_flag(mut self, stop: Arc<AtomicBool>) -> Self {
        self.stop = Some(stop);
        self
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.ring.capacity as usize
    }

    /// When the queue was created (Unix ns): names the run it belongs to,
    /// since every run of a pipeline creates its queues anew.
    pub fn created_unix_ns(&self) -> u64 {
        self.ring.header().id.created_unix_ns
    }

    /// Messages committed so far over the segment's life.
    pub fn committed(&self) -> u64 {
        self.head
    }

    /// Readable messages, reading the producer's index only when the cached one is used up.
    #[inline]
    pub fn available(&mut self) -> usize {
        self.check();
        if self.cached_tail == self.head {
            self.cached_tail = self.ring.header().producer.tail.load(Ordering::Acquire);
            self.check();
        }
        (self.cached_tail - self.head) as usize
    }

    /// head <= tail <= head + capacity, as this consumer sees them.
    #[inline]
    fn check(&self) {
        debug_assert!(
            self.head <= self.cached_tail && self.cached_tail - self.head <= self.ring.capacity,
            "consumer sees head {} tail {} capacity {}",
            self.head,
            self.cached_tail,
            self.ring.capacity
        );
    }

    /// Up to `max` contiguous readable messages, not yet committed.
    pub fn read_slots(&mut self, max: usize) -> &[T] {
        self.read_slots_from(0, max)
    }

    /// Up to `max` contiguous readable messages from the `skip`-th one not
    /// yet committed on (to look past messages read but kept uncommitted,
    /// across the end of the ring).
    pub fn read_slots_from(&mut self, skip: usize, max: usize) -> &[T] {
        let avail = self.available() as u64;
        if skip > 0 && avail <= skip as u64 {
            // A fresh look at the producer's index: the cached one may be
            // short of `skip` while the ring holds more.
            self.cached_tail = self.ring.header().producer.tail.load(Ordering::Acquire);
            self.check();
        }
        let from = self.head + skip as u64;
        let avail = self.cached_tail.saturating_sub(from);
        let (ptr, run) = self.ring.run_from(from);
        let n = (max as u64).min(avail).min(run) as usize;
        debug_assert!(from + n as u64 <= self.cached_tail);
        // SAFETY: slots [from, from + n) were published (release/acquire on
        // tail) and the producer will not touch them until we commit.
        unsafe { std::slice::from_raw_parts(ptr, n) }
    }

    /// Releases the next `n` read messages to the producer with one release store.
    ///
    /// Panics if `n` exceeds what was available.
    pub fn commit(&mut self, n: usize) {
        let n = n as u64;
        assert!(
            n <= self.cached_tail - self.head,
            "commit({n}) beyond the readable slots"
        );
        if n == 0 {
            return;
        }
        self.head += n;
        self.check();
        let h = self.ring.header();
        h.consumer.head.store(self.head, Ordering::Release);
        wake_if_sleeping(&h.producer_sleep.waiting, &h.producer_sleep.wake);
    }

    /// Copies out and commits one message if any.
    #[inline]
    pub fn try_pop(&mut self) -> Option<T> {
        let msg = *self.read_slots(1).first()?;
        self.commit(1);
        Some(msg)
    }

    /// Waits, by this consumer's strategy, until a message is readable.
    pub fn wait(&mut self, timeout: Option<Duration>) -> WaitOutcome {
        self.wait_past(0, timeout)
    }

    /// Waits, by this consumer's strategy, until more than `skip` messages
    /// are readable (to wait past messages read but kept uncommitted).
    pub fn wait_past(&mut self, skip: usize, timeout: Option<Duration>) -> WaitOutcome {
        let h = self.ring.header();
        let want = self.head + skip as u64;
        let cached = &mut self.cached_tail;
        let words = SleepWords {
            waiting: &h.consumer_sleep.waiting,
            wake: &h.consumer_sleep.wake,
            sleeps: &h.consumer_sleep.sleeps,
            heartbeat: &h.consumer.heartbeat_ns,
        };
        wait_until(self.wait, &words, self.stop.as_deref(), timeout, || {
            *cached = h.producer.tail.load(Ordering::Acquire);
            *cached > want
        })
    }

    /// Next message, waiting as long as needed; None once the stop flag is set.
    pub fn pop(&mut self) -> Option<T> {
        loop {
            if let Some(m) = self.try_pop() {
                return Some(m);
            }
            if self.wait(None) == WaitOutcome::Stopped {
                return None;
            }
        }
    }

    /// Publishes liveness. Call every few milliseconds of work; waits beat on their own.
    pub fn beat(&self) {
        self.ring
            .header()
            .consumer
            .heartbeat_ns
            .store(monotonic_ns(), Ordering::Relaxed);
    }
}

impl<T: Message> Drop for Consumer<T> {
    fn drop(&mut self) {
        release_role(&self.ring.header().consumer.pid);
    }
}
