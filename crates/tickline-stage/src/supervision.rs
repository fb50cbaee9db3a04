//! A supervised stage dies with its supervisor. The supervisor names itself
//! in each stage's environment; the stage asks the kernel for SIGKILL when
//! its parent dies, then checks that the parent is still the supervisor
//! (it may have died before the request). A stage therefore never runs
//! unsupervised: a new supervisor finds the pipeline stopped, its queues,
//! state and journal as they were, and resumes it.

use nix::sys::signal::Signal;

use crate::StageError;

/// The variable in which the supervisor passes its pid to its stages.
pub const SUPERVISOR_PID_ENV: &str = "TICKLINE_SUPERVISOR_PID";

/// Under a supervisor (the variable set): die when it dies. Without one, nothing.
pub fn bind_to_supervisor() -> Result<(), StageError> {
    let Ok(v) = std::env::var(SUPERVISOR_PID_ENV) else {
        return Ok(());
    };
    let pid: i32 = v
        .parse()
        .map_err(|_| StageError::Supervisor(format!("{SUPERVISOR_PID_ENV}={v:?} is not a pid")))?;
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(|e| StageError::Supervisor(format!("prctl(PR_SET_PDEATHSIG): {e}")))?;
    let parent = nix::unistd::getppid().as_raw();
    if parent != pid {
        return Err(StageError::Supervisor(format!(
            "supervisor pid {pid} is gone (parent is now {parent}): not starting unsupervised"
        )));
    }
    Ok(())
}
