//! HdrHistogram's bucket layout for 1 ns to 100 s at 3 significant digits,
//! computed the way HdrHistogram computes it: a value's bucket is found with
//! one leading-zero count and two shifts.
//!
//! 2048 sub-buckets (the first power of two above 2 x 10^3) give each power
//! of two 1024 linear steps: 3 significant digits everywhere.

use tickline_schema::telemetry::{HIST_COUNTS, HIST_HIGHEST_NS};

/// log2 of the sub-bucket count (2048).
const SUB_BUCKET_MAGNITUDE: u32 = 11;
/// log2 of half the sub-bucket count.
const HALF_MAGNITUDE: u32 = SUB_BUCKET_MAGNITUDE - 1;
const SUB_BUCKET_HALF: u64 = 1 << HALF_MAGNITUDE;
const SUB_BUCKET_MASK: u64 = (1 << SUB_BUCKET_MAGNITUDE) - 1;
/// Leading zeros of the smallest value of bucket 0's top half, less one.
const LEADING_ZERO_BASE: u32 = 64 - SUB_BUCKET_MAGNITUDE;

/// The counts index of `ns`, clamped to 1 ns .. [`HIST_HIGHEST_NS`].
#[inline]
pub fn bucket_of(ns: u64) -> usize {
    let v = ns.clamp(1, HIST_HIGHEST_NS);
    let bucket = LEADING_ZERO_BASE - (v | SUB_BUCKET_MASK).leading_zeros();
    let sub = v >> bucket;
    let i = (((bucket as u64) + 1) << HALF_MAGNITUDE) + sub - SUB_BUCKET_HALF;
    debug_assert!((i as usize) < HIST_COUNTS, "{ns} ns -> index {i}");
    i as usize
}

/// The lowest value counted at index `i`.
#[inline]
pub fn bucket_value(i: usize) -> u64 {
    debug_assert!(i < HIST_COUNTS);
    let i = i as u64;
    let bucket = (i >> HALF_MAGNITUDE) as i64 - 1;
    let sub = (i & (SUB_BUCKET_HALF - 1)) + SUB_BUCKET_HALF;
    if bucket < 0 {
        sub - SUB_BUCKET_HALF
    } else {
        sub << bucket
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_hdrhistograms_own() {
        let mut h = crate::new_histogram();
        assert_eq!(h.distinct_values(), HIST_COUNTS, "same number of counts");
        let mut x = 1u64;
        while x <= HIST_HIGHEST_NS {
            for v in [x, x + 1, x * 3 / 2, x.saturating_sub(1).max(1)] {
                let v = v.min(HIST_HIGHEST_NS);
                let i = bucket_of(v);
                // Same bucket: equal lowest equivalent values.
                assert_eq!(bucket_value(i), h.lowest_equivalent(v), "value {v}");
                assert!(bucket_value(i) <= v);
                h.record(v).unwrap();
            }
            x = x * 2 + 1;
        }
        assert_eq!(bucket_of(0), bucket_of(1));
        assert_eq!(bucket_of(u64::MAX), bucket_of(HIST_HIGHEST_NS));
        assert_eq!(
            bucket_value(bucket_of(HIST_HIGHEST_NS)),
            h.lowest_equivalent(HIST_HIGHEST_NS)
        );
    }
}
