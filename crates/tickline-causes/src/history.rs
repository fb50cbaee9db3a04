//! Samples of every stage over time, kept for a few seconds: what a slow
//! decision's hops are matched against once its interval is published.

use std::collections::VecDeque;

use crate::procfs::ThreadSample;
use crate::times::Sums;

/// One stage at one sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageSample {
    /// Its process (0: not running); deltas are taken only within one pid.
    pub pid: u32,
    /// Its main thread (the stage loop) as /proc shows it.
    pub thread: ThreadSample,
    /// Futex sleeps it began waiting for input, ever (wraps).
    pub sleeps: Option<u32>,
    /// Wake-ups its producer issued to it, ever (wraps).
    pub wakeups: Option<u32>,
}

/// Every stage, and each CPU's steal, at one monotonic time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// CLOCK_MONOTONIC ns (the middle of the reads).
    pub t_ns: u64,
    /// Steal ns of each CPU, ever (empty: unavailable).
    pub steal_ns: Vec<u64>,
    /// Per stage, in the pipeline's order.
    pub stages: Vec<StageSample>,
}

/// The samples of the last `keep_ns`, oldest first.
pub struct History {
    samples: VecDeque<Sample>,
    /// Per sample, each stage's running sums up to it.
    sums: VecDeque<Vec<Sums>>,
    keep_ns: u64,
}

impl History {
    /// Keeps samples for `keep_ns`.
    pub fn new(keep_ns: u64) -> Self {
        History {
            samples: VecDeque::new(),
            sums: VecDeque::new(),
            keep_ns,
        }
    }

    /// Adds the newest sample; forgets those older than the keep span.
    pub fn push(&mut self, s: Sample) {
        debug_assert!(
            self.samples.back().is_none_or(|b| b.t_ns <= s.t_ns),
            "samples arrive in time order"
        );
        let t = s.t_ns;
        let sums = match (self.samples.back(), self.sums.back()) {
            (Some(prev), Some(acc)) => (0..s.stages.len())
                .map(|i| acc.get(i).copied().unwrap_or_default().then(prev, &s, i))
                .collect(),
            _ => vec![Sums::default(); s.stages.len()],
        };
        self.samples.push_back(s);
        self.sums.push_back(sums);
        while self
            .samples
            .front()
            .is_some_and(|f| f.t_ns + self.keep_ns < t)
        {
            self.samples.pop_front();
            self.sums.pop_front();
        }
    }

    /// Stage `i`'s times summed over the samples within `[a, b]`.
    pub fn sums(&self, i: usize, a: u64, b: u64) -> Sums {
        let first = self.samples.partition_point(|s| s.t_ns < a);
        let end = self.samples.partition_point(|s| s.t_ns <= b);
        if end <= first + 1 {
            return Sums::default();
        }
        let at = |k: usize| self.sums[k].get(i).copied().unwrap_or_default();
        at(end - 1).since(at(first))
    }

    /// Time of the newest sample (0: none).
    pub fn newest_ns(&self) -> u64 {
        self.samples.back().map_or(0, |s| s.t_ns)
    }

    /// The samples that bracket `[a, b]`: the last at or before `a` and
    /// the first at or after `b`, with everything between.
    pub fn around(&self, a: u64, b: u64) -> Option<Window<'_>> {
        let first = self
            .samples
            .partition_point(|s| s.t_ns <= a)
            .checked_sub(1)?;
        let last = self.samples.partition_point(|s| s.t_ns < b);
        (last < self.samples.len()).then(|| Window {
            samples: self.samples.range(first..=last).collect(),
        })
    }
}

/// Consecutive samples around a span of time.
pub struct Window<'a> {
    /// Oldest first; at least two.
    pub samples: Vec<&'a Sample>,
}

impl Window<'_> {
    /// Its length, ns.
    pub fn len_ns(&self) -> u64 {
        let (a, b) = self.ends();
        b.t_ns - a.t_ns
    }

    fn ends(&self) -> (&Sample, &Sample) {
        (self.samples[0], self.samples[self.samples.len() - 1])
    }

    /// Stage `i`'s first and last sample, if one process ran throughout.
    pub fn stage(&self, i: usize) -> Option<(&StageSample, &StageSample)> {
        let (a, b) = self.ends();
        let (x, y) = (a.stages.get(i)?, b.stages.get(i)?);
        (x.pid != 0 && x.pid == y.pid).then_some((x, y))
    }

    /// Steal on `cpu` between the first and last samples of the window
    /// that read it (not every sample does), ns; None: fewer than two did.
    pub fn steal_ns(&self, cpu: u32) -> Option<u64> {
        let mut read = self
            .samples
            .iter()
            .filter_map(|s| s.steal_ns.get(cpu as usize));
        let first = read.next()?;
        Some(read.next_back()?.saturating_sub(*first))
    }

    /// Whether stage `i` slept in the window: its voluntary switches grew
    /// (where both ends read them) or it began a futex sleep on its input.
    pub fn slept(&self, i: usize) -> Option<bool> {
        let (x, y) = self.stage(i)?;
        let switched = y.thread.vcsw.zip(x.thread.vcsw).map(|(b, a)| b > a);
        let futex = y.sleeps.zip(x.sleeps).map(|(b, a)| b != a);
        match (switched, futex) {
            (None, None) => None,
            (s, f) => Some(s.unwrap_or(false) || f.unwrap_or(false)),
        }
    }

    /// Whether stage `i` stayed current on its CPU throughout: never
    /// switched onto a CPU again, and running at every sample. Then any
    /// time it neither ran nor waited was taken by the VM.
    pub fn stayed_current(&self, i: usize) -> Option<bool> {
        let (x, y) = self.stage(i)?;
        let same = y.thread.slices? == x.thread.slices?;
        Some(same && self.states(i).iter().all(|s| *s == b'R'))
    }

    /// Run states stage `i` was seen in, in order (0s left out).
    pub fn states(&self, i: usize) -> Vec<u8> {
        self.samples
            .iter()
            .filter_map(|s| s.stages.get(i).map(|x| x.thread.state))
            .filter(|c| *c != 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: u64) -> Sample {
        Sample {
            t_ns: t,
            ..Default::default()
        }
    }

    #[test]
    fn a_window_brackets_the_span_and_old_samples_go() {
        let mut h = History::new(1_000);
        for t in [0, 100, 200, 300, 400] {
            h.push(at(t));
        }
        let w = h.around(150, 250).unwrap();
        let ts: Vec<u64> = w.samples.iter().map(|s| s.t_ns).collect();
        assert_eq!(ts, [100, 200, 300]);
        assert_eq!(w.len_ns(), 200);
        assert!(h.around(350, 450).is_none(), "no sample after the span yet");
        h.push(at(1_350));
        assert!(h.around(150, 250).is_none(), "forgotten");
    }
}
