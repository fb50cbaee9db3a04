//! What the live view adds to the numbers: each stage's p99 over the last
//! refresh windows as a sparkline (so spikes show), and its state in colour
//! on a terminal.

use std::collections::{BTreeMap, VecDeque};

use hdrhistogram::Histogram;
use tickline_schema::telemetry::{Metric, StageState};
use tickline_telemetry::Snapshot;

/// Windows of p99 history kept per stage.
pub const HISTORY: usize = 24;

/// Each stage's p99 per refresh window, newest last.
#[derive(Default)]
pub struct History(BTreeMap<String, VecDeque<u64>>);

impl History {
    /// Adds the window between two reads of `stage`: the p99 of what it
    /// recorded in between (tick to decision for the router, end to end
    /// for the others, service for the feed), if the same process wrote
    /// both and recorded anything.
    pub fn push(&mut self, stage: &str, before: Option<&Snapshot>, now: Option<&Snapshot>) {
        let p99 = window(before, now).map(|h| h.value_at_quantile(0.99));
        let h = self.0.entry(stage.to_owned()).or_default();
        if h.len() == HISTORY {
            h.pop_front();
        }
        h.push_back(p99.unwrap_or(0));
    }

    /// The p99 history of `stage` (0: nothing recorded in that window).
    pub fn of(&self, stage: &str) -> Vec<u64> {
        self.0
            .get(stage)
            .map(|h| h.iter().copied().collect())
            .unwrap_or_default()
    }
}

/// What a stage recorded between two reads, for its headline metric.
fn window(before: Option<&Snapshot>, now: Option<&Snapshot>) -> Option<Histogram<u64>> {
    let (b, n) = (before?, now?);
    if b.pid != n.pid {
        return None;
    }
    let m = [Metric::TickToDecision, Metric::EndToEnd, Metric::Service]
        .into_iter()
        .find(|m| !n.hists[*m as usize].is_empty())? as usize;
    let mut h = n.hists[m].clone();
    h.subtract(&b.hists[m]).ok()?;
    (!h.is_empty()).then_some(h)
}

/// A sparkline of `values` on a log scale between their smallest and
/// largest non-zero value; a window with nothing recorded is a space.
pub fn sparkline(values: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let live = values.iter().copied().filter(|v| *v > 0);
    let (lo, hi) = live.fold((u64::MAX, 0), |(lo, hi), v| (lo.min(v), hi.max(v)));
    values
        .iter()
        .map(|v| match *v {
            0 => ' ',
            _ if hi <= lo => BARS[0],
            v => {
                let f =
                    ((v as f64).ln() - (lo as f64).ln()) / ((hi as f64).ln() - (lo as f64).ln());
                BARS[((f * 7.0).round() as usize).min(7)]
            }
        })
        .collect()
}

/// `text` coloured for `state` (ANSI), padded to `width` first.
pub fn colour(state: StageState, text: &str, width: usize) -> String {
    let code = match state {
        StageState::Running => "32",
        StageState::Backoff => "33",
        StageState::Failed => "31",
        StageState::Done | StageState::Stopped | StageState::NotStarted => "2",
    };
    format!("\x1b[{code}m{text:<width$}\x1b[0m")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_logarithmically_and_marks_empty_windows() {
        assert_eq!(sparkline(&[1_000, 10_000, 100_000, 0, 1_000]), "▁▅█ ▁");
        assert_eq!(sparkline(&[5, 5]), "▁▁");
        assert_eq!(sparkline(&[]), "");
    }
}
