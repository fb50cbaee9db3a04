//! The restart rule of an OTP supervisor: restart with exponential backoff,
//! but more than N restarts within T seconds means the fault is not
//! transient, and the pipeline stops.

use std::collections::VecDeque;
use std::time::Duration;

use crate::RestartConfig;

/// What to do about a stage that exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartDecision {
    /// Restart after this delay.
    After(Duration),
    /// Too many restarts in the window: give up.
    GiveUp {
        /// Exits counted in the window.
        restarts: u32,
        /// Over how long.
        within: Duration,
    },
}

/// Restart history of one stage. Times are monotonic nanoseconds.
#[derive(Clone, Debug)]
pub struct RestartTracker {
    cfg: RestartConfig,
    recent: VecDeque<u64>,
    /// Restarts so far.
    pub total: u32,
}

impl RestartTracker {
    /// A stage with no restarts yet.
    pub fn new(cfg: RestartConfig) -> Self {
        RestartTracker {
            cfg,
            recent: VecDeque::new(),
            total: 0,
        }
    }

    /// The stage died at `now`: restart it (after what delay) or give up.
    pub fn on_exit(&mut self, now: u64) -> RestartDecision {
        let window = self.cfg.within_s * 1_000_000_000;
        while self.recent.front().is_some_and(|t| t + window <= now) {
            self.recent.pop_front();
        }
        if self.recent.len() as u32 >= self.cfg.max_restarts {
            return RestartDecision::GiveUp {
                restarts: self.recent.len() as u32 + 1,
                within: Duration::from_secs(self.cfg.within_s),
            };
        }
        // Backoff doubles with each restart still inside the window.
        let k = self.recent.len().min(20) as u32;
        let ms = (self.cfg.backoff_initial_ms.saturating_mul(1 << k)).min(self.cfg.backoff_max_ms);
        self.recent.push_back(now);
        self.total += 1;
        RestartDecision::After(Duration::from_millis(ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn backoff_doubles_then_gives_up_and_forgives_with_time() {
        let cfg = RestartConfig {
            backoff_initial_ms: 100,
            backoff_max_ms: 350,
            max_restarts: 3,
            within_s: 10,
        };
        let mut t = RestartTracker::new(cfg);
        assert_eq!(
            t.on_exit(0),
            RestartDecision::After(Duration::from_millis(100))
        );
        assert_eq!(
            t.on_exit(S),
            RestartDecision::After(Duration::from_millis(200))
        );
        assert_eq!(
            t.on_exit(2 * S),
            RestartDecision::After(Duration::from_millis(350))
        );
        assert!(matches!(
            t.on_exit(3 * S),
            RestartDecision::GiveUp { restarts: 4, .. }
        ));
        // Ten seconds after the first two, they no longer count.
        assert_eq!(
            t.on_exit(11 * S + 1),
            RestartDecision::After(Duration::from_millis(200))
        );
        assert_eq!(t.total, 4);
    }
}
