//! State segments: a stage's own words that outlive its process, so a
//! restarted stage continues from the state its predecessor left. One
//! writer at a time (the producer role); pages are faulted in on first use,
//! so a large, mostly untouched state costs only what it uses.

use std::mem::size_of;

use bytemuck::{Pod, Zeroable};

use crate::error::{QueueError, Result};
use crate::layout::Message;
use crate::ring::{Ring, Use};
use crate::segment::{claim_role, create, release_role};

/// The slot of a state segment: one word.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(transparent)]
pub struct StateWord(pub u64);

impl Message for StateWord {
    const NAME: &'static str = "StateWord";
    const VERSION: u32 = 1;
}

/// A stage's state of `len` words in shared memory, held by this process alone.
pub struct StateSegment {
    ring: Ring<StateWord>,
    len: usize,
}

impl StateSegment {
    /// Attaches to `name` as its one writer, creating it (all zero) if it
    /// does not exist. Returns the segment and whether it was created.
    pub fn open_or_create(name: &str, len: usize) -> Result<(Self, bool)> {
        let slots = len.max(2).next_power_of_two();
        let created = match create::<StateWord>(name, slots) {
            Ok(_) => true,
            Err(QueueError::AlreadyExists(_)) => false,
            Err(e) => return Err(e),
        };
        let ring = Ring::<StateWord>::open_as(name, true, Use::LazyWords)?;
        if (ring.capacity as usize) < len {
            return Err(QueueError::BadParameter(format!(
                "state segment {name} holds {} words, {len} are needed",
                ring.capacity
            )));
        }
        claim_role(&ring.header().producer.pid, name, "state writer")?;
        Ok((StateSegment { ring, len }, created))
    }

    /// The state's words.
    #[inline]
    pub fn words(&mut self) -> &mut [u64] {
        let (first, run) = self.ring.run_from(0);
        debug_assert!(run as usize >= self.len);
        // SAFETY: slot 0 starts the validated ring of `capacity` >= len
        // words (checked at open), aligned to 8. This process holds the
        // writer role, so no other process writes them, and `&mut self`
        // makes this the only reference here. StateWord is a transparent
        // u64. The slice borrows self, whose mapping outlives it.
        unsafe { std::slice::from_raw_parts_mut(first as *mut u64, self.len) }
    }
}

impl Drop for StateSegment {
    fn drop(&mut self) {
        release_role(&self.ring.header().producer.pid);
    }
}

const _: () = assert!(size_of::<StateWord>() == 8);
