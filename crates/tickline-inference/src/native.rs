//! The native engine: the graph from the model's input to its
//! `probabilities` output, when every node on that path is one it evaluates
//! (an optional `Scaler`, then a tree ensemble or a linear classifier, then
//! `Identity`s), with buffers for one row allocated at load.

use crate::linear::{LinearClassifier, LinearError, Scaler};
use crate::onnx::{GraphProto, ModelProto, NodeProto};
use crate::post::Scores;
use crate::trees::{TreeEnsemble, TreeError, NAN_SLOT};

/// Why the native engine cannot serve a model.
#[derive(Debug, thiserror::Error)]
pub enum NativeError {
    /// A node on the path it does not evaluate.
    #[error("{0}")]
    Unsupported(String),
    /// A tree ensemble refused.
    #[error(transparent)]
    Trees(#[from] TreeError),
    /// A linear node refused.
    #[error(transparent)]
    Linear(#[from] LinearError),
}

const ML: &str = "ai.onnx.ml";

/// What produces the scores.
#[derive(Clone, Debug)]
enum Head {
    Trees(TreeEnsemble),
    Linear(LinearClassifier),
}

/// A model evaluated natively, one row at a time.
#[derive(Clone, Debug)]
pub struct NativeModel {
    scaler: Option<Scaler>,
    head: Head,
    n_inputs: usize,
    /// The row being evaluated; 256 slots so a u8 feature index is always in bounds.
    row: Box<[f32; 256]>,
    scores: Scores,
    out: Vec<f32>,
}

fn producer<'g>(g: &'g GraphProto, value: &str) -> Option<(&'g NodeProto, usize)> {
    g.node
        .iter()
        .find_map(|n| n.output.iter().position(|o| o == value).map(|k| (n, k)))
}

fn is(n: &NodeProto, domain: &str, op: &str) -> bool {
    n.op() == op && n.domain.as_deref().unwrap_or("") == domain
}

impl NativeModel {
    /// Builds the engine for `output` of a model whose input is `n_inputs` wide.
    pub fn build(
        m: &ModelProto,
        output: &str,
        n_inputs: usize,
    ) -> Result<NativeModel, NativeError> {
        let g = m
            .graph
            .as_ref()
            .ok_or_else(|| NativeError::Unsupported("no graph".into()))?;
        let [input] = &g.input[..] else {
            return Err(NativeError::Unsupported(format!(
                "{} graph inputs",
                g.input.len()
            )));
        };
        let input = input.name.as_deref().unwrap_or("");
        let (head_node, slot) = Self::head_of(g, output)?;
        let head = match head_node.op() {
            "TreeEnsembleClassifier" | "TreeEnsembleRegressor" => {
                Head::Trees(TreeEnsemble::from_node(head_node)?)
            }
            _ => Head::Linear(LinearClassifier::from_node(head_node)?),
        };
        let wanted_slot = usize::from(head_node.op() != "TreeEnsembleRegressor");
        if slot != wanted_slot {
            return Err(NativeError::Unsupported(format!(
                "`{output}` is output {slot} of {}",
                head_node.label()
            )));
        }
        let scaler = match head_node.input.first().map(String::as_str) {
            Some(i) if i == input => None,
            Some(i) => Some(Self::scaler_of(g, i, input, n_inputs)?),
            None => {
                return Err(NativeError::Unsupported(format!(
                    "{} has no input",
                    head_node.label()
                )))
            }
        };
        let (reads, width) = match &head {
            Head::Trees(t) => (t.n_features(), t.outputs()),
            Head::Linear(l) => (l.n_features(), l.outputs()),
        };
        if reads > n_inputs || (matches!(head, Head::Linear(_)) && reads != n_inputs) {
            return Err(NativeError::Unsupported(format!(
                "the model reads {reads} features, the input has {n_inputs}"
            )));
        }
        if width != 2 {
            return Err(NativeError::Unsupported(format!(
                "`{output}` would have {width} columns, the stage reads 2"
            )));
        }
        if n_inputs >= NAN_SLOT {
            return Err(NativeError::Unsupported(format!(
                "{n_inputs} inputs (at most 254)"
            )));
        }
        let mut row = Box::new([0.0; 256]);
        row[NAN_SLOT] = f32::NAN;
        Ok(NativeModel {
            scaler,
            head,
            n_inputs,
            row,
            scores: Scores::with_capacity(16),
            out: vec![0.0; width],
        })
    }

    /// The node computing `output`, through `Identity`s, and which of its outputs it is.
    fn head_of<'g>(g: &'g GraphProto, output: &str) -> Result<(&'g NodeProto, usize), NativeError> {
        let mut value = output.to_owned();
        for _ in 0..=g.node.len() {
            let (n, k) = producer(g, &value).ok_or_else(|| {
                NativeError::Unsupported(format!("nothing in the graph computes `{value}`"))
            })?;
            if is(n, "", "Identity") {
                value = n.input.first().cloned().unwrap_or_default();
                continue;
            }
            let known = [
                "TreeEnsembleClassifier",
                "TreeEnsembleRegressor",
                "LinearClassifier",
            ];
            if known.iter().any(|op| is(n, ML, op)) {
                return Ok((n, k));
            }
            return Err(NativeError::Unsupported(format!(
                "operator {}::{} ({}) is not one the native engine evaluates",
                n.domain.as_deref().unwrap_or(""),
                n.op(),
                n.label()
            )));
        }
        Err(NativeError::Unsupported("a cycle of Identity nodes".into()))
    }

    fn scaler_of(
        g: &GraphProto,
        value: &str,
        input: &str,
        n: usize,
    ) -> Result<Scaler, NativeError> {
        match producer(g, value) {
            Some((s, 0)) if is(s, ML, "Scaler") && s.input.first().map(String::as_str) == Some(input) => {
                Ok(Scaler::from_node(s, n)?)
            }
            Some((s, _)) => Err(NativeError::Unsupported(format!(
                "operator {} ({}) between the input and the model is not one the native engine evaluates",
                s.op(),
                s.label()
            ))),
            None => Err(NativeError::Unsupported(format!("nothing in the graph computes `{value}`"))),
        }
    }

    /// What it evaluates, for the log.
    pub fn describe(&self) -> String {
        let scaler = if self.scaler.is_some() {
            "Scaler + "
        } else {
            ""
        };
        match &self.head {
            Head::Trees(t) => {
                let (trees, nodes, depth) = t.shape();
                format!("{scaler}{trees} trees, {nodes} nodes, depth {depth}")
            }
            Head::Linear(l) => format!("{scaler}linear classifier on {} features", l.n_features()),
        }
    }

    /// Evaluates one row of `n_inputs` features; the output row (2 columns).
    #[inline]
    pub fn eval(&mut self, x: &[f32]) -> &[f32] {
        debug_assert_eq!(x.len(), self.n_inputs);
        let row = &mut self.row[..self.n_inputs];
        row.copy_from_slice(x);
        if let Some(s) = &self.scaler {
            s.apply(row);
        }
        match &mut self.head {
            Head::Trees(t) => t.eval(&self.row, &mut self.scores, &mut self.out),
            Head::Linear(l) => l.eval(&self.row[..self.n_inputs], &mut self.out),
        }
        &self.out
    }

    /// Per feature, the values where the model's behaviour is decided: a
    /// tree's thresholds; for a scaled linear model, the standardised range
    /// (offset + k / scale for k in -4..=4); else none.
    pub fn thresholds(&self) -> Vec<Vec<f32>> {
        match (&self.head, &self.scaler) {
            (Head::Trees(t), _) => t.thresholds(self.n_inputs),
            (Head::Linear(_), Some(s)) => s.standard_range(4),
            (Head::Linear(_), None) => vec![Vec::new(); self.n_inputs],
        }
    }
}
