//! Scores to outputs as ONNX Runtime's ML kernels finish them: base values,
//! the binary classifier's second column, and the post-transform, in f32.

/// The post-transforms the native engines apply (PROBIT and SOFTMAX_ZERO
/// are refused: never approximated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Post {
    /// Scores as they are.
    None,
    /// 1 / (1 + e^-s) per score.
    Logistic,
    /// e^(s - max) / sum.
    Softmax,
}

impl Post {
    /// From the `post_transform` attribute; `None` when unsupported.
    pub fn parse(s: &str) -> Option<Post> {
        match s {
            "NONE" => Some(Post::None),
            "LOGISTIC" => Some(Post::Logistic),
            "SOFTMAX" => Some(Post::Softmax),
            _ => None,
        }
    }
}

/// The logistic function as ONNX Runtime writes it (no overflow for large |x|).
#[inline]
pub fn logistic(x: f32) -> f32 {
    let v = 1.0 / (1.0 + (-x.abs()).exp());
    if x < 0.0 {
        1.0 - v
    } else {
        v
    }
}

/// Softmax in place, as ONNX Runtime computes it (max subtracted first).
pub fn softmax(v: &mut [f32]) {
    let max = v.iter().copied().fold(-f32::MAX, f32::max);
    let mut sum = 0.0f32;
    for x in v.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    for x in v.iter_mut() {
        *x /= sum;
    }
}

/// Per-class (or per-target) scores of one row, with ONNX Runtime's
/// "has a score" flags; preallocated, reused row after row.
#[derive(Clone, Debug, Default)]
pub struct Scores {
    v: Vec<f32>,
    has: Vec<bool>,
}

impl Scores {
    /// Room for `n` classes or targets.
    pub fn with_capacity(n: usize) -> Scores {
        Scores {
            v: Vec::with_capacity(n),
            has: Vec::with_capacity(n),
        }
    }

    /// `n` zero scores, none set (no allocation within capacity).
    pub fn clear(&mut self, n: usize) {
        self.v.clear();
        self.v.resize(n, 0.0);
        self.has.clear();
        self.has.resize(n, false);
    }

    /// Adds `w` to score `k`.
    #[inline]
    pub fn add(&mut self, k: usize, w: f32) {
        self.v[k] += w;
        self.has[k] = true;
    }

    /// Writes `v` with `post` applied to each score (two or more columns).
    fn write_all(v: &mut [f32], post: Post, out: &mut [f32]) {
        match post {
            Post::None => {}
            Post::Logistic => v.iter_mut().for_each(|x| *x = logistic(*x)),
            Post::Softmax => softmax(v),
        }
        out[..v.len()].copy_from_slice(v);
    }

    /// A classifier's probabilities (`TreeAggregatorClassifier::FinalizeScores`).
    pub fn finish_classifier(
        &mut self,
        base: &[f32],
        binary_case: bool,
        all_positive: bool,
        post: Post,
        out: &mut [f32],
    ) {
        let n = self.v.len();
        if n > 2 {
            for (k, &b) in base.iter().enumerate() {
                self.v[k] = if self.has[k] { self.v[k] + b } else { b };
            }
            return Self::write_all(&mut self.v, post, out);
        }
        debug_assert_eq!(n, 2);
        let (mut len, mut second) = (2, None::<u8>);
        match base.len() {
            2 if self.has[1] => {
                // Runtime's reading: class 1 = base 1 + class 0's sum, class 0 its negation.
                self.v[1] = base[1] + self.v[0];
                self.v[0] = -self.v[1];
            }
            2 => {
                self.v[1] += base[1];
                self.v[0] += base[0];
            }
            1 => {
                self.v[0] += base[0];
                len = if self.has[1] { 2 } else { 1 };
            }
            _ => {
                second = Some(3);
                len = if self.has[1] { 2 } else { 1 };
            }
        }
        let positive = if len == 2 && self.has[1] {
            self.v[1]
        } else if self.has[0] {
            self.v[0]
        } else {
            0.0
        };
        if binary_case {
            second = Some(match (all_positive, positive) {
                (true, p) if p > 0.5 => 0,
                (true, _) => 1,
                (false, p) if p > 0.0 => 2,
                (false, _) => 3,
            });
        }
        if len == 2 {
            return Self::write_all(&mut self.v, post, out);
        }
        let s = self.v[0];
        match second {
            Some(0 | 1) => (out[0], out[1]) = (1.0 - s, s),
            Some(_) if post == Post::Logistic => (out[0], out[1]) = (logistic(-s), logistic(s)),
            Some(_) => (out[0], out[1]) = (-s, s),
            None => (out[0], out[1]) = (s, 0.0),
        }
    }

    /// A regressor's targets (`TreeAggregatorSum`/`Average`); `average`: the tree count.
    pub fn finish_regressor(
        &mut self,
        base: &[f32],
        average: Option<usize>,
        post: Post,
        out: &mut [f32],
    ) {
        let n = self.v.len();
        let trees = average.unwrap_or(1) as f32;
        if n == 1 {
            let origin = if base.len() == 1 { base[0] } else { 0.0 };
            let s = if average.is_some() {
                self.v[0] / trees
            } else {
                self.v[0]
            };
            out[0] = s + origin;
            return;
        }
        for k in 0..n {
            if average.is_some() {
                self.v[k] /= trees;
            }
            if base.len() == n {
                self.v[k] += base[k];
            }
        }
        Self::write_all(&mut self.v, post, out);
    }
}

/// The logistic function as ONNX Runtime's MLAS computes it for a batch of
/// scores (`MlasComputeLogistic`, which `LinearClassifier` uses): a rational
/// polynomial over [-18, 18] (Eigen's coefficients), evaluated with fused
/// multiply-adds as its FMA3 kernel does, the result clamped to [0, 1].
pub fn mlas_logistic(x: f32) -> f32 {
    const A: [f32; 5] = [
        4.370_31e-11,
        1.156_273_2e-7,
        6.085_748_6e-5,
        8.513_771e-3,
        2.482_879_5e-1,
    ];
    const B: [f32; 6] = [
        6.102_474e-13,
        5.761_021_4e-9,
        6.291_068e-6,
        1.701_988_2e-3,
        1.168_176_6e-1,
        9.931_519e-1,
    ];
    let v = x.clamp(-18.0, 18.0);
    let v2 = v * v;
    let p = A[1..].iter().fold(A[0], |acc, &a| acc.mul_add(v2, a)) * v;
    let q = B[1..].iter().fold(B[0], |acc, &b| acc.mul_add(v2, b));
    (p / q + 0.5).clamp(0.0, 1.0)
}
