//! Creating a segment: the header written while no one can open it, then
//! published ready with one release store; and reclaiming a crashed run's
//! leftover of the same name.

use std::mem::{align_of, size_of};
use std::ptr::addr_of_mut;
use std::sync::atomic::Ordering;

use super::format::{header, valid_capacity, validate};
use super::header::{
    ring_offset, segment_len, Header, LAYOUT_VERSION, MAGIC, STATE_READY, TYPE_NAME_MAX,
};
use super::mapping::{unlink, Segment};
use super::view::QueueView;
use crate::error::{QueueError, Result};
use crate::layout::Message;

/// Creates a segment for a ring of `capacity` (a power of two) slots of `T`,
/// mode 0600. Fails with [`QueueError::AlreadyExists`] if the name is taken.
pub fn create<T: Message>(name: &str, capacity: usize) -> Result<QueueView> {
    let cap = capacity as u64;
    if !valid_capacity(cap) {
        return Err(QueueError::BadParameter(format!(
            "capacity {capacity} must be a power of two in 2..=2^32"
        )));
    }
    if T::NAME.len() > TYPE_NAME_MAX || size_of::<T>() == 0 {
        return Err(QueueError::BadParameter(format!(
            "message type `{}` needs a name of at most {TYPE_NAME_MAX} bytes and a non-zero size",
            T::NAME
        )));
    }
    let len = segment_len(cap, size_of::<T>(), align_of::<T>())
        .ok_or_else(|| QueueError::BadParameter(format!("capacity {capacity} too large")))?;
    let seg = Segment::create(name, len)?;
    let h = seg.as_ptr() as *mut Header;
    let mut type_name = [0u8; TYPE_NAME_MAX];
    type_name[..T::NAME.len()].copy_from_slice(T::NAME.as_bytes());
    let created_unix_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    // SAFETY: we created the segment exclusively (O_EXCL) and no one can open
    // it as a queue until `state` is published below; fields are plain data
    // in a mapping of at least HEADER_SIZE bytes, zeroed by ftruncate.
    unsafe {
        addr_of_mut!((*h).id.magic).write(MAGIC);
        addr_of_mut!((*h).id.layout_version).write(LAYOUT_VERSION);
        addr_of_mut!((*h).id.capacity).write(cap);
        addr_of_mut!((*h).id.slot_size).write(size_of::<T>() as u32);
        addr_of_mut!((*h).id.slot_align).write(align_of::<T>() as u32);
        addr_of_mut!((*h).id.type_hash).write(T::LAYOUT_HASH);
        addr_of_mut!((*h).id.type_version).write(T::VERSION);
        addr_of_mut!((*h).id.type_name_len).write(T::NAME.len() as u32);
        addr_of_mut!((*h).id.type_name).write(type_name);
        addr_of_mut!((*h).id.ring_offset).write(ring_offset(align_of::<T>()) as u64);
        addr_of_mut!((*h).id.created_unix_ns).write(created_unix_ns);
    }
    header(&seg).id.state.store(STATE_READY, Ordering::Release);
    let layout = validate(&seg)?;
    Ok(QueueView { seg, layout })
}

/// Like [`create`], but a leftover segment of the same name from a crashed
/// run is removed first, unless a live process is still attached to it.
/// Returns what was reclaimed, for the caller to report.
pub fn create_or_reclaim<T: Message>(
    name: &str,
    capacity: usize,
) -> Result<(QueueView, Option<String>)> {
    match create::<T>(name, capacity) {
        Err(QueueError::AlreadyExists(_)) => {}
        other => return other.map(|v| (v, None)),
    }
    let reason = match QueueView::open(name) {
        Ok(view) => {
            let st = view.status();
            for (role, peer) in [("producer", &st.producer), ("consumer", &st.consumer)] {
                if let Some(p) = peer.as_ref().filter(|p| p.alive) {
                    return Err(QueueError::RoleTaken {
                        name: name.to_owned(),
                        role,
                        pid: p.pid,
                    });
                }
            }
            format!(
                "stale queue of {} with {} unread messages, no live process attached",
                st.layout,
                st.depth()
            )
        }
        Err(e @ QueueError::ForeignOwner { .. }) => return Err(e),
        Err(e) => format!("unusable segment ({e})"),
    };
    unlink(name)?;
    create::<T>(name, capacity).map(|v| (v, Some(reason)))
}
