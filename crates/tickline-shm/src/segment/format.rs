//! The segment format's checks: what a header says about its slots
//! ([`SlotLayout`]), and validating one (magic, version, layout hash,
//! geometry against the mapping's real size).

use std::mem::{align_of, size_of};
use std::sync::atomic::Ordering;

use super::header::{
    ring_offset, segment_len, Header, LAYOUT_VERSION, MAGIC, STATE_READY, TYPE_NAME_MAX,
};
use super::mapping::Segment;
use crate::error::{QueueError, Result};
use crate::layout::Message;

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
