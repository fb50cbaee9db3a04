//! Named shared-memory segments in the queue format, below everything that
//! lives in one (queues, boards, counters, state):
//!
//! - `mapping`: `shm_open` + `mmap`, mode 0600, owner and size checked;
//! - `header`: the header's layout (magic, version, type, geometry, the two
//!   ends' words), one cache line per writer;
//! - `format`: validating a segment against the mapping's real size;
//! - `create`: creating one (header written, then published ready);
//! - `peer`: the role words, which live process holds each end;
//! - `view`: a read-only view of any segment's layout, indices and ends.

mod create;
mod format;
mod header;
mod mapping;
mod peer;
mod view;

pub use create::{create, create_or_reclaim};
pub use format::SlotLayout;
pub(crate) use format::{header, validate};
pub(crate) use header::{ring_offset, Header};
pub use header::{HEADER_SIZE, LAYOUT_VERSION, MAGIC};
pub(crate) use mapping::Segment;
pub use mapping::{list, unlink};
pub(crate) use peer::{claim_role, release_role, writer_status};
pub use peer::{process_alive, PeerStatus};
pub use view::{QueueStatus, QueueView, SleepCounts};
