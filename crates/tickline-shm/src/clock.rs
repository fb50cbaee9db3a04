//! The one clock every stage stamps messages with.

use nix::time::{clock_gettime, ClockId};

/// CLOCK_MONOTONIC in nanoseconds: system-wide, so stamps from different
/// processes compare. Served by the vDSO, no syscall.
#[inline]
pub fn monotonic_ns() -> u64 {
    let ts = clock_gettime(ClockId::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC is always available");
    ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64
}
