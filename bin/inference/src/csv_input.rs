//! Feature vectors from a CSV recorded by the feature stage (`seq`,
//! `instrument_id`, `exchange_ns`, then the features), for running the model
//! alone.

use anyhow::{bail, Context, Result};
use tickline_features::{FEATURE_SET_VERSION, N_FEATURES};
use tickline_schema::FeatureVector;

/// Every row as a vector of the current feature set.
pub fn read(path: &std::path::Path) -> Result<Vec<FeatureVector>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let at = || format!("{}:{}", path.display(), i + 1);
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 3 + N_FEATURES {
            bail!(
                "{}: {} fields, expected at least {}",
                at(),
                f.len(),
                3 + N_FEATURES
            );
        }
        let mut fv: FeatureVector = bytemuck::Zeroable::zeroed();
        fv.trace.seq = f[0].parse().with_context(|| format!("{}: seq", at()))?;
        fv.feature_set_version = FEATURE_SET_VERSION;
        fv.len = N_FEATURES as u32;
        for (dst, s) in fv.values.iter_mut().zip(&f[3..3 + N_FEATURES]) {
            *dst = s.parse().with_context(|| format!("{}: {s:?}", at()))?;
        }
        rows.push(fv);
    }
    Ok(rows)
}
