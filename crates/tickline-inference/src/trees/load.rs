//! Reading a tree-ensemble node into the packed table: attributes checked
//! (what is refused is named), trees laid out in level order, leaf weights
//! attached, lanes padded, nodes packed.

use std::collections::HashMap;

use super::*;
use crate::onnx::NodeProto;

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
}
