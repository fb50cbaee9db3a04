//! ONNX-ML `TreeEnsembleClassifier` and `TreeEnsembleRegressor`, evaluated
//! natively with ONNX Runtime's semantics (its CPU kernel is the reference
//! the load-time parity check holds this to).
//!
//! Layout: every tree in level order in one table of 8-byte nodes, a node's
//! children adjacent, so a step is `next + (x <= t)` with no branch; a leaf
//! links to itself (and reads the row's NaN slot, so it stays), so every walk
//! takes the ensemble's depth in steps, and keeps its weight where an inner
//! node keeps its threshold. Features are read from a 256-slot row, so a `u8`
//! feature index needs no bounds check; node indices are masked into the
//! power-of-two table, so they need none either.

mod load;

use crate::onnx::OnnxError;
use crate::post::{Post, Scores};

/// Why a tree ensemble is refused.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// An attribute has the wrong kind.
    #[error(transparent)]
    Attr(#[from] OnnxError),
    /// Something this engine does not evaluate (so never approximates).
    #[error("node `{node}`: {what} is not supported by the native engine")]
    Unsupported {
        /// The node.
        node: String,
        /// What.
        what: String,
    },
    /// The attributes contradict each other.
    #[error("node `{node}`: {what}")]
    Malformed {
        /// The node.
        node: String,
        /// What is wrong.
        what: String,
    },
}

/// How a node compares its feature with its threshold (true: take the true branch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
}

impl Mode {
    fn parse(s: &str) -> Option<Option<Mode>> {
        Some(Some(match s {
            "BRANCH_LEQ" => Mode::Leq,
            "BRANCH_LT" => Mode::Lt,
            "BRANCH_GTE" => Mode::Gte,
            "BRANCH_GT" => Mode::Gt,
            "BRANCH_EQ" => Mode::Eq,
            "BRANCH_NEQ" => Mode::Neq,
            "LEAF" => return Some(None),
            _ => return None,
        }))
    }

    /// The comparison, written as ONNX Runtime writes it (NaN takes the false
    /// branch, but under NEQ).
    #[inline(always)]
    fn test(self, x: f32, t: f32) -> bool {
        match self {
            Mode::Leq => x <= t,
            Mode::Lt => x < t,
            Mode::Gte => x >= t,
            Mode::Gt => x > t,
            Mode::Eq => x == t,
            Mode::Neq => x != t,
        }
    }
}

/// One node: 16 bytes. An inner node's children are adjacent (false at
/// `next`, true at `next + 1`); a leaf has `next` itself, `inner` 0 and its
/// first weight in `value`.
#[derive(Clone, Copy, Debug)]
struct Node {
    value: f32,
    next: u32,
    /// 1 for an inner node, 0 for a leaf.
    inner: u32,
    feature: u8,
    mode: u8,
}

impl Node {
    fn is_leaf(&self) -> bool {
        self.inner == 0
    }
}

/// A node as the walk reads it: 8 bytes. `link` is the false child's index
/// shifted left 8, or'ed with the feature index. A leaf links to itself and
/// reads feature slot [`NAN_SLOT`], always NaN, which every comparison but
/// NEQ calls false; its `threshold` holds its weight, so the sum reads the
/// cache lines the walk just read.
#[derive(Clone, Copy, Debug)]
struct Packed {
    threshold: f32,
    link: u32,
}

/// The row slot a leaf reads: NaN in every row the engine evaluates.
pub const NAN_SLOT: usize = 255;

/// The mode index of a leaf in the walk's mode table: compares false.
const LEAF_MODE: u8 = MODES.len() as u8;

/// Trees walked side by side.
const LANES: usize = 8;

/// Every mode, in declaration order (a mode's index is `mode as u8`).
const MODES: [Mode; 6] = [
    Mode::Leq,
    Mode::Lt,
    Mode::Gte,
    Mode::Gt,
    Mode::Eq,
    Mode::Neq,
];

/// What the leaves add up to.
#[derive(Clone, Debug)]
enum Kind {
    Classifier {
        /// One class id among two labels (ONNX Runtime's `binary_case_`).
        binary_case: bool,
        all_positive: bool,
    },
    Regressor {
        average: bool,
    },
}

/// A tree ensemble ready to evaluate.
#[derive(Clone, Debug)]
pub struct TreeEnsemble {
    nodes: Vec<Node>,
    roots: Vec<u32>,
    /// `nodes` packed for the walk, padded with empty leaves to a power-of-two length.
    table: Vec<Packed>,
    /// Per table slot: its mode index (`LEAF_MODE` for a leaf).
    table_modes: Vec<u8>,
    /// The roots, padded with an empty leaf to a multiple of [`LANES`].
    lanes: Vec<u32>,
    /// The deepest tree's depth: every walk takes this many steps.
    max_depth: u8,
    /// The mode every inner node has, when they all have the same one.
    uniform: Option<Mode>,
    /// Per node, the span of its weights in `weights` (empty but for leaves).
    spans: Vec<(u32, u32)>,
    /// Leaf weights, (target, weight), each leaf's in file order.
    weights: Vec<(u32, f32)>,
    /// Every leaf has exactly one weight, all on this target.
    single_target: Option<u32>,
    /// Classes (labels) or regression targets.
    n_targets: usize,
    base_values: Vec<f32>,
    kind: Kind,
    post: Post,
    /// Largest feature index read, plus one.
    n_features: usize,
    /// Nodes in the file (`nodes` may add an empty leaf for padding).
    file_nodes: usize,
}

impl TreeEnsemble {
    /// Columns of the output it writes (probabilities or targets).
    pub fn outputs(&self) -> usize {
        self.n_targets
    }

    /// Largest feature index read, plus one.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Trees, nodes and depth, for the log.
    pub fn shape(&self) -> (usize, usize, u8) {
        (self.roots.len(), self.file_nodes, self.max_depth)
    }

    /// Evaluates one row (features in its first slots) into `out` (`outputs()` wide).
    pub fn eval(&self, row: &[f32; 256], s: &mut Scores, out: &mut [f32]) {
        debug_assert!(row[NAN_SLOT].is_nan(), "leaves read the NaN slot");
        s.clear(self.n_targets);
        match self.uniform {
            Some(Mode::Leq) => self.add_leaves(row, s, |x, t, _| x <= t),
            Some(Mode::Lt) => self.add_leaves(row, s, |x, t, _| x < t),
            Some(Mode::Gte) => self.add_leaves(row, s, |x, t, _| x >= t),
            Some(Mode::Gt) => self.add_leaves(row, s, |x, t, _| x > t),
            Some(Mode::Eq) => self.add_leaves(row, s, |x, t, _| x == t),
            // NEQ calls a leaf's NaN true: the mode table says which slots are leaves.
            _ => self.add_leaves(row, s, |x, t, m| {
                MODES.get(m as usize).is_some_and(|m| m.test(x, t))
            }),
        }
        match self.kind {
            Kind::Classifier {
                binary_case,
                all_positive,
            } => s.finish_classifier(&self.base_values, binary_case, all_positive, self.post, out),
            Kind::Regressor { average } => s.finish_regressor(
                &self.base_values,
                average.then_some(self.roots.len()),
                self.post,
                out,
            ),
        }
    }

    /// The leaf each tree reaches, added in tree order (ONNX Runtime's order
    /// on one thread, so the sums round the same way). Trees walk [`LANES`]
    /// at a time, level by level: the steps of one group are independent, so
    /// the core overlaps them (and the previous group's additions), and no
    /// step branches. The last group is padded with an empty leaf, which
    /// adds nothing.
    #[inline(always)]
    fn add_leaves(&self, row: &[f32; 256], s: &mut Scores, test: impl Fn(f32, f32, u8) -> bool) {
        let mut sum = 0.0f32;
        // Indices are masked to the power-of-two tables: no bounds checks in the walk.
        let mask = self.table.len() - 1;
        let (table, modes) = (&self.table[..=mask], &self.table_modes[..=mask]);
        for group in self.lanes.chunks_exact(LANES) {
            let mut at = [0u32; LANES];
            at.copy_from_slice(group);
            for _ in 0..self.max_depth {
                for i in at.iter_mut() {
                    let k = *i as usize & mask;
                    let n = table[k];
                    let x = row[(n.link & 0xff) as usize];
                    *i = (n.link >> 8) + test(x, n.threshold, modes[k]) as u32;
                }
            }
            debug_assert!(at.iter().all(|&i| self.nodes[i as usize].is_leaf()));
            if self.single_target.is_some() {
                for &i in &at {
                    sum += table[i as usize & mask].threshold;
                }
                continue;
            }
            for &i in &at {
                let (start, len) = self.spans[i as usize];
                for &(target, w) in &self.weights[start as usize..(start + len) as usize] {
                    s.add(target as usize, w);
                }
            }
        }
        if let Some(target) = self.single_target {
            s.add(target as usize, sum);
        }
    }
}

impl TreeEnsemble {
    /// Each feature's thresholds, sorted and deduplicated (for parity vectors).
    pub fn thresholds(&self, n: usize) -> Vec<Vec<f32>> {
        let mut out = vec![Vec::new(); n];
        for node in &self.nodes {
            if !node.is_leaf() && (node.feature as usize) < n && node.value.is_finite() {
                out[node.feature as usize].push(node.value);
            }
        }
        for v in &mut out {
            v.sort_by(f32::total_cmp);
            v.dedup();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::AttributeProto;
    use crate::onnx::NodeProto;

    fn ints(name: &str, v: &[i64]) -> AttributeProto {
        AttributeProto {
            name: Some(name.into()),
            ints: v.to_vec(),
            r#type: Some(7),
            ..Default::default()
        }
    }

    fn floats(name: &str, v: &[f32]) -> AttributeProto {
        AttributeProto {
            name: Some(name.into()),
            floats: v.to_vec(),
            r#type: Some(6),
            ..Default::default()
        }
    }

    fn strings(name: &str, v: &[&str]) -> AttributeProto {
        let strings = v.iter().map(|s| s.as_bytes().to_vec()).collect();
        AttributeProto {
            name: Some(name.into()),
            strings,
            r#type: Some(8),
            ..Default::default()
        }
    }

    /// A regressor of one tree: node 0 tests feature `f` <= 0.5, leaves 1
    /// (true, weight 10) and 2 (false, weight 20); `edit` breaks it.
    fn regressor(f: i64, edit: impl FnOnce(&mut Vec<AttributeProto>)) -> NodeProto {
        let mut a = vec![
            ints("nodes_treeids", &[0, 0, 0]),
            ints("nodes_nodeids", &[0, 1, 2]),
            ints("nodes_featureids", &[f, 0, 0]),
            floats("nodes_values", &[0.5, 0.0, 0.0]),
            strings("nodes_modes", &["BRANCH_LEQ", "LEAF", "LEAF"]),
            ints("nodes_truenodeids", &[1, 0, 0]),
            ints("nodes_falsenodeids", &[2, 0, 0]),
            ints("target_treeids", &[0, 0]),
            ints("target_nodeids", &[1, 2]),
            ints("target_ids", &[0, 0]),
            floats("target_weights", &[10.0, 20.0]),
        ];
        edit(&mut a);
        NodeProto {
            op_type: Some("TreeEnsembleRegressor".into()),
            attribute: a,
            ..Default::default()
        }
    }

    fn set(a: &mut [AttributeProto], v: AttributeProto) {
        let slot = a.iter_mut().find(|x| x.name == v.name).unwrap();
        *slot = v;
    }

    fn eval(e: &TreeEnsemble, x0: f32) -> f32 {
        let mut row = [0.0f32; 256];
        row[0] = x0;
        row[NAN_SLOT] = f32::NAN;
        let mut out = [0.0f32];
        e.eval(&row, &mut Scores::with_capacity(1), &mut out);
        out[0]
    }

    #[test]
    fn a_small_tree_takes_the_branch_onnx_says() {
        let e = TreeEnsemble::from_node(&regressor(0, |_| {})).unwrap();
        assert_eq!(
            (eval(&e, 0.5), eval(&e, 0.50001), eval(&e, -3.0)),
            (10.0, 20.0, 10.0)
        );
        assert_eq!(eval(&e, f32::NAN), 20.0, "NaN takes the false branch");
        assert_eq!(e.shape(), (1, 3, 1));
    }

    #[test]
    fn broken_trees_are_refused_naming_what() {
        let cases: Vec<(NodeProto, &str)> = vec![
            (
                regressor(0, |a| {
                    set(a, ints("nodes_treeids", &[0, 0]));
                    set(a, ints("nodes_nodeids", &[0, 1]));
                    set(a, ints("nodes_featureids", &[0, 0]));
                    set(a, floats("nodes_values", &[0.5, 0.0]));
                    set(a, strings("nodes_modes", &["BRANCH_LEQ", "LEAF"]));
                    set(a, ints("nodes_truenodeids", &[1, 0]));
                    set(a, ints("nodes_falsenodeids", &[7, 0]));
                    set(a, ints("target_treeids", &[0]));
                    set(a, ints("target_nodeids", &[1]));
                    set(a, ints("target_ids", &[0]));
                    set(a, floats("target_weights", &[10.0]));
                }),
                "points to missing node 7",
            ),
            (
                regressor(0, |a| set(a, ints("nodes_truenodeids", &[7, 0, 0]))),
                "more than one root",
            ),
            (
                regressor(0, |a| set(a, ints("nodes_nodeids", &[0, 1, 1]))),
                "node id 1 twice",
            ),
            (
                regressor(0, |a| {
                    set(
                        a,
                        strings("nodes_modes", &["BRANCH_LEQ", "BRANCH_LEQ", "LEAF"]),
                    );
                    set(a, ints("nodes_truenodeids", &[1, 0, 0]));
                    set(a, ints("nodes_falsenodeids", &[2, 2, 0]));
                }),
                "no root",
            ),
            (
                regressor(0, |a| set(a, ints("target_nodeids", &[0, 2]))),
                "a weight on inner node 0",
            ),
            (regressor(300, |_| {}), "feature index 300"),
            (
                regressor(0, |a| {
                    set(a, strings("nodes_modes", &["BRANCH_MAYBE", "LEAF", "LEAF"]))
                }),
                "BRANCH_MAYBE",
            ),
            (
                regressor(0, |a| set(a, ints("nodes_featureids", &[0, 0]))),
                "unequal",
            ),
            (
                regressor(0, |a| {
                    a.push(ints("nodes_missing_value_tracks_true", &[1, 0, 0]))
                }),
                "missing-value",
            ),
        ];
        for (node, needle) in cases {
            let err = TreeEnsemble::from_node(&node)
                .expect_err(needle)
                .to_string();
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }
}
