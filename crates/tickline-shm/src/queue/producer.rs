//! The producing end of a queue: publishes into free slots, then makes
//! them visible with one release store of `tail`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{FullPolicy, Push};
use crate::clock::monotonic_ns;
use crate::error::Result;
use crate::layout::Message;
use crate::ring::Ring;
use crate::segment::{claim_role, release_role};
use crate::wait::{wait_until, wake_if_sleeping, SleepWords, WaitOutcome, WaitStrategy};

/// The writing end. At most one live process holds it per segment.
pub struct Producer<T: Message> {
    ring: Ring<T>,
    tail: u64,
    cached_head: u64,
    policy: FullPolicy,
    wait: WaitStrategy,
    stop: Option<Arc<AtomicBool>>,
}

impl<T: Message> Producer<T> {
    /// Attaches to an existing segment and resumes after its last published slot.
    pub fn attach(name: &str, policy: FullPolicy, wait: WaitStrategy) -> Result<Self> {
        let ring = Ring::<T>::open(name, true)?;
        let h = ring.header();
        claim_role(&h.producer.pid, name, "producer")?;
        h.producer
            .heartbeat_ns
            .store(monotonic_ns(), Ordering::Relaxed);
        let tail = h.producer.tail.load(Ordering::Acquire);
        let cached_head = h.consumer.head.load(Ordering::Acquire);
        Ok(Producer {
            ring,
            tail,
            cached_head,
            policy,
            wait,
            stop: None,
        })
    }

    /// A flag that, once set, makes blocking calls return [`Push::Stopped`].
    pub fn with_stop_flag(mut self, stop: Arc<AtomicBool>) -> Self {
        self.stop = Some(stop);
        self
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> usize {
        self.ring.capacity as usize
    }

    /// Messages published so far over the segment's life.
    pub fn published(&self) -> u64 {
        self.tail
    }

    /// Free slots, refreshing the cached consumer index only when it shows fewer than `want`.
    fn free(&mut self, want: u64) -> u64 {
        self.check();
        let mut free = self.ring.capacity - (self.tail - self.cached_head);
        if free < want {
            self.cached_head = self.ring.header().consumer.head.load(Ordering::Acquire);
            self.check();
            free = self.ring.capacity - (self.tail - self.cached_head);
        }
        free
    }

    /// head <= tail <= head + capacity, as this producer sees them.
    #[inline]
    fn check(&self) {
        debug_assert!(
            self.cached_head <= self.tail && self.tail - self.cached_head <= self.ring.capacity,
            "producer sees head {} tail {} capacity {}",
            self.cached_head,
            self.tail,
            self.ring.capacity
        );
    }

    /// Up to `want` contiguous free slots to fill, then [`publish`](Self::publish).
    /// Shorter than `want` when the ring is nearly full or wraps; empty when full.
    pub fn write_slots(&mut self, want: usize) -> &mut [T] {
        let free = self.free(want as u64);
        let (ptr, run) = self.ring.run_from(self.tail);
        let n = (want as u64).min(free).min(run) as usize;
        debug_assert!(self.tail + n as u64 <= self.cached_head + self.ring.capacity);
        // SAFETY: slots [tail, tail + n) are free (the consumer committed
        // past them) and contiguous; only this producer writes them until
        // they are published, and &mut self keeps us from handing them out twice.
        unsafe { std::slice::from_raw_parts_mut(ptr, n) }
    }

    /// Publishes the next `n` written slots with one release store.
    ///
    /// Panics if `n` exceeds the free space last seen: that would expose unwritten slots.
    pub fn publish(&mut self, n: usize) {
        let n = n as u64;
        assert!(
            n <= self.ring.capacity - (self.tail - self.cached_head),
            "publish({n}) beyond the free slots"
        );
        if n == 0 {
            return;
        }
        self.tail += n;
        self.check();
        let h = self.ring.header();
        h.producer.tail.store(self.tail, Ordering::Release);
        wake_if_sleeping(&h.consumer_sleep.waiting, &h.consumer_sleep.wake);
    }

    /// Publishes one message if there is room.
    #[inline]
    pub fn try_push(&mut self, msg: &T) -> bool {
        let slots = self.write_slots(1);
        match slots.first_mut() {
            Some(slot) => {
                *slot = *msg;
                self.publish(1);
                true
            }
            None => false,
        }
    }

    /// Publishes as many of `msgs` as fit, in order, with one publish. Never waits.
    pub fn push_slice(&mut self, msgs: &[T]) -> usize {
        let mut done = 0;
        // At most two runs: up to the ring's end, then from its start.
        for _ in 0..2 {
            if done == msgs.len() {
                break;
            }
            let slots = self.write_slots(msgs.len() - done);
            let n = slots.len();
            slots.copy_from_slice(&msgs[done..done + n]);
            // Advance locally; publish both runs at once below.
            self.tail += n as u64;
            done += n;
        }
        self.tail -= done as u64;
        self.publish(done);
        done
    }

    /// Publishes one message, applying the full-queue policy when the ring is full.
    pub fn push(&mut self, msg: &T) -> Push {
        loop {
            if self.try_push(msg) {
                return Push::Sent;
            }
            match self.policy {
                FullPolicy::DropNewest => {
                    let d = &self.ring.header().producer.dropped;
                    d.store(d.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                    return Push::Dropped;
                }
                FullPolicy::Block => {
                    if self.wait_for_space(1, None) == WaitOutcome::Stopped {
                        return Push::Stopped;
                    }
                }
            }
        }
    }

    /// Publishes all of `msgs`, waiting for space as needed (backpressure).
    pub fn push_all(&mut self, msgs: &[T]) -> Push {
        let mut done = 0;
        while done < msgs.len() {
            done += self.push_slice(&msgs[done..]);
            if done < msgs.len() && self.wait_for_space(1, None) == WaitOutcome::Stopped {
                return Push::Stopped;
            }
        }
        Push::Sent
    }

    /// Waits until at least `n` slots are free.
    pub fn wait_for_space(&mut self, n: usize, timeout: Option<Duration>) -> WaitOutcome {
        let ring = &self.ring;
        let h = ring.header();
        let tail = self.tail;
        let cached = &mut self.cached_head;
        let words = SleepWords {
            waiting: &h.producer_sleep.waiting,
            wake: &h.producer_sleep.wake,
            sleeps: &h.producer_sleep.sleeps,
            heartbeat: &h.producer.heartbeat_ns,
        };
        wait_until(self.wait, &words, self.stop.as_deref(), timeout, || {
            *cached = h.consumer.head.load(Ordering::Acquire);
            ring.capacity - (tail - *cached) >= n as u64
        })
    }

    /// The last message published, which no one can overwrite but us: a
    /// restarted stage reads it to learn where its output stopped.
    pub fn last_published(&self) -> Option<T> {
        if self.tail == 0 {
            return None;
        }
        let (ptr, _) = self.ring.run_from(self.tail - 1);
        // SAFETY: slot tail-1 was fully written before it was published and
        // only this producer writes slots, never ones below tail.
        Some(unsafe { ptr.read() })
    }

    /// Messages dropped under the drop-newest policy, over the segment's life.
    pub fn dropped(&self) -> u64 {
        self.ring.header().producer.dropped.load(Ordering::Relaxed)
    }

    /// Publishes liveness. Call every few milliseconds of work; waits beat on their own.
    pub fn beat(&self) {
        self.ring
            .header()
            .producer
            .heartbeat_ns
            .store(monotonic_ns(), Ordering::Relaxed);
    }
}

impl<T: Message> Drop for Producer<T> {
    fn drop(&mut self) {
        release_role(&self.ring.header().producer.pid);
    }
}
