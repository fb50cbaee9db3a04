//! Where the engine's per-instrument state lives, and how one event's
//! update commits.
//!
//! An instrument's state is one block of `u64` words: two copies of its
//! [`Scalars`], the word `cur` that says which copy is current, and rings
//! of window values. An update copies the current scalars into the other
//! copy, writes ring slots no live value uses (see `rolling.rs`), changes
//! the copy, and only then flips `cur`: one aligned store. A process killed
//! at any instruction leaves either the state before the event or the
//! state after it, never a mix. In a store that outlives the process
//! (shared memory), a restarted stage therefore continues from exactly the
//! last event applied, and recognises events it already applied by their
//! sequence number.

use std::error::Error;
use std::sync::atomic::{compiler_fence, Ordering};

use bytemuck::{Pod, Zeroable};
use tickline_schema::BookEvent;

use crate::rolling::{ring_len, RollingSum, TimeWindow, WindowRings};
use crate::N_FEATURES;

/// Bump when the block layout changes.
const STATE_VERSION: u64 = 1;

/// Ring lengths of the count windows.
pub(crate) const W10: usize = 10;
pub(crate) const W100: usize = 100;
/// Carried mids: enough for a return over 100 events.
pub(crate) const MIDS: usize = 101;

/// The part of an instrument's state that is copied and committed per event.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct Scalars {
    /// Events applied; also the push count of every count window.
    pub events: u64,
    /// Sequence number of the last event applied.
    pub last_seq: u64,
    pub ofi1_10: RollingSum,
    pub ofi1_100: RollingSum,
    pub ofi5_100: RollingSum,
    pub r2_100: RollingSum,
    pub signed_100: RollingSum,
    pub volume_100: RollingSum,
    pub last_mid: f64,
    pub has_last_mid: u64,
    /// r^2, signed volume, volume over the last second; level = carried mid.
    pub second: TimeWindow,
    pub last_trade_ns: u64,
    pub has_last_trade: u64,
    /// Running maximum of exchange time (feeds interleave clocks).
    pub clock_ns: u64,
    /// Running digest of every vector computed, for checking a restarted
    /// run against an uninterrupted one.
    pub digest: u64,
}

/// The last event's features (f64, before the f32 of the vector) and
/// defaulted mask: what a restart re-emits if the event was applied but not
/// passed on. Two copies beside the scalars' two, current with them: an
/// update writes the other copy whole, so it is never copied.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct LastOut {
    pub values: [f64; N_FEATURES],
    pub mask: u64,
}

const SCALAR_WORDS: usize = std::mem::size_of::<Scalars>() / 8;
const OUT_WORDS: usize = std::mem::size_of::<LastOut>() / 8;
const EVENT_WORDS: usize = std::mem::size_of::<BookEvent>() / 8;
const _: () = assert!(std::mem::size_of::<Scalars>().is_multiple_of(8));
const _: () = assert!(std::mem::size_of::<LastOut>().is_multiple_of(8));
const _: () = assert!(std::mem::size_of::<BookEvent>().is_multiple_of(8));

/// Words of one instrument's block for a time-window capacity.
pub fn block_words(capacity: usize) -> usize {
    let p = ring_len(capacity.max(2));
    3 + 2 * SCALAR_WORDS
        + 2 * OUT_WORDS
        + 2 * EVENT_WORDS
        + ring_len(W10)
        + 5 * ring_len(W100)
        + ring_len(MIDS)
        + 5 * p
}

/// One instrument's block, split into its parts. Words 0 and 1 (before
/// them) hold the layout tag and the run the block belongs to.
pub(crate) struct Block<'a> {
    /// Which copy of the scalars is current (0 or 1).
    pub cur: &'a mut u64,
    /// The current scalars.
    pub old: &'a Scalars,
    /// The other copy, equal to `old` when split, to change.
    pub new: &'a mut Scalars,
    /// The current last output, and the other copy (to overwrite).
    pub old_out: &'a LastOut,
    pub new_out: &'a mut LastOut,
    /// The event before the last, and the last: slot `events % 2` is next.
    pub prev: &'a mut [BookEvent],
    pub ofi1_10: &'a mut [f64],
    pub ofi1_100: &'a mut [f64],
    pub ofi5_100: &'a mut [f64],
    pub r2_100: &'a mut [f64],
    pub signed_100: &'a mut [f64],
    pub volume_100: &'a mut [f64],
    pub mids: &'a mut [f64],
    pub window: WindowRings<'a>,
}

fn take<'a>(rest: &mut &'a mut [u64], n: usize) -> &'a mut [u64] {
    let (a, b) = std::mem::take(rest).split_at_mut(n);
    *rest = b;
    a
}

impl<'a> Block<'a> {
    /// Splits `words` (exactly [`block_words`]`(capacity)` long), and
    /// begins an update: the other copy of the scalars is made equal to the
    /// current one.
    pub fn split(mut words: &'a mut [u64], capacity: usize) -> Self {
        debug_assert_eq!(words.len(), block_words(capacity));
        let p = ring_len(capacity.max(2));
        let w = &mut words;
        let f64s = |s: &'a mut [u64]| -> &'a mut [f64] { bytemuck::cast_slice_mut(s) };
        // Words 0 and 1: layout tag and run, checked before the split.
        take(w, 2);
        let cur = &mut take(w, 1)[0];
        debug_assert!(*cur <= 1, "cur {cur}");
        let (a, b) = take(w, 2 * SCALAR_WORDS).split_at_mut(SCALAR_WORDS);
        let (a, b): (&mut Scalars, &mut Scalars) = (
            bytemuck::from_bytes_mut(bytemuck::cast_slice_mut(a)),
            bytemuck::from_bytes_mut(bytemuck::cast_slice_mut(b)),
        );
        let (c, d) = take(w, 2 * OUT_WORDS).split_at_mut(OUT_WORDS);
        let (c, d): (&mut LastOut, &mut LastOut) = (
            bytemuck::from_bytes_mut(bytemuck::cast_slice_mut(c)),
            bytemuck::from_bytes_mut(bytemuck::cast_slice_mut(d)),
        );
        let (old, new, old_out, new_out) = if *cur == 0 {
            (&*a, b, &*c, d)
        } else {
            (&*b, a, &*d, c)
        };
        *new = *old;
        Block {
            cur,
            old,
            new,
            old_out,
            new_out,
            prev: bytemuck::cast_slice_mut(take(w, 2 * EVENT_WORDS)),
            ofi1_10: f64s(take(w, ring_len(W10))),
            ofi1_100: f64s(take(w, ring_len(W100))),
            ofi5_100: f64s(take(w, ring_len(W100))),
            r2_100: f64s(take(w, ring_len(W100))),
            signed_100: f64s(take(w, ring_len(W100))),
            volume_100: f64s(take(w, ring_len(W100))),
            mids: f64s(take(w, ring_len(MIDS))),
            window: WindowRings {
                ts: take(w, p),
                vals: bytemuck::cast_slice_mut(take(w, 3 * p)),
                level: f64s(take(w, p)),
            },
        }
    }

    /// Makes the copy changed since [`Block::begin`] current: the event's commit point.
    pub fn commit(&mut self) {
        // Every store of the update is ordered before the flip, so a kill
        // at any point leaves a whole state (stores that ran are never lost
        // when a process dies; only the compiler could reorder them).
        compiler_fence(Ordering::SeqCst);
        *self.cur ^= 1;
        compiler_fence(Ordering::SeqCst);
    }
}

/// The tag of a block layout: state version, feature set, window and tick.
pub(crate) fn layout_tag(capacity: usize, window_ns: u64, tick: i64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for w in [
        STATE_VERSION,
        crate::FEATURE_SET_VERSION as u64,
        N_FEATURES as u64,
        SCALAR_WORDS as u64,
        OUT_WORDS as u64,
        EVENT_WORDS as u64,
        capacity as u64,
        window_ns,
        tick as u64,
    ] {
        h = (h ^ w).wrapping_mul(0x0000_0100_0000_01b3);
        h ^= h >> 29;
    }
    h | 1 // never 0: 0 marks a block not yet used
}

/// Folds a computed vector (its f32 bits, as emitted) into a running
/// digest. For telling runs apart, not against an adversary: one short
/// dependency chain of rotates, one multiply at the end.
pub(crate) fn digest(d: u64, seq: u64, values: &[f64; N_FEATURES], mask: u32) -> u64 {
    let mut h = d ^ seq ^ (mask as u64) << 32;
    for pair in values.chunks_exact(2) {
        let w = (pair[0] as f32).to_bits() as u64 | ((pair[1] as f32).to_bits() as u64) << 32;
        h = (h ^ w).rotate_left(23);
    }
    (h ^ h >> 31).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// What went wrong with an instrument's stored state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The store could not provide the block.
    #[error("feature state of instrument {instrument}: {source}")]
    Store {
        /// Instrument id.
        instrument: u32,
        /// The store's error.
        source: Box<dyn Error + Send + Sync>,
    },
    /// The block was written by an engine of another layout.
    #[error(
        "feature state of instrument {instrument} has layout tag {found:#018x}, this engine \
         needs {expected:#018x}: another build, feature set, tick or window capacity wrote it"
    )]
    Layout {
        /// Instrument id.
        instrument: u32,
        /// Tag in the block.
        found: u64,
        /// Tag this engine writes.
        expected: u64,
    },
    /// The block belongs to another run of the pipeline.
    #[error(
        "feature state of instrument {instrument} belongs to run {found:#x}, not this run \
         {expected:#x}: it is a leftover; remove it"
    )]
    OtherRun {
        /// Instrument id.
        instrument: u32,
        /// Run in the block.
        found: u64,
        /// This run.
        expected: u64,
    },
    /// The block's length is not the layout's.
    #[error("feature state of instrument {instrument} has {len} words, the layout needs {need}")]
    Size {
        /// Instrument id.
        instrument: u32,
        /// Words given.
        len: usize,
        /// Words needed.
        need: usize,
    },
}

/// Where the engine keeps each instrument's block.
pub trait StateStore {
    /// True if blocks outlive the process: an event already applied is then
    /// recognised by its sequence number and not applied again.
    fn persistent(&self) -> bool;

    /// The block of `instrument`, `words` long (all zero when new).
    fn block(
        &mut self,
        instrument: u32,
        words: usize,
    ) -> Result<&mut [u64], Box<dyn Error + Send + Sync>>;

    /// Instruments that have a block, ascending.
    fn instruments(&self) -> Vec<u32>;
}

/// The indices of the filled slots of a per-instrument table, ascending:
/// what a [`StateStore`] answers to `instruments`.
pub fn filled_slots<T>(slots: &[Option<T>]) -> Vec<u32> {
    let held = slots.iter().enumerate();
    held.filter(|(_, s)| s.is_some())
        .map(|(i, _)| i as u32)
        .collect()
}

/// Blocks on the heap: state that lives as long as the engine.
#[derive(Default)]
pub struct HeapStore {
    blocks: Vec<Option<Box<[u64]>>>,
}

impl StateStore for HeapStore {
    fn persistent(&self) -> bool {
        false
    }

    fn block(
        &mut self,
        instrument: u32,
        words: usize,
    ) -> Result<&mut [u64], Box<dyn Error + Send + Sync>> {
        let i = instrument as usize;
        if i >= self.blocks.len() {
            self.blocks.resize_with(i + 1, || None);
        }
        // One allocation per instrument, at its first event (zero pages
        // until touched).
        Ok(self.blocks[i].get_or_insert_with(|| vec![0u64; words].into_boxed_slice()))
    }

    fn instruments(&self) -> Vec<u32> {
        filled_slots(&self.blocks)
    }
}
