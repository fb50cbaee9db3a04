//! From P(up) to a target position: zero at p = 0.5, growing with confidence.

/// How confidence becomes size. Quantities in fixed-point units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sizing {
    /// Fractional Kelly for an even-odds binary bet: f = k (2p - 1) of `budget`.
    Kelly {
        /// The Kelly fraction.
        k: f64,
        /// Position at full confidence.
        budget: i64,
    },
    /// Linear in the edge beyond the band, reaching `max` at p = 0 or 1.
    Linear {
        /// Position at full confidence.
        max: i64,
    },
    /// Linear, but never above `cap`.
    Capped {
        /// Position the line reaches at full confidence.
        max: i64,
        /// Largest position.
        cap: i64,
    },
}

impl Sizing {
    /// Signed target position (positive long) for P(up) = `p`, before lot rounding.
    pub fn target(&self, p: f64) -> f64 {
        let edge = (2.0 * p - 1.0).clamp(-1.0, 1.0);
        match *self {
            Sizing::Kelly { k, budget } => k * edge * budget as f64,
            Sizing::Linear { max } => edge * max as f64,
            Sizing::Capped { max, cap } => (edge * max as f64).clamp(-(cap as f64), cap as f64),
        }
    }
}

/// Rounds a quantity toward zero to a whole number of lots.
pub fn to_lots(qty: f64, lot: i64) -> i64 {
    if !qty.is_finite() || lot <= 0 {
        return 0;
    }
    ((qty / lot as f64).trunc() as i64).saturating_mul(lot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_is_zero_at_half_and_grows_with_confidence() {
        for s in [
            Sizing::Kelly {
                k: 0.5,
                budget: 1000,
            },
            Sizing::Linear { max: 1000 },
            Sizing::Capped {
                max: 1000,
                cap: 300,
            },
        ] {
            assert_eq!(s.target(0.5), 0.0);
            assert!(s.target(0.6) > 0.0 && s.target(0.4) < 0.0);
            assert!(s.target(0.7) >= s.target(0.6));
            assert!((s.target(0.7) + s.target(0.3)).abs() < 1e-9);
        }
        assert_eq!(
            Sizing::Kelly {
                k: 0.5,
                budget: 1000
            }
            .target(0.75),
            250.0
        );
        assert_eq!(
            Sizing::Capped {
                max: 1000,
                cap: 300
            }
            .target(0.99),
            300.0
        );
        assert_eq!(to_lots(2.7e8, 100_000_000), 200_000_000);
        assert_eq!(to_lots(-2.7e8, 100_000_000), -200_000_000);
        assert_eq!(to_lots(f64::NAN, 1), 0);
    }
}
