//! Shared-memory single-producer/single-consumer queues between processes.
//!
//! A segment holds a validated header (magic, layout version, the message
//! type's layout hash, capacity) and a power-of-two ring of `#[repr(C)]`
//! [`Message`] slots. Indices live in the segment, so a killed producer or
//! consumer is replaced by a new process that resumes where it stopped.
//!
//! Delivery guarantee: a message is delivered to consumers until one commits
//! it. A consumer that dies after reading but before committing has its
//! messages delivered again to its successor (at-least-once); a consumer that
//! commits only after its output is published, and skips on restart what its
//! output already holds (see [`Producer::last_published`]), gets exactly-once.
//! A producer that dies mid-write never exposes the half-written slot: it is
//! published only by the release store of `tail`, after it is complete.
//!
//! The map, from the bottom up:
//!
//! - `segment`: a named segment in the queue format (mapping, header,
//!   create and validate, the two ends' role words, a read-only view);
//! - `ring`: a validated mapping whose slots hold `T`;
//! - `queue`: the producer and consumer ends of a ring;
//! - `board`, `counters`, `state`: snapshot boards, counter arrays and
//!   state words, each a segment of the same format;
//! - `wait` and `futex`: how an end waits for the other; `clock`, `layout`.
//!
//! This is the only crate of the workspace with `unsafe`; every block says
//! why it is sound in a `// SAFETY:` comment.

mod board;
mod clock;
mod counters;
mod error;
mod futex;
mod layout;
mod queue;
mod ring;
mod segment;
mod state;
mod wait;

pub use board::{create_board, BoardReader, BoardWriter};
pub use clock::monotonic_ns;
pub use counters::{create_counters, CountersReader, CountersWriter};
pub use error::{QueueError, Result};
pub use layout::{layout_hash, Message};
pub use queue::{Consumer, FullPolicy, Producer, Push};
pub use segment::{
    create, create_or_reclaim, list, process_alive, unlink, PeerStatus, QueueStatus, QueueView,
    SleepCounts, SlotLayout, HEADER_SIZE, LAYOUT_VERSION, MAGIC,
};
pub use state::{StateSegment, StateWord};
pub use wait::{WaitOutcome, WaitStrategy};

/// Fixed-size opaque payloads for tests and benchmarks.
pub mod payload {
    use bytemuck::{Pod, Zeroable};

    /// `N` bytes, 8-aligned; the first word is free for a sequence number.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
    #[repr(transparent)]
    pub struct Bytes<const N: usize> {
        /// The payload's words.
        pub words: [u64; N],
    }

    /// 64-byte payload.
    pub type Bytes64 = Bytes<8>;
    /// 256-byte payload.
    pub type Bytes256 = Bytes<32>;

    impl crate::Message for Bytes<8> {
        const NAME: &'static str = "Bytes64";
        const VERSION: u32 = 1;
    }
    impl crate::Message for Bytes<32> {
        const NAME: &'static str = "Bytes256";
        const VERSION: u32 = 1;
    }

    impl<const N: usize> Bytes<N> {
        /// A payload whose words derive from `seq`.
        pub fn with_seq(seq: u64) -> Self {
            let mut words = [0u64; N];
            for (i, w) in words.iter_mut().enumerate() {
                *w = seq
                    .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                    .wrapping_add(i as u64);
            }
            words[0] = seq;
            Bytes { words }
        }

        /// The sequence number in its first word.
        pub fn seq(&self) -> u64 {
            self.words[0]
        }

        /// True if every word matches what [`with_seq`](Self::with_seq) wrote:
        /// catches torn or half-written slots.
        pub fn is_intact(&self) -> bool {
            *self == Self::with_seq(self.seq())
        }
    }
}
