//! Snapshot boards: one writer publishes whole values (statistics, status)
//! under a seqlock; any number of read-only readers copy them out, without
//! locks and without ever seeing a torn value.

use std::sync::atomic::{fence, Ordering};

use crate::clock::monotonic_ns;
use crate::error::Result;
use crate::layout::Message;
use crate::ring::{Ring, Use};
use crate::segment::{claim_role, create, release_role, writer_status, PeerStatus, QueueView};

/// A snapshot board: one writer publishes whole `T` values (statistics,
/// status) that any number of read-only readers copy out, without locks.
/// It is a segment with the queue header (same validation) and two slots;
/// the producer's index word is the seqlock version (the count published).
pub fn create_board<T: Message>(name: &str) -> Result<QueueView> {
    create::<T>(name, 2)
}

/// The single writer of a board (holds the producer role).
pub struct BoardWriter<T: Message> {
    ring: Ring<T>,
}

impl<T: Message> BoardWriter<T> {
    /// Attaches as the board's one writer.
    pub fn attach(name: &str) -> Result<Self> {
        let ring = Ring::open_as(name, true, Use::Words)?;
        claim_role(&ring.header().producer.pid, name, "board writer")?;
        Ok(BoardWriter { ring })
    }

    /// Publishes `v`: readers see it whole or retry.
    pub fn publish(&mut self, v: &T) {
        let h = self.ring.header();
        let ver = h.producer.tail.load(Ordering::Relaxed);
        // Bump to an odd value first: a reader that overlaps the write sees
        // the version change and retries.
        h.producer.tail.store(ver | 1, Ordering::Relaxed);
        fence(Ordering::Release);
        let (slot, _) = self.ring.run_from(0);
        // SAFETY: slot 0 lies in the validated ring and only this writer (it
        // holds the producer role) stores to it; readers copy it with
        // volatile reads and discard copies the version check rejects.
        unsafe { std::ptr::write_volatile(slot, *v) };
        h.producer
            .tail
            .store((ver | 1).wrapping_add(1), Ordering::Release);
        h.producer
            .heartbeat_ns
            .store(monotonic_ns(), Ordering::Relaxed);
    }
}

impl<T: Message> Drop for BoardWriter<T> {
    fn drop(&mut self) {
        release_role(&self.ring.header().producer.pid);
    }
}

/// A read-only view of a board.
pub struct BoardReader<T: Message> {
    ring: Ring<T>,
}

impl<T: Message> BoardReader<T> {
    /// Maps the board read-only; refuses other message types.
    pub fn open(name: &str) -> Result<Self> {
        Ok(BoardReader {
            ring: Ring::open_as(name, false, Use::Words)?,
        })
    }

    /// The latest value and how many were published; None before the first.
    pub fn read(&self) -> Option<(u64, T)> {
        let h = self.ring.header();
        let (slot, _) = self.ring.run_from(0);
        // Bounded: a writer killed mid-write leaves the version odd.
        for _ in 0..100_000 {
            let v1 = h.producer.tail.load(Ordering::Acquire);
            if v1 == 0 {
                return None;
            }
            if v1 & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            // SAFETY: slot 0 lies in the validated ring; T is Pod, so any
            // bytes form a valid value, and a torn copy is rejected below.
            let copy = unsafe { std::ptr::read_volatile(slot) };
            fence(Ordering::Acquire);
            if h.producer.tail.load(Ordering::Relaxed) == v1 {
                return Some((v1 / 2, copy));
            }
        }
        None
    }

    /// The writer's pid, liveness and last sign of life.
    pub fn writer(&self) -> Option<PeerStatus> {
        writer_status(self.ring.header())
    }
}
