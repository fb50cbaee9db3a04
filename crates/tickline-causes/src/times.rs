//! A stage's times between two samples (run, run-queue wait, stolen,
//! asleep), and their running sums over the history: a baseline over
//! seconds of samples is one subtraction, not a walk over thousands.

use crate::history::{Sample, StageSample, Window};

/// Times of one stage between two samples: (run, wait, stolen, asleep).
/// `slept`: whether it slept in between; `steal`: its CPU's steal then.
pub(crate) fn split(
    w_ns: u64,
    x: &StageSample,
    y: &StageSample,
    slept: bool,
    steal: Option<u64>,
) -> Option<[u64; 4]> {
    let run = y.thread.run_ns?.saturating_sub(x.thread.run_ns?);
    let wait = y.thread.wait_ns?.saturating_sub(x.thread.wait_ns?);
    let off = w_ns.saturating_sub(run + wait);
    // A thread that never slept was off the CPU only because the VM took
    // it (the guest does not count stolen time as run time); one that
    // slept was stolen from at most the CPU's steal.
    let stolen = if slept {
        off.min(steal.unwrap_or(0))
    } else {
        off
    };
    Some([run, wait, stolen, off - stolen])
}

/// One stage's times summed over consecutive sample pairs, ns (minor
/// faults as a count); pairs where it was not one running process, or
/// its figures were unavailable, add nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sums {
    /// Time covered.
    pub dt: u64,
    /// On a CPU.
    pub run: u64,
    /// Runnable, waiting in a run queue.
    pub wait: u64,
    /// Taken by the VM (off the CPU without sleeping).
    pub stolen: u64,
    /// Minor page faults.
    pub minflt: u64,
}

impl Sums {
    /// `self` plus stage `i`'s times from `a` to `b`.
    pub(crate) fn then(self, a: &Sample, b: &Sample, i: usize) -> Sums {
        let pair = Window {
            samples: vec![a, b],
        };
        let Some((x, y)) = pair.stage(i) else {
            return self;
        };
        let dt = b.t_ns - a.t_ns;
        let steal = y.thread.cpu.and_then(|c| pair.steal_ns(c));
        let slept = pair.slept(i).unwrap_or(false);
        let Some([run, wait, stolen, _]) = split(dt, x, y, slept, steal) else {
            return self;
        };
        let minflt = y
            .thread
            .minflt
            .unwrap_or(0)
            .saturating_sub(x.thread.minflt.unwrap_or(0));
        Sums {
            dt: self.dt + dt,
            run: self.run + run,
            wait: self.wait + wait,
            stolen: self.stolen + stolen,
            minflt: self.minflt + minflt,
        }
    }

    /// `self` minus an earlier running sum.
    pub(crate) fn since(self, e: Sums) -> Sums {
        debug_assert!(self.dt >= e.dt, "running sums only grow");
        Sums {
            dt: self.dt - e.dt,
            run: self.run - e.run,
            wait: self.wait - e.wait,
            stolen: self.stolen - e.stolen,
            minflt: self.minflt - e.minflt,
        }
    }
}
