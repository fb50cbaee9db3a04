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

use std::collections::HashMap;

use crate::onnx::{NodeProto, OnnxError};
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

/// The attributes a node may have that this engine does not read, refused if present.
const REFUSED_ATTRS: &[&str] = &[
    "nodes_values_as_tensor",
    "nodes_hitrates_as_tensor",
    "class_weights_as_tensor",
    "target_weights_as_tensor",
    "base_values_as_tensor",
];

fn unsupported(node: &NodeProto, what: impl Into<String>) -> TreeError {
    TreeError::Unsupported {
        node: node.label(),
        what: what.into(),
    }
}

fn malformed(node: &NodeProto, what: impl Into<String>) -> TreeError {
    TreeError::Malformed {
        node: node.label(),
        what: what.into(),
    }
}

/// The per-node attribute columns, checked to be of equal length.
struct NodeColumns<'a> {
    tree: &'a [i64],
    id: &'a [i64],
    feature: &'a [i64],
    value: &'a [f32],
    modes: Vec<String>,
    t: &'a [i64],
    f: &'a [i64],
}

impl<'a> NodeColumns<'a> {
    fn read(node: &'a NodeProto) -> Result<Self, TreeError> {
        let c = NodeColumns {
            tree: node.ints("nodes_treeids")?,
            id: node.ints("nodes_nodeids")?,
            feature: node.ints("nodes_featureids")?,
            value: node.floats("nodes_values")?,
            modes: node.strings("nodes_modes")?,
            t: node.ints("nodes_truenodeids")?,
            f: node.ints("nodes_falsenodeids")?,
        };
        let n = c.tree.len();
        let lens = [
            c.id.len(),
            c.feature.len(),
            c.value.len(),
            c.modes.len(),
            c.t.len(),
            c.f.len(),
        ];
        if n == 0 || lens.iter().any(|&l| l != n) {
            return Err(malformed(
                node,
                format!(
                    "nodes_* attributes of unequal or zero length ({n} tree ids, others {lens:?})"
                ),
            ));
        }
        Ok(c)
    }
}

/// The leaf weight columns: classifier `class_*` or regressor `target_*`.
struct WeightColumns<'a> {
    tree: &'a [i64],
    node: &'a [i64],
    target: &'a [i64],
    weight: &'a [f32],
}

impl TreeEnsemble {
    /// Reads a `TreeEnsembleClassifier` or `TreeEnsembleRegressor` node.
    pub fn from_node(node: &NodeProto) -> Result<TreeEnsemble, TreeError> {
        for a in REFUSED_ATTRS {
            if node.attr(a).is_some() {
                return Err(unsupported(node, format!("attribute `{a}`")));
            }
        }
        if node
            .ints("nodes_missing_value_tracks_true")?
            .iter()
            .any(|&v| v != 0)
        {
            return Err(unsupported(
                node,
                "missing-value tracking (nodes_missing_value_tracks_true)",
            ));
        }
        let post_name = node.string("post_transform", "NONE")?;
        let post = Post::parse(&post_name)
            .ok_or_else(|| unsupported(node, format!("post_transform {post_name}")))?;
        let classifier = node.op() == "TreeEnsembleClassifier";
        let (weights, n_targets, kind) = if classifier {
            Self::classifier_parts(node)?
        } else {
            Self::regressor_parts(node)?
        };
        let base_values = node.floats("base_values")?.to_vec();
        let cols = NodeColumns::read(node)?;
        let mut e = TreeEnsemble {
            nodes: Vec::with_capacity(cols.tree.len()),
            roots: Vec::new(),
            max_depth: 0,
            lanes: Vec::new(),
            table: Vec::new(),
            table_modes: Vec::new(),
            uniform: None,
            spans: Vec::new(),
            weights: Vec::new(),
            single_target: None,
            n_targets,
            base_values,
            kind,
            post,
            n_features: 0,
            file_nodes: cols.tree.len(),
        };
        let index = e.build_nodes(node, &cols)?;
        if e.nodes.len() >= 1 << 24 {
            return Err(unsupported(
                node,
                format!("{} nodes (at most 2^24)", e.nodes.len()),
            ));
        }
        e.attach_weights(node, &weights, &index)?;
        e.pad_lanes();
        e.check_base_values(node)?;
        Ok(e)
    }

    fn classifier_parts(node: &NodeProto) -> Result<(WeightColumns<'_>, usize, Kind), TreeError> {
        let ints = node.ints("classlabels_int64s")?;
        let strings = node.strings("classlabels_strings")?;
        let n_classes = ints.len().max(strings.len());
        if n_classes < 2 {
            return Err(unsupported(
                node,
                format!("a classifier with {n_classes} class labels"),
            ));
        }
        let w = WeightColumns {
            tree: node.ints("class_treeids")?,
            node: node.ints("class_nodeids")?,
            target: node.ints("class_ids")?,
            weight: node.floats("class_weights")?,
        };
        let mut ids: Vec<i64> = w.target.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let kind = Kind::Classifier {
            binary_case: n_classes == 2 && ids.len() == 1,
            all_positive: w.weight.iter().all(|&v| v >= 0.0),
        };
        Ok((w, n_classes, kind))
    }

    fn regressor_parts(node: &NodeProto) -> Result<(WeightColumns<'_>, usize, Kind), TreeError> {
        let agg = node.string("aggregate_function", "SUM")?;
        let average = match agg.as_str() {
            "SUM" => false,
            "AVERAGE" => true,
            other => return Err(unsupported(node, format!("aggregate_function {other}"))),
        };
        let n = node.int("n_targets", 1)?;
        if !(1..=1024).contains(&n) {
            return Err(malformed(node, format!("n_targets {n}")));
        }
        let w = WeightColumns {
            tree: node.ints("target_treeids")?,
            node: node.ints("target_nodeids")?,
            target: node.ints("target_ids")?,
            weight: node.floats("target_weights")?,
        };
        Ok((w, n as usize, Kind::Regressor { average }))
    }
}

/// Nodes of one tree as read: (tree id, node id) to column index.
type Index = HashMap<(i64, i64), usize>;

impl TreeEnsemble {
    /// Lays every tree out in level order, leaves pointing to themselves.
    /// Returns where each (tree, node id) went.
    fn build_nodes(&mut self, node: &NodeProto, c: &NodeColumns<'_>) -> Result<Index, TreeError> {
        let mut by_id: Index = HashMap::with_capacity(c.tree.len());
        let mut trees: Vec<i64> = Vec::new();
        for (k, (&t, &id)) in c.tree.iter().zip(c.id).enumerate() {
            if by_id.insert((t, id), k).is_some() {
                return Err(malformed(node, format!("tree {t} has node id {id} twice")));
            }
            if trees.last() != Some(&t) && !trees.contains(&t) {
                trees.push(t);
            }
        }
        let children: std::collections::HashSet<(i64, i64)> = (0..c.tree.len())
            .filter(|&k| c.modes[k] != "LEAF")
            .flat_map(|k| [(c.tree[k], c.t[k]), (c.tree[k], c.f[k])])
            .collect();
        let mut roots: HashMap<i64, Vec<usize>> = HashMap::new();
        for (&(t, id), &k) in &by_id {
            if !children.contains(&(t, id)) {
                roots.entry(t).or_default().push(k);
            }
        }
        let mut placed: Index = HashMap::with_capacity(c.tree.len());
        let mut modes = Vec::new();
        for &t in &trees {
            let root = match roots.get(&t).map(Vec::as_slice) {
                Some(&[r]) => r,
                Some([]) | None => {
                    return Err(malformed(node, format!("tree {t} has no root (a cycle)")))
                }
                Some(_) => return Err(malformed(node, format!("tree {t} has more than one root"))),
            };
            let depth = self.place_tree(node, c, t, root, &by_id, &mut placed, &mut modes)?;
            self.max_depth = self.max_depth.max(depth);
        }
        modes.sort_unstable_by_key(|m: &Mode| *m as u8);
        modes.dedup();
        self.uniform = (modes.len() == 1).then(|| modes[0]);
        debug_assert_eq!(self.roots.len(), trees.len());
        Ok(placed)
    }

    /// Places tree `t` breadth-first from `root`; returns its depth.
    #[allow(clippy::too_many_arguments)]
    fn place_tree(
        &mut self,
        node: &NodeProto,
        c: &NodeColumns<'_>,
        t: i64,
        root: usize,
        by_id: &Index,
        placed: &mut Index,
        modes: &mut Vec<Mode>,
    ) -> Result<u8, TreeError> {
        let first = self.nodes.len();
        self.roots.push(first as u32);
        // (column index, depth) in level order; a node's children are queued
        // when it is placed, so their slots are known when it is written.
        let mut queue = vec![(root, 0usize)];
        let mut depth = 0;
        let mut head = 0;
        while head < queue.len() {
            let (k, d) = queue[head];
            let me = (first + head) as u32;
            head += 1;
            if placed.insert((t, c.id[k]), me as usize).is_some() {
                return Err(malformed(
                    node,
                    format!("tree {t}: node {} is reached twice", c.id[k]),
                ));
            }
            let mode = Mode::parse(&c.modes[k])
                .ok_or_else(|| unsupported(node, format!("nodes_modes {}", c.modes[k])))?;
            let Some(mode) = mode else {
                depth = depth.max(d);
                self.nodes.push(Node {
                    value: 0.0,
                    next: me,
                    inner: 0,
                    feature: 0,
                    mode: 0,
                });
                continue;
            };
            let feature = u8::try_from(c.feature[k])
                .ok()
                .filter(|&f| (f as usize) < NAN_SLOT)
                .ok_or_else(|| {
                    unsupported(
                        node,
                        format!("feature index {} (at most 254)", c.feature[k]),
                    )
                })?;
            let child = |id: i64| {
                by_id.get(&(t, id)).copied().ok_or_else(|| {
                    malformed(
                        node,
                        format!("tree {t}: node {} points to missing node {id}", c.id[k]),
                    )
                })
            };
            let (fk, tk) = (child(c.f[k])?, child(c.t[k])?);
            let slot = (first + queue.len()) as u32;
            queue.push((fk, d + 1));
            queue.push((tk, d + 1));
            modes.push(mode);
            self.n_features = self.n_features.max(feature as usize + 1);
            self.nodes.push(Node {
                value: c.value[k],
                feature,
                mode: mode as u8, // MODES lists the variants in declaration order
                next: slot,
                inner: 1,
            });
        }
        u8::try_from(depth)
            .map_err(|_| unsupported(node, format!("tree {t} of depth {depth} (at most 255)")))
    }
}

impl TreeEnsemble {
    /// Puts each leaf's weights beside it; one weight per leaf on one target
    /// goes into the leaf itself (the fast path).
    fn attach_weights(
        &mut self,
        node: &NodeProto,
        w: &WeightColumns<'_>,
        placed: &Index,
    ) -> Result<(), TreeError> {
        let n = w.tree.len();
        if [w.node.len(), w.target.len(), w.weight.len()]
            .iter()
            .any(|&l| l != n)
        {
            return Err(malformed(node, "leaf weight attributes of unequal length"));
        }
        let mut per_leaf: Vec<Vec<(u32, f32)>> = vec![Vec::new(); self.nodes.len()];
        for k in 0..n {
            let at = *placed.get(&(w.tree[k], w.node[k])).ok_or_else(|| {
                malformed(
                    node,
                    format!(
                        "a weight for missing node {} of tree {}",
                        w.node[k], w.tree[k]
                    ),
                )
            })?;
            if !self.nodes[at].is_leaf() {
                return Err(malformed(
                    node,
                    format!("a weight on inner node {} of tree {}", w.node[k], w.tree[k]),
                ));
            }
            let target = usize::try_from(w.target[k])
                .ok()
                .filter(|&t| t < self.n_targets)
                .ok_or_else(|| {
                    malformed(
                        node,
                        format!(
                            "weight for class or target {} of {}",
                            w.target[k], self.n_targets
                        ),
                    )
                })?;
            per_leaf[at].push((target as u32, w.weight[k]));
        }
        let leaves = || (0..self.nodes.len()).filter(|&i| self.nodes[i].is_leaf());
        let first_target = leaves().find_map(|i| per_leaf[i].first().map(|p| p.0));
        self.single_target = first_target
            .filter(|&t| leaves().all(|i| per_leaf[i].len() == 1 && per_leaf[i][0].0 == t));
        for (i, ws) in per_leaf.iter().enumerate() {
            self.spans
                .push((self.weights.len() as u32, ws.len() as u32));
            self.weights.extend_from_slice(ws);
            if self.single_target.is_some() && ws.len() == 1 {
                self.nodes[i].value = ws[0].1;
            }
        }
        Ok(())
    }

    /// The lanes: every root, then an empty leaf (no weight, value 0) up to
    /// a multiple of [`LANES`].
    fn pad_lanes(&mut self) {
        self.lanes = self.roots.clone();
        if !self.roots.len().is_multiple_of(LANES) {
            let empty = self.nodes.len() as u32;
            self.nodes.push(Node {
                value: 0.0,
                next: empty,
                inner: 0,
                feature: 0,
                mode: 0,
            });
            self.spans.push((self.weights.len() as u32, 0));
            while !self.lanes.len().is_multiple_of(LANES) {
                self.lanes.push(empty);
            }
        }
        self.pack();
    }

    /// The walk's tables: 8-byte nodes and their modes, padded to a power
    /// of two so a masked index is always in bounds.
    fn pack(&mut self) {
        let size = self.nodes.len().next_power_of_two();
        let nan = NAN_SLOT as u32;
        self.table = vec![
            Packed {
                threshold: 0.0,
                link: nan
            };
            size
        ];
        self.table_modes = vec![LEAF_MODE; size];
        for (i, n) in self.nodes.iter().enumerate() {
            debug_assert!(n.next < 1 << 24 && (n.feature as usize) < NAN_SLOT);
            self.table[i] = if n.is_leaf() {
                Packed {
                    threshold: n.value,
                    link: n.next << 8 | nan,
                }
            } else {
                self.table_modes[i] = n.mode;
                Packed {
                    threshold: n.value,
                    link: n.next << 8 | n.feature as u32,
                }
            };
        }
    }

    fn check_base_values(&self, node: &NodeProto) -> Result<(), TreeError> {
        let (b, n) = (self.base_values.len(), self.n_targets);
        let ok = match self.kind {
            Kind::Classifier { .. } if n == 2 => b <= 2,
            Kind::Classifier { .. } => b == 0 || b == n,
            Kind::Regressor { .. } if n == 1 => b <= 1,
            Kind::Regressor { .. } => b == 0 || b == n,
        };
        if ok {
            Ok(())
        } else {
            Err(malformed(
                node,
                format!("{b} base_values for {n} classes or targets"),
            ))
        }
    }

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
