//! A read-only view of any segment: its layout, indices and both ends,
//! and copies of published messages, without taking a role.

use std::mem::{align_of, size_of};
use std::sync::atomic::{AtomicU32, Ordering};

use super::format::{header, validate, SlotLayout};
use super::header::{ring_offset, HEADER_SIZE};
use super::mapping::Segment;
use super::peer::{process_alive, PeerStatus};
use crate::error::{QueueError, Result};
use crate::layout::Message;

/// A snapshot of a queue's state, for supervisors and CLIs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueStatus {
    /// The segment's name.
    pub name: String,
    /// What its slots hold.
    pub layout: SlotLayout,
    /// Messages committed by the consumer, ever.
    pub head: u64,
    /// Messages published by the producer, ever.
    pub tail: u64,
    /// Messages dropped under drop-newest, ever.
    pub dropped: u64,
    /// The producer, if one is attached.
    pub producer: Option<PeerStatus>,
    /// The consumer, if one is attached.
    pub consumer: Option<PeerStatus>,
    /// Futex sleeps and wake-ups of the consumer (waiting for messages).
    pub consumer_sleeps: SleepCounts,
    /// Futex sleeps and wake-ups of the producer (waiting for space).
    pub producer_sleeps: SleepCounts,
}

/// How often one side of a queue slept on its futex and was woken, ever
/// (32-bit counters that wrap: compare two readings with `wrapping_sub`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SleepCounts {
    /// Sleeps begun.
    pub sleeps: u32,
    /// Wake-ups the other side issued.
    pub wakeups: u32,
}

impl QueueStatus {
    /// Messages published and not yet committed.
    pub fn depth(&self) -> u64 {
        self.tail.saturating_sub(self.head)
    }
}

/// A handle that reads a queue's header without taking a role or knowing `T`.
pub struct QueueView {
    pub(super) seg: Segment,
    pub(super) layout: SlotLayout,
}

impl QueueView {
    /// Maps a segment read-only and validates its header.
    pub fn open(name: &str) -> Result<Self> {
        let seg = Segment::open(name, false, HEADER_SIZE, false)?;
        let layout = validate(&seg)?;
        Ok(QueueView { seg, layout })
    }

    /// The segment's name.
    pub fn name(&self) -> &str {
        self.seg.name()
    }

    /// What its slots hold.
    pub fn layout(&self) -> &SlotLayout {
        &self.layout
    }

    /// A copy of message number `index` (counted from the first ever
    /// published), read without a role: the consumer is not disturbed and
    /// nothing is committed. Refuses a `T` other than the segment's type.
    ///
    /// None if it is not published yet, or if its slot may have been
    /// reused. A slot is reused only after the consumer committed it, by a
    /// producer at most one batch ahead of its published count; so a copy
    /// is certain if the message was still uncommitted after the copy, or
    /// within the newest half of the ring (for producers whose batches are
    /// under half a ring, as every stage's are: they publish one by one).
    pub fn peek<T: Message>(&self, index: u64) -> Result<Option<T>> {
        let expected = SlotLayout::of::<T>(self.layout.capacity);
        if !self.layout.same_type(&expected) {
            return Err(QueueError::TypeMismatch {
                name: self.seg.name().to_owned(),
                found: self.layout.to_string(),
                expected: expected.to_string(),
            });
        }
        let h = header(&self.seg);
        let cap = self.layout.capacity;
        let intact =
            |head: u64, tail: u64| index < tail && (index >= head || index + cap / 2 > tail);
        let now = || {
            let head = h.consumer.head.load(Ordering::Acquire);
            (head, h.producer.tail.load(Ordering::Acquire))
        };
        let (head, tail) = now();
        if !intact(head, tail) {
            return Ok(None);
        }
        let offset = ring_offset(align_of::<T>()) + (index % cap) as usize * size_of::<T>();
        debug_assert!(offset + size_of::<T>() <= self.seg.len());
        // SAFETY: validate() checked at open that the segment holds the
        // header and `capacity` slots of this layout, and `offset` addresses
        // slot `index % cap` of it, aligned for T (page-aligned base, aligned
        // ring offset, slot size a multiple of the alignment). T is Pod, so
        // any bytes are a valid T; a copy torn by a producer reusing the slot
        // is detected below and thrown away.
        let msg = unsafe { std::ptr::read_volatile(self.seg.as_ptr().add(offset) as *const T) };
        std::sync::atomic::fence(Ordering::Acquire);
        // Its slot was not reused while it was copied.
        let (head, tail) = now();
        Ok(intact(head, tail).then_some(msg))
    }

    /// The consumer's futex sleeps and wake-ups, read now (a few loads:
    /// what a sampler reads every millisecond, unlike [`Self::status`]).
    pub fn consumer_sleeps(&self) -> SleepCounts {
        let h = header(&self.seg);
        SleepCounts {
            sleeps: h.consumer_sleep.sleeps.load(Ordering::Relaxed),
            wakeups: h.consumer_sleep.wake.load(Ordering::Relaxed),
        }
    }

    /// Indices, drops and both ends, read now.
    pub fn status(&self) -> QueueStatus {
        let h = header(&self.seg);
        let peer = |pid: &AtomicU32, hb: &std::sync::atomic::AtomicU64, sleep: &AtomicU32| {
            let pid = pid.load(Ordering::Acquire);
            (pid != 0).then(|| PeerStatus {
                pid,
                alive: process_alive(pid),
                heartbeat_ns: hb.load(Ordering::Relaxed),
                sleeping: sleep.load(Ordering::Relaxed) != 0,
            })
        };
        QueueStatus {
            name: self.seg.name().to_owned(),
            layout: self.layout.clone(),
            head: h.consumer.head.load(Ordering::Acquire),
            tail: h.producer.tail.load(Ordering::Acquire),
            dropped: h.producer.dropped.load(Ordering::Relaxed),
            producer: peer(
                &h.producer.pid,
                &h.producer.heartbeat_ns,
                &h.producer_sleep.waiting,
            ),
            consumer: peer(
                &h.consumer.pid,
                &h.consumer.heartbeat_ns,
                &h.consumer_sleep.waiting,
            ),
            consumer_sleeps: SleepCounts {
                sleeps: h.consumer_sleep.sleeps.load(Ordering::Relaxed),
                wakeups: h.consumer_sleep.wake.load(Ordering::Relaxed),
            },
            producer_sleeps: SleepCounts {
                sleeps: h.producer_sleep.sleeps.load(Ordering::Relaxed),
                wakeups: h.producer_sleep.wake.load(Ordering::Relaxed),
            },
        }
    }
}
