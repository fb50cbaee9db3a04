//! A validated mapping of a segment whose slots hold `T`: the header checks
//! (magic, version, layout hash, geometry), slot addressing, and the role
//! words that say which process holds each end. Queues and boards both
//! stand on it.

use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{QueueError, Result};
use crate::header::{
    ring_offset, segment_len, Header, HEADER_SIZE, LAYOUT_VERSION, MAGIC, STATE_READY,
    TYPE_NAME_MAX,
};
use crate::layout::Message;
use crate::segment::Segment;

/// Largest ring we accept: 2^32 slots.
const MAX_CAPACITY: u64 = 1 << 32;

pub(crate) fn valid_capacity(cap: u64) -> bool {
    cap.is_power_of_two() && (2..=MAX_CAPACITY).contains(&cap)
}

/// What a segment's header says about its slots, after validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotLayout {
    /// Message type name.
    pub type_name: String,
    /// Message type version.
    pub type_version: u32,
    /// Bytes per slot.
    pub slot_size: u32,
    /// Slot alignment.
    pub slot_align: u32,
    /// Hash of the type's name, version, size, alignment and field offsets.
    pub type_hash: u64,
    /// Slots in the ring.
    pub capacity: u64,
}

impl SlotLayout {
    pub(crate) fn of<T: Message>(capacity: u64) -> Self {
        SlotLayout {
            type_name: T::NAME.to_owned(),
            type_version: T::VERSION,
            slot_size: size_of::<T>() as u32,
            slot_align: align_of::<T>() as u32,
            type_hash: T::LAYOUT_HASH,
            capacity,
        }
    }

    pub(crate) fn same_type(&self, other: &SlotLayout) -> bool {
        self.type_name == other.type_name
            && self.type_version == other.type_version
            && self.slot_size == other.slot_size
            && self.slot_align == other.slot_align
            && self.type_hash == other.type_hash
    }
}

impl std::fmt::Display for SlotLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` v{} ({} bytes, align {}, layout hash {:#018x})",
            self.type_name, self.type_version, self.slot_size, self.slot_align, self.type_hash
        )
    }
}

pub(crate) fn header(seg: &Segment) -> &Header {
    // SAFETY: every Segment we hold was checked to be at least HEADER_SIZE
    // bytes; the mapping is page-aligned (>= Header's 128-byte alignment);
    // Header is integers and atomics, valid for any bit pattern.
    unsafe { &*(seg.as_ptr() as *const Header) }
}

/// Checks magic, version and geometry against the mapping's real size.
pub(crate) fn validate(seg: &Segment) -> Result<SlotLayout> {
    let name = seg.name();
    let foreign = |reason: String| QueueError::Foreign {
        name: name.to_owned(),
        reason,
    };
    let id = &header(seg).id;
    // Acquire pairs with the creator's release: every field below is final.
    let state = id.state.load(Ordering::Acquire);
    if id.magic != MAGIC {
        return Err(foreign(format!(
            "magic {:#018x}, expected {MAGIC:#018x}",
            id.magic
        )));
    }
    if state != STATE_READY {
        return Err(foreign(
            "header never finished initialising (creator died while creating it)".into(),
        ));
    }
    if id.layout_version != LAYOUT_VERSION {
        return Err(foreign(format!(
            "header layout version {}, this build speaks {LAYOUT_VERSION}",
            id.layout_version
        )));
    }
    let cap = id.capacity;
    if !valid_capacity(cap) {
        return Err(foreign(format!(
            "capacity {cap} is not a power of two in 2..=2^32"
        )));
    }
    if id.slot_size == 0 || !id.slot_align.is_power_of_two() {
        return Err(foreign(format!(
            "slot size {} / align {} impossible",
            id.slot_size, id.slot_align
        )));
    }
    if id.ring_offset != ring_offset(id.slot_align as usize) as u64 {
        return Err(foreign(format!("ring offset {} is wrong", id.ring_offset)));
    }
    let need = segment_len(cap, id.slot_size as usize, id.slot_align as usize)
        .ok_or_else(|| foreign("ring size overflows".into()))?;
    if seg.len() < need {
        return Err(QueueError::Truncated {
            name: name.to_owned(),
            len: seg.len(),
            need,
        });
    }
    let name_len = (id.type_name_len as usize).min(TYPE_NAME_MAX);
    Ok(SlotLayout {
        type_name: String::from_utf8_lossy(&id.type_name[..name_len]).into_owned(),
        type_version: id.type_version,
        slot_size: id.slot_size,
        slot_align: id.slot_align,
        type_hash: id.type_hash,
        capacity: cap,
    })
}

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

/// Most compare-and-swap attempts on a role word: each failure means another
/// process changed the word in between, so this many means a fight, not bad luck.
const CLAIM_ATTEMPTS: u32 = 1_000;

/// Claims a role word for this process; a dead holder's claim is taken over.
pub(crate) fn claim_role(word: &AtomicU32, name: &str, role: &'static str) -> Result<()> {
    let me = std::process::id();
    for _ in 0..CLAIM_ATTEMPTS {
        let cur = word.load(Ordering::Acquire);
        if cur != 0 && (cur == me || process_alive(cur)) {
            return Err(QueueError::RoleTaken {
                name: name.to_owned(),
                role,
                pid: cur,
            });
        }
        if word
            .compare_exchange(cur, me, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return Ok(());
        }
    }
    Err(QueueError::RoleContended {
        name: name.to_owned(),
        role,
        attempts: CLAIM_ATTEMPTS,
    })
}

pub(crate) fn release_role(word: &AtomicU32) {
    let _ = word.compare_exchange(std::process::id(), 0, Ordering::AcqRel, Ordering::Relaxed);
}

/// True if `pid` names a running (not zombie) process.
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // State is the first field after the parenthesised command name.
        Ok(stat) => match stat.rfind(')') {
            Some(i) => !matches!(stat[i + 1..].trim_start().chars().next(), Some('Z' | 'X')),
            None => true,
        },
        Err(_) => false,
    }
}

/// The single writer of a board or counters segment (the producer role):
/// pid, liveness and last sign of life.
pub(crate) fn writer_status(h: &Header) -> Option<crate::queue::PeerStatus> {
    let pid = h.producer.pid.load(Ordering::Acquire);
    (pid != 0).then(|| crate::queue::PeerStatus {
        pid,
        alive: process_alive(pid),
        heartbeat_ns: h.producer.heartbeat_ns.load(Ordering::Relaxed),
        sleeping: false,
    })
}
