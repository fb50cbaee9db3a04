//! Training data: each feature vector with its label, the mid's move over the
//! next `horizon` events of the same instrument, written as CSV once the
//! horizon has passed. The vectors are the ones the online stage serves, so
//! training and serving share every line of feature code.

use std::collections::VecDeque;
use std::io::{self, Write};

use tickline_schema::{FeatureVector, FIXED_SCALE};

use crate::{FEATURE_NAMES, N_FEATURES};

/// Labelled rows out to a CSV writer.
pub struct LabelledCsv<W: Write> {
    w: W,
    horizon: usize,
    tick_fixed: f64,
    /// Per instrument: vectors waiting for their label, with their mid
    /// (fixed-point units, exact half-integers, NaN without a touch).
    pending: Vec<VecDeque<(FeatureVector, f64)>>,
    rows: u64,
    unlabelled: u64,
}

/// Rows written, and vectors left without a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabelCounts {
    /// Labelled rows written.
    pub rows: u64,
    /// Vectors with no label: no mid at either end, or the input ended
    /// within the horizon.
    pub unlabelled: u64,
}

impl<W: Write> LabelledCsv<W> {
    /// Writes the header. `horizon` is in events (at least 1); `tick_fixed`
    /// is the tick in fixed-point units.
    pub fn new(mut w: W, horizon: usize, tick_fixed: i64) -> io::Result<Self> {
        debug_assert!(tick_fixed > 0);
        write!(w, "seq,instrument_id,exchange_ns")?;
        for n in FEATURE_NAMES {
            write!(w, ",{n}")?;
        }
        writeln!(w, ",defaulted,mid,future_mid_change_ticks,label_up")?;
        Ok(LabelledCsv {
            w,
            horizon: horizon.max(1),
            tick_fixed: tick_fixed as f64,
            pending: Vec::new(),
            rows: 0,
            unlabelled: 0,
        })
    }

    /// Adds a vector and its event's mid; writes the row `horizon` events back.
    pub fn push(&mut self, fv: &FeatureVector, mid: Option<f64>) -> io::Result<()> {
        let i = fv.instrument_id as usize;
        if i >= self.pending.len() {
            let cap = self.horizon + 1;
            self.pending
                .resize_with(i + 1, || VecDeque::with_capacity(cap));
        }
        let q = &mut self.pending[i];
        let mid = mid.unwrap_or(f64::NAN);
        q.push_back((*fv, mid));
        if q.len() <= self.horizon {
            return Ok(());
        }
        let (old, old_mid) = q.pop_front().expect("longer than the horizon");
        debug_assert_eq!(q.len(), self.horizon);
        if !(old_mid.is_finite() && mid.is_finite()) {
            self.unlabelled += 1;
            return Ok(());
        }
        self.write_row(&old, old_mid, mid)
    }

    fn write_row(&mut self, fv: &FeatureVector, mid: f64, future_mid: f64) -> io::Result<()> {
        let change = (future_mid - mid) / self.tick_fixed;
        let price = mid / FIXED_SCALE as f64;
        let w = &mut self.w;
        write!(
            w,
            "{},{},{}",
            fv.trace.seq, fv.instrument_id, fv.trace.exchange_ns
        )?;
        // f32 Display is the shortest text that parses back to the same bits.
        for v in &fv.values[..N_FEATURES] {
            write!(w, ",{v}")?;
        }
        writeln!(
            w,
            ",{},{price},{change},{}",
            fv.defaulted,
            (change > 0.0) as u8
        )?;
        self.rows += 1;
        Ok(())
    }

    /// Flushes; vectors still within their horizon count as unlabelled.
    pub fn finish(mut self) -> io::Result<LabelCounts> {
        self.w.flush()?;
        let waiting: usize = self.pending.iter().map(VecDeque::len).sum();
        Ok(LabelCounts {
            rows: self.rows,
            unlabelled: self.unlabelled + waiting as u64,
        })
    }
}

/// A row of a feature CSV (as the feature stage records it): its sequence
/// number and the feature values.
pub type FeatureRow = (u64, [f32; N_FEATURES]);

/// Reads the rows of a feature CSV (`seq,instrument_id,exchange_ns,` then
/// the features, labelled or not); errors name the line and the field.
pub fn read_feature_csv(text: &str) -> Result<Vec<FeatureRow>, String> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 3 + N_FEATURES {
            return Err(format!(
                "line {}: {} fields, expected at least {}",
                i + 1,
                f.len(),
                3 + N_FEATURES
            ));
        }
        let seq = f[0]
            .parse()
            .map_err(|_| format!("line {}: seq {:?}", i + 1, f[0]))?;
        let mut v = [0f32; N_FEATURES];
        for (dst, s) in v.iter_mut().zip(&f[3..3 + N_FEATURES]) {
            *dst = s
                .parse()
                .map_err(|_| format!("line {}: feature {s:?}", i + 1))?;
        }
        rows.push((seq, v));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fv(seq: u64, instrument: u32) -> FeatureVector {
        let mut f: FeatureVector = bytemuck::Zeroable::zeroed();
        f.trace.seq = seq;
        f.instrument_id = instrument;
        f
    }

    #[test]
    fn labels_are_the_mid_move_over_the_horizon_per_instrument() {
        let mut buf = Vec::new();
        let mut c = LabelledCsv::new(&mut buf, 2, FIXED_SCALE / 100).unwrap();
        let mids = [100.0, 100.0, 100.02, 99.99];
        for (i, m) in mids.iter().enumerate() {
            c.push(&fv(i as u64, 0), Some(m * FIXED_SCALE as f64))
                .unwrap();
            // Another instrument's events do not move instrument 0's horizon.
            c.push(&fv(100 + i as u64, 1), None).unwrap();
        }
        let counts = c.finish().unwrap();
        assert_eq!(
            counts,
            LabelCounts {
                rows: 2,
                unlabelled: 2 + 4
            }
        );
        let text = String::from_utf8(buf).unwrap();
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect())
            .collect();
        assert_eq!(rows.len(), 2);
        let tail = |r: &Vec<&str>| {
            (
                r[0].to_string(),
                r[r.len() - 2].parse::<f64>().unwrap(),
                r[r.len() - 1].to_string(),
            )
        };
        let (seq, ticks, up) = tail(&rows[0]);
        assert_eq!((seq.as_str(), up.as_str()), ("0", "1"));
        assert!((ticks - 2.0).abs() < 1e-9, "{ticks}");
        let (seq, ticks, up) = tail(&rows[1]);
        assert_eq!((seq.as_str(), up.as_str()), ("1", "0"));
        assert!((ticks + 1.0).abs() < 1e-9, "{ticks}");
    }
}
