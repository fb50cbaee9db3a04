//! Message layout identity: what a segment's header promises about its slots.

use bytemuck::Pod;

/// A message that may travel through a shared-memory queue.
///
/// `NAME`, `VERSION` and `FIELDS` feed [`Message::LAYOUT_HASH`], which every
/// segment stores so that a process built against another layout (a field
/// moved, a type renamed, a schema bump) is refused instead of misreading bytes.
pub trait Message: Pod + Send {
    /// Stable name of the type, as written in errors and headers.
    const NAME: &'static str;
    /// Schema version: bump it whenever the meaning of a field changes.
    const VERSION: u32;
    /// Field names with their byte offsets; empty for opaque payloads.
    const FIELDS: &'static [(&'static str, usize)] = &[];
    /// Hash of name, size, alignment, version and field offsets.
    const LAYOUT_HASH: u64 = layout_hash(
        Self::NAME,
        core::mem::size_of::<Self>(),
        core::mem::align_of::<Self>(),
        Self::VERSION,
        Self::FIELDS,
    );
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

const fn fnv_bytes(mut h: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    h
}

const fn fnv_u64(h: u64, v: u64) -> u64 {
    fnv_bytes(h, &v.to_le_bytes())
}

/// FNV-1a over everything that defines a message's layout.
pub const fn layout_hash(
    name: &str,
    size: usize,
    align: usize,
    version: u32,
    fields: &[(&str, usize)],
) -> u64 {
    let mut h = fnv_bytes(FNV_OFFSET, name.as_bytes());
    h = fnv_u64(h, size as u64);
    h = fnv_u64(h, align as u64);
    h = fnv_u64(h, version as u64);
    let mut i = 0;
    while i < fields.len() {
        h = fnv_bytes(h, fields[i].0.as_bytes());
        h = fnv_u64(h, fields[i].1 as u64);
        i += 1;
    }
    h
}

/// Implements [`Message`] for a `#[repr(C)]` struct, listing its fields so the
/// layout hash changes when any of them moves.
#[macro_export]
macro_rules! impl_message {
    ($ty:ty, name = $name:literal, version = $version:expr, fields = [$($field:ident),* $(,)?]) => {
        impl $crate::Message for $ty {
            const NAME: &'static str = $name;
            const VERSION: u32 = $version;
            const FIELDS: &'static [(&'static str, usize)] =
                &[$((stringify!($field), core::mem::offset_of!($ty, $field))),*];
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_depends_on_every_part() {
        let base = layout_hash("T", 8, 8, 1, &[("a", 0)]);
        assert_ne!(base, layout_hash("U", 8, 8, 1, &[("a", 0)]));
        assert_ne!(base, layout_hash("T", 16, 8, 1, &[("a", 0)]));
        assert_ne!(base, layout_hash("T", 8, 4, 1, &[("a", 0)]));
        assert_ne!(base, layout_hash("T", 8, 8, 2, &[("a", 0)]));
        assert_ne!(base, layout_hash("T", 8, 8, 1, &[("b", 0)]));
        assert_ne!(base, layout_hash("T", 8, 8, 1, &[("a", 4)]));
        assert_eq!(base, layout_hash("T", 8, 8, 1, &[("a", 0)]));
    }
}
