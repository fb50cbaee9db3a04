//! Scheduling and memory controls for a stage's threads: keep helper threads
//! from ever preempting the hot one, and keep the hot one's pages resident.

use std::io;

/// Puts the calling thread in the `SCHED_IDLE` class: it runs only when
/// nothing else on its CPU wants to, so a helper thread (file watching,
/// model loading) never preempts the stage's hot thread.
pub fn demote_current_thread() -> io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 names the calling thread; `param` is a valid
    // sched_param that outlives the call, which only reads it.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Locks every current and future page of the process in memory, so no
/// page of the hot path is ever paged out or faulted in late.
pub fn lock_all_memory() -> io::Result<()> {
    // SAFETY: mlockall takes only flags and touches no memory of ours.
    let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
