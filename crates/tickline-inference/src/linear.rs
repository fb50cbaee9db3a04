//! ONNX-ML `Scaler` and `LinearClassifier`: the pair skl2onnx writes for a
//! standardised logistic regression, with ONNX Runtime's semantics.

use crate::onnx::{NodeProto, OnnxError};
use crate::post::{mlas_logistic, softmax, Post};

/// Why a linear node is refused.
#[derive(Debug, thiserror::Error)]
pub enum LinearError {
    /// An attribute has the wrong kind.
    #[error(transparent)]
    Attr(#[from] OnnxError),
    /// Sizes that do not fit together, or something not evaluated natively.
    #[error("node `{node}`: {what}")]
    Refused {
        /// The node.
        node: String,
        /// What.
        what: String,
    },
}

fn refused(node: &NodeProto, what: impl Into<String>) -> LinearError {
    LinearError::Refused {
        node: node.label(),
        what: what.into(),
    }
}

/// `y = (x - offset) * scale`, per feature (or one pair for all).
#[derive(Clone, Debug)]
pub struct Scaler {
    offset: Vec<f32>,
    scale: Vec<f32>,
}

impl Scaler {
    /// Reads a `Scaler` node for `n` features.
    pub fn from_node(node: &NodeProto, n: usize) -> Result<Scaler, LinearError> {
        let widen = |v: &[f32], what: &str| match v.len() {
            1 => Ok(vec![v[0]; n]),
            l if l == n => Ok(v.to_vec()),
            l => Err(refused(node, format!("{l} {what} values for {n} features"))),
        };
        Ok(Scaler {
            offset: widen(node.floats("offset")?, "offset")?,
            scale: widen(node.floats("scale")?, "scale")?,
        })
    }

    /// Per feature, `offset + k / scale` for k in -sigmas..=sigmas: the
    /// inputs a standardised model sees (none where the scale is 0).
    pub fn standard_range(&self, sigmas: i32) -> Vec<Vec<f32>> {
        let per = |(&o, &s): (&f32, &f32)| -> Vec<f32> {
            if s == 0.0 || !s.is_finite() {
                return Vec::new();
            }
            let mut v: Vec<f32> = (-sigmas..=sigmas).map(|k| o + k as f32 / s).collect();
            v.sort_by(f32::total_cmp);
            v
        };
        self.offset.iter().zip(&self.scale).map(per).collect()
    }

    /// Scales `row` in place.
    #[inline]
    pub fn apply(&self, row: &mut [f32]) {
        for ((x, o), s) in row.iter_mut().zip(&self.offset).zip(&self.scale) {
            *x = (*x - o) * s;
        }
    }
}

/// Scores `x . w_k + b_k` per class, then the post-transform.
#[derive(Clone, Debug)]
pub struct LinearClassifier {
    /// Row-major, one row of `n_features` per class.
    coefficients: Vec<f32>,
    intercepts: Vec<f32>,
    n_features: usize,
    /// One score and two labels: the output is [1 - s, s].
    second_class: bool,
    post: Post,
    scores: Vec<f32>,
}

impl LinearClassifier {
    /// Reads a `LinearClassifier` node.
    pub fn from_node(node: &NodeProto) -> Result<LinearClassifier, LinearError> {
        let post_name = node.string("post_transform", "NONE")?;
        let post = Post::parse(&post_name)
            .ok_or_else(|| refused(node, format!("post_transform {post_name} is not supported")))?;
        let coefficients = node.floats("coefficients")?.to_vec();
        let intercepts = node.floats("intercepts")?.to_vec();
        let classes = intercepts.len();
        if classes == 0 || coefficients.is_empty() || coefficients.len() % classes != 0 {
            return Err(refused(
                node,
                format!(
                    "{} coefficients for {classes} intercepts",
                    coefficients.len()
                ),
            ));
        }
        let labels = node
            .ints("classlabels_ints")?
            .len()
            .max(node.strings("classlabels_strings")?.len());
        Ok(LinearClassifier {
            n_features: coefficients.len() / classes,
            coefficients,
            second_class: classes == 1 && labels == 2,
            post,
            scores: vec![0.0; classes],
            intercepts,
        })
    }

    /// Features it reads.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Columns it writes.
    pub fn outputs(&self) -> usize {
        if self.second_class {
            2
        } else {
            self.intercepts.len()
        }
    }

    /// Evaluates one row into `out`.
    pub fn eval(&mut self, row: &[f32], out: &mut [f32]) {
        let x = &row[..self.n_features];
        for ((s, w), b) in self
            .scores
            .iter_mut()
            .zip(self.coefficients.chunks_exact(self.n_features))
            .zip(&self.intercepts)
        {
            // In order, from zero. MLAS's GEMM kernel rounds its own way: the
            // parity check at load decides whether the two agree closely enough.
            let mut acc = 0.0f32;
            for (xi, wi) in x.iter().zip(w) {
                acc += xi * wi;
            }
            *s = acc + b;
        }
        if self.second_class {
            // Runtime's binary output: [1 - s, s], no transform applied.
            let s = self.scores[0];
            (out[0], out[1]) = (1.0 - s, s);
            return;
        }
        match self.post {
            Post::None => {}
            // Runtime's LinearClassifier takes MLAS's logistic, not libm's.
            Post::Logistic => self.scores.iter_mut().for_each(|s| *s = mlas_logistic(*s)),
            Post::Softmax => softmax(&mut self.scores),
        }
        out[..self.scores.len()].copy_from_slice(&self.scores);
    }
}
