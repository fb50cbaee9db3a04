//! Finding the real market data beside the repository.

use std::path::PathBuf;

/// `../shared/data` beside the repo, or `$TICKLINE_DATA`; panics with what to do if missing.
pub fn data_file(rel: &str) -> PathBuf {
    let base = std::env::var_os("TICKLINE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let p = base.join(rel);
    assert!(
        p.exists(),
        "real market data file {} is missing: these tests read ../shared/data beside the repo \
         (or set TICKLINE_DATA to its folder)",
        p.display()
    );
    p
}
