//! The two role words of a segment (producer or writer, consumer): which
//! live process holds each end, claimed and released atomically, and how
//! each end looks from outside.

use std::sync::atomic::{AtomicU32, Ordering};

use super::header::Header;
use crate::error::{QueueError, Result};

/// One side's attachment as seen from outside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    /// Its pid.
    pub pid: u32,
    /// Whether that process still runs.
    pub alive: bool,
    /// CLOCK_MONOTONIC ns of its last heartbeat.
    pub heartbeat_ns: u64,
    /// Asleep on the futex, waiting for the other side.
    pub sleeping: bool,
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
pub(crate) fn writer_status(h: &Header) -> Option<PeerStatus> {
    let pid = h.producer.pid.load(Ordering::Acquire);
    (pid != 0).then(|| PeerStatus {
        pid,
        alive: process_alive(pid),
        heartbeat_ns: h.producer.heartbeat_ns.load(Ordering::Relaxed),
        sleeping: false,
    })
}
