//! A validated mapping of a segment whose slots hold `T`, and slot
//! addressing: what a queue's ends, a board's writer and reader, counters
//! and state segments each hold.

use std::marker::PhantomData;
use std::mem::align_of;
use std::sync::atomic::Ordering;

use crate::error::{QueueError, Result};
use crate::layout::Message;
use crate::segment::{header, ring_offset, validate, Header, Segment, SlotLayout, HEADER_SIZE};

/// What a mapping is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Use {
    /// A queue: its indices are checked; every page is faulted in at attach.
    Queue,
    /// Words (a board, counters): every page is faulted in at attach.
    Words,
    /// Words mostly never touched (stage state): pages come on first use.
    LazyWords,
}

/// A validated mapping whose slots hold `T`.
pub(crate) struct Ring<T> {
    pub(crate) seg: Segment,
    slots: *mut T,
    pub(crate) capacity: u64,
    mask: u64,
    _t: PhantomData<T>,
}

// SAFETY: a Ring is owned by one handle (Producer or Consumer) at a time;
// moving that handle to another thread is fine for Send payloads.
unsafe impl<T: Send> Send for Ring<T> {}

impl<T: Message> Ring<T> {
    pub(crate) fn open(name: &str, writable: bool) -> Result<Self> {
        Self::open_as(name, writable, Use::Queue)
    }

    pub(crate) fn open_as(name: &str, writable: bool, usage: Use) -> Result<Self> {
        let populate = usage != Use::LazyWords;
        let seg = Segment::open(name, writable, HEADER_SIZE, populate)?;
        let found = validate(&seg)?;
        let expected = SlotLayout::of::<T>(found.capacity);
        if !found.same_type(&expected) {
            return Err(QueueError::TypeMismatch {
                name: name.to_owned(),
                found: found.to_string(),
                expected: expected.to_string(),
            });
        }
        let h = header(&seg);
        let head = h.consumer.head.load(Ordering::Acquire);
        let tail = h.producer.tail.load(Ordering::Acquire);
        if usage == Use::Queue && (head > tail || tail - head > found.capacity) {
            return Err(QueueError::Foreign {
                name: name.to_owned(),
                reason: format!(
                    "indices corrupt: head {head}, tail {tail}, capacity {}",
                    found.capacity
                ),
            });
        }
        // SAFETY: validate() checked the segment holds ring_offset + capacity
        // slots; ring_offset is a multiple of align_of::<T>() on a page-aligned base.
        let slots = unsafe { seg.as_ptr().add(ring_offset(align_of::<T>())) } as *mut T;
        Ok(Ring {
            seg,
            slots,
            capacity: found.capacity,
            mask: found.capacity - 1,
            _t: PhantomData,
        })
    }

    pub(crate) fn header(&self) -> &Header {
        header(&self.seg)
    }

    /// Slot `pos`, and how many slots follow it before the ring wraps.
    pub(crate) fn run_from(&self, pos: u64) -> (*mut T, u64) {
        let idx = pos & self.mask;
        debug_assert!(idx < self.capacity && self.mask + 1 == self.capacity);
        // SAFETY: idx < capacity, within the validated ring.
        (unsafe { self.slots.add(idx as usize) }, self.capacity - idx)
    }
}
