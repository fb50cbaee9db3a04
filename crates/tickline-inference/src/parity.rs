//! The load-time check that earns the native engine its place: both
//! engines on the same few thousand vectors, every output within
//! [`TOLERANCE`] of ONNX Runtime's, or the native engine is refused.

/// Largest difference allowed on any probability.
pub const TOLERANCE: f64 = 1e-6;

/// What the check found.
#[derive(Clone, Debug, PartialEq)]
pub struct Parity {
    /// Vectors compared.
    pub vectors: usize,
    /// How many of them came from a recording (the rest are generated).
    pub recorded: usize,
    /// The largest difference on any output.
    pub max_abs_diff: f64,
    /// The vector with the largest difference.
    pub worst: usize,
    /// Its features.
    pub worst_features: Vec<f32>,
    /// ONNX Runtime's outputs for it.
    pub worst_ort: Vec<f32>,
    /// The native engine's.
    pub worst_native: Vec<f32>,
}

impl Parity {
    /// Whether the native engine passes.
    pub fn passed(&self) -> bool {
        self.max_abs_diff <= TOLERANCE
    }
}

impl std::fmt::Display for Parity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "largest difference {:.3e} over {} vectors ({} recorded) at vector {}: features {:?}, ONNX Runtime {:?}, native {:?}",
            self.max_abs_diff, self.vectors, self.recorded, self.worst, self.worst_features, self.worst_ort, self.worst_native
        )
    }
}

/// A small seeded generator (SplitMix64): the vectors are the same every load.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// The next float above (`up`) or below `x`.
fn step(x: f32, up: bool) -> f32 {
    if x == 0.0 {
        let tiny = f32::from_bits(1);
        return if up { tiny } else { -tiny };
    }
    let bits = x.to_bits();
    let away = (x > 0.0) == up;
    f32::from_bits(if away { bits + 1 } else { bits - 1 })
}

/// One feature's value: on, just beside, between or beyond the model's
/// thresholds for it (where branches flip), else spread over magnitudes.
fn value(r: &mut Rng, th: &[f32]) -> f32 {
    if th.is_empty() {
        let sign = if r.next() & 1 == 0 { 1.0 } else { -1.0 };
        return sign * r.unit() * 10f32.powi(r.below(5) as i32 - 2);
    }
    let t = th[r.below(th.len())];
    let (lo, hi) = (th[0], th[th.len() - 1]);
    match r.below(8) {
        0 => t,
        1 => step(t, true),
        2 => step(t, false),
        3 => {
            let k = r.below(th.len());
            let next = th.get(k + 1).copied().unwrap_or(th[k] + 1.0);
            th[k] + (next - th[k]) / 2.0
        }
        4 => lo - 1.0 - lo.abs() * r.unit(),
        5 => hi + 1.0 + hi.abs() * r.unit(),
        _ => lo + (hi - lo) * r.unit(),
    }
}

/// `n` generated vectors of `thresholds.len()` features, row-major.
pub fn generated(thresholds: &[Vec<f32>], n: usize, seed: u64) -> Vec<f32> {
    let mut r = Rng(seed);
    let mut out = Vec::with_capacity(n * thresholds.len());
    for _ in 0..n {
        for th in thresholds {
            out.push(value(&mut r, th));
        }
    }
    out
}

/// Compares two engines' outputs (`width` per vector) on `features` (`n_features` per vector).
pub fn compare(
    features: &[f32],
    n_features: usize,
    recorded: usize,
    ort: &[f32],
    native: &[f32],
    width: usize,
) -> Parity {
    debug_assert_eq!(ort.len(), native.len());
    let mut worst = (0usize, -1.0f64);
    for (i, (a, b)) in ort
        .chunks_exact(width)
        .zip(native.chunks_exact(width))
        .enumerate()
    {
        for (x, y) in a.iter().zip(b) {
            let d = if x.is_nan() && y.is_nan() {
                0.0
            } else {
                (*x as f64 - *y as f64).abs()
            };
            let d = if d.is_nan() { f64::INFINITY } else { d };
            if d > worst.1 {
                worst = (i, d);
            }
        }
    }
    let i = worst.0;
    Parity {
        vectors: ort.len() / width,
        recorded,
        max_abs_diff: worst.1.max(0.0),
        worst: i,
        worst_features: features[i * n_features..(i + 1) * n_features].to_vec(),
        worst_ort: ort[i * width..(i + 1) * width].to_vec(),
        worst_native: native[i * width..(i + 1) * width].to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_adjacent_floats() {
        for x in [1.5f32, -2.25, 1e-30, -7e10] {
            assert!(step(x, true) > x && step(x, false) < x);
            assert_eq!(step(step(x, true), false), x);
        }
        assert!(step(0.0, true) > 0.0 && step(0.0, false) < 0.0);
    }

    #[test]
    fn generated_vectors_hit_thresholds_exactly_and_beside() {
        let th = vec![vec![0.5f32, 2.0], vec![]];
        let v = generated(&th, 2000, 7);
        let f0: Vec<f32> = v.iter().step_by(2).copied().collect();
        assert!(f0.contains(&0.5) && f0.contains(&2.0));
        assert!(f0.contains(&step(0.5, true)) && f0.contains(&step(2.0, false)));
        assert!(f0.iter().any(|&x| x < 0.5) && f0.iter().any(|&x| x > 2.0));
        assert_eq!(v, generated(&th, 2000, 7), "seeded: the same every load");
    }

    #[test]
    fn compare_names_the_worst_vector() {
        let p = compare(
            &[1.0, 2.0, 3.0, 4.0],
            2,
            0,
            &[0.1, 0.9, 0.2, 0.8],
            &[0.1, 0.9, 0.2, 0.8001],
            2,
        );
        assert_eq!(p.worst, 1);
        assert_eq!(p.worst_features, vec![3.0, 4.0]);
        assert!(!p.passed() && (p.max_abs_diff - 1e-4).abs() < 1e-6);
        let nan = compare(&[1.0, 2.0], 2, 0, &[0.1, 0.9], &[0.1, f32::NAN], 2);
        assert!(!nan.passed(), "a NaN where ORT gives a number fails");
    }
}
