//! Signals a stage reacts to, as flags the loop reads: SIGINT/SIGTERM stop it
//! (after the batch in hand), SIGHUP asks for a reload, SIGUSR1 trips a kill
//! switch. Only the stop signals are installed unless a stage asks for more,
//! so the others keep their default action elsewhere.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};

use crate::StageError;

/// The flags set by a stage's signal handlers.
#[derive(Clone, Debug)]
pub struct Signals {
    stop: Arc<AtomicBool>,
    reload: Option<Arc<AtomicBool>>,
    kill_switch: Option<Arc<AtomicBool>>,
}

fn flag(signal: i32) -> Result<Arc<AtomicBool>, StageError> {
    let f = Arc::new(AtomicBool::new(false));
    register(signal, &f)?;
    Ok(f)
}

fn register(signal: i32, f: &Arc<AtomicBool>) -> Result<(), StageError> {
    signal_hook::flag::register(signal, f.clone())
        .map(|_| ())
        .map_err(|source| StageError::Signal { signal, source })
}

impl Signals {
    /// Installs SIGINT and SIGTERM as the stop flag.
    pub fn install() -> Result<Self, StageError> {
        let stop = flag(SIGINT)?;
        register(SIGTERM, &stop)?;
        Ok(Signals {
            stop,
            reload: None,
            kill_switch: None,
        })
    }

    /// Also installs SIGHUP: [`Signals::take_reload`] says when it came.
    pub fn with_reload(mut self) -> Result<Self, StageError> {
        self.reload = Some(flag(SIGHUP)?);
        Ok(self)
    }

    /// Also installs SIGUSR1 as a kill switch: [`Signals::kill_switch`].
    pub fn with_kill_switch(mut self) -> Result<Self, StageError> {
        self.kill_switch = Some(flag(SIGUSR1)?);
        Ok(self)
    }

    /// The stop flag, for queues to give up their waits when it is set.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// True once a stop signal came (or [`Signals::stop`] was called).
    #[inline]
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Asks the stage to stop, as SIGTERM would.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// True once per SIGHUP received since the last call.
    pub fn take_reload(&self) -> bool {
        self.reload
            .as_ref()
            .is_some_and(|f| f.swap(false, Ordering::Relaxed))
    }

    /// True once SIGUSR1 came.
    pub fn kill_switch(&self) -> bool {
        self.kill_switch
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    }
}
