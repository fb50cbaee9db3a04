//! Scheduling and memory controls for a stage's threads: keep helper threads
//! from ever preempting the hot one, and keep the hot one's pages resident.
#![forbid(unsafe_code)]

use std::io;

use nix::sys::mman::{mlockall, MlockAllFlags};
use thread_priority::{
    set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy, ThreadPriority,
    ThreadSchedulePolicy,
};

/// Puts the calling thread in the `SCHED_IDLE` class: it runs only when
/// nothing else on its CPU wants to, so a helper thread (file watching,
/// model loading, fsync) never preempts the stage's hot thread.
pub fn demote_current_thread() -> io::Result<()> {
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle)
        .map_err(|e| io::Error::other(format!("SCHED_IDLE: {e:?}")))
}

/// Locks every current and future page of the process in memory, so no
/// page of the hot path is ever paged out or faulted in late.
pub fn lock_all_memory() -> io::Result<()> {
    mlockall(MlockAllFlags::MCL_CURRENT | MlockAllFlags::MCL_FUTURE).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calling thread's policy as the kernel reports it.
    fn policy() -> u32 {
        let sched = std::fs::read_to_string("/proc/thread-self/sched").unwrap();
        let line = sched.lines().find(|l| l.starts_with("policy")).unwrap();
        line.rsplit(' ').next().unwrap().trim().parse().unwrap()
    }

    #[test]
    fn a_demoted_thread_is_sched_idle() {
        std::thread::spawn(|| {
            assert_eq!(policy(), 0, "SCHED_OTHER before");
            demote_current_thread().unwrap();
            assert_eq!(policy(), 5, "SCHED_IDLE after");
        })
        .join()
        .unwrap();
        assert_eq!(policy(), 0, "only the calling thread");
    }
}
