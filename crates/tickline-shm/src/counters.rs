//! Live counters: a segment of `u64` words that one process updates in place
//! and any number of processes read, word by word, without locks. A stage's
//! latency histograms live here as bucket counts, so publishing them costs
//! the stage nothing: there is no snapshot to copy or serialise.
//!
//! Each word is read and written whole (atomically); a reader's pass over
//! many words is not one instant, which suits monotonic counters: a later
//! pass never shows a smaller count.

use std::mem::{align_of, size_of};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{QueueError, Result};
use crate::layout::Message;
use crate::ring::{Ring, Use};
use crate::segment::{claim_role, create, release_role, writer_status, PeerStatus, QueueView};

/// Creates a counters segment for `T` (a struct of `u64` words), all zero, mode 0600.
pub fn create_counters<T: Message>(name: &str) -> Result<QueueView> {
    check_words::<T>()?;
    create::<T>(name, 2)
}

fn check_words<T>() -> Result<()> {
    if !size_of::<T>().is_multiple_of(8) || align_of::<T>() < 8 {
        return Err(QueueError::BadParameter(format!(
            "{} is not a struct of u64 words ({} bytes, align {})",
            std::any::type_name::<T>(),
            size_of::<T>(),
            align_of::<T>()
        )));
    }
    Ok(())
}

fn words<T: Message>(ring: &Ring<T>) -> &[AtomicU64] {
    let (slot, _) = ring.run_from(0);
    // SAFETY: slot 0 lies in the validated mapping and holds size_of::<T>()
    // bytes; check_words made that a whole number of 8-byte words, aligned
    // to at least 8. AtomicU64 has u64's size and alignment, and every
    // process touches these words only through atomics. The slice borrows
    // `ring`, whose mapping lives as long as it.
    unsafe { std::slice::from_raw_parts(slot as *const AtomicU64, size_of::<T>() / 8) }
}

/// The one process that updates a counters segment (it holds the producer role).
pub struct CountersWriter<T: Message> {
    ring: Ring<T>,
}

impl<T: Message> CountersWriter<T> {
    /// Attaches as the segment's one writer.
    pub fn attach(name: &str) -> Result<Self> {
        check_words::<T>()?;
        let ring = Ring::open_as(name, true, Use::Words)?;
        claim_role(&ring.header().producer.pid, name, "counters writer")?;
        Ok(CountersWriter { ring })
    }

    /// The words, to update with relaxed loads and stores (one writer: no
    /// read-modify-write needed).
    #[inline]
    pub fn words(&self) -> &[AtomicU64] {
        words(&self.ring)
    }
}

impl<T: Message> Drop for CountersWriter<T> {
    fn drop(&mut self) {
        release_role(&self.ring.header().producer.pid);
    }
}

/// A read-only view of a counters segment.
pub struct CountersReader<T: Message> {
    ring: Ring<T>,
}

impl<T: Message> CountersReader<T> {
    /// Maps the segment read-only; refuses other types.
    pub fn open(name: &str) -> Result<Self> {
        check_words::<T>()?;
        Ok(CountersReader {
            ring: Ring::open_as(name, false, Use::Words)?,
        })
    }

    /// The words, to read with relaxed loads.
    #[inline]
    pub fn words(&self) -> &[AtomicU64] {
        words(&self.ring)
    }

    /// Copies every word out (one pass; see the module doc).
    pub fn copy_into(&self, out: &mut [u64]) {
        debug_assert_eq!(out.len(), size_of::<T>() / 8);
        for (o, w) in out.iter_mut().zip(self.words()) {
            *o = w.load(Ordering::Relaxed);
        }
    }

    /// The writer's pid, liveness and last sign of life.
    pub fn writer(&self) -> Option<PeerStatus> {
        writer_status(self.ring.header())
    }
}
