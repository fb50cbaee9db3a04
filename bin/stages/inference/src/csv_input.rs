//! Feature vectors from a CSV recorded by the feature stage (`seq`,
//! `instrument_id`, `exchange_ns`, then the features), for running the model
//! alone.

use anyhow::{anyhow, Context, Result};
use tickline_features::training::read_feature_csv;
use tickline_features::{FEATURE_SET_VERSION, N_FEATURES};
use tickline_schema::FeatureVector;

/// Every row as a vector of the current feature set.
pub fn read(path: &std::path::Path) -> Result<Vec<FeatureVector>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let rows = read_feature_csv(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok(rows
        .into_iter()
        .map(|(seq, v)| {
            let mut fv: FeatureVector = bytemuck::Zeroable::zeroed();
            fv.trace.seq = seq;
            fv.feature_set_version = FEATURE_SET_VERSION;
            fv.len = N_FEATURES as u32;
            fv.values[..N_FEATURES].copy_from_slice(&v);
            fv
        })
        .collect())
}
