//! The segment header: identity, then one cache line per writer.

use std::mem::{align_of, size_of};
use std::sync::atomic::{AtomicU32, AtomicU64};

/// "TICKLNQ1" little-endian: tells our segments from anything else in /dev/shm.
pub const MAGIC: u64 = u64::from_le_bytes(*b"TICKLNQ1");
/// Version of this header layout and the index protocol.
pub const LAYOUT_VERSION: u32 = 2;
/// Bytes of a cache line pair: adjacent-line prefetch makes 64 too small.
pub const LINE: usize = 128;
pub(crate) const TYPE_NAME_MAX: usize = 48;

pub(crate) const STATE_READY: u32 = 0x5245_4459; // "READ"-ish, not a small integer

/// Immutable after creation, except `state` which publishes it.
#[repr(C, align(128))]
pub(crate) struct Identity {
    pub magic: u64,
    pub layout_version: u32,
    /// Set last, with release, once every other identity field is written.
    pub state: AtomicU32,
    pub capacity: u64,
    pub slot_size: u32,
    pub slot_align: u32,
    pub type_hash: u64,
    pub type_version: u32,
    pub type_name_len: u32,
    pub type_name: [u8; TYPE_NAME_MAX],
    pub ring_offset: u64,
    pub created_unix_ns: u64,
}

/// Written by the producer only.
#[repr(C, align(128))]
pub(crate) struct ProducerLine {
    /// Count of messages published; slot = tail & mask.
    pub tail: AtomicU64,
    pub pid: AtomicU32,
    pub _pad: u32,
    pub heartbeat_ns: AtomicU64,
    /// Messages dropped by the drop-newest full-queue policy.
    pub dropped: AtomicU64,
}

/// Written by the consumer only.
#[repr(C, align(128))]
pub(crate) struct ConsumerLine {
    /// Count of messages committed; the producer may reuse their slots.
    pub head: AtomicU64,
    pub pid: AtomicU32,
    pub _pad: u32,
    pub heartbeat_ns: AtomicU64,
}

/// Sleep words of one side. Its own line: the waker reads `waiting` on every
/// publish, and that read stays a cache hit until the sleeper actually sleeps.
#[repr(C, align(128))]
pub(crate) struct SleepLine {
    pub waiting: AtomicU32,
    /// Futex word, bumped by the waker: wake-ups issued, ever (wraps).
    pub wake: AtomicU32,
    /// Futex sleeps this side began, ever (wraps): with `wake`, what a
    /// supervisor reads to tell a stall on a wake-up from one on the CPU.
    pub sleeps: AtomicU32,
}

#[repr(C)]
pub(crate) struct Header {
    pub id: Identity,
    pub producer: ProducerLine,
    pub consumer: ConsumerLine,
    pub consumer_sleep: SleepLine,
    pub producer_sleep: SleepLine,
}

/// Bytes of the header before the ring.
pub const HEADER_SIZE: usize = size_of::<Header>();

const _: () = {
    assert!(size_of::<Identity>() == LINE);
    assert!(size_of::<ProducerLine>() == LINE);
    assert!(size_of::<ConsumerLine>() == LINE);
    assert!(size_of::<SleepLine>() == LINE);
    assert!(HEADER_SIZE == 5 * LINE);
    assert!(align_of::<Header>() == LINE);
};

/// Where the ring starts for a slot alignment: after the header, aligned.
pub(crate) const fn ring_offset(slot_align: usize) -> usize {
    let a = if slot_align > LINE { slot_align } else { LINE };
    HEADER_SIZE.div_ceil(a) * a
}

/// Total segment bytes for a ring, or None on overflow.
pub(crate) fn segment_len(capacity: u64, slot_size: usize, slot_align: usize) -> Option<usize> {
    let ring = usize::try_from(capacity).ok()?.checked_mul(slot_size)?;
    ring_offset(slot_align).checked_add(ring)
}
