//! The part of ONNX's protobuf schema (`onnx.proto`, IR version 3 and up)
//! the native engines read, declared with prost: field numbers as in the
//! schema, everything else skipped by the decoder. Plus typed access to a
//! node's attributes.

use std::collections::HashMap;

use prost::Message;

/// `ModelProto`.
#[derive(Clone, PartialEq, Message)]
pub struct ModelProto {
    /// The IR version the file was written for.
    #[prost(int64, optional, tag = "1")]
    pub ir_version: Option<i64>,
    /// The operator sets the graph uses.
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
    /// The tool that wrote it.
    #[prost(string, optional, tag = "2")]
    pub producer_name: Option<String>,
    /// The graph.
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    /// Free-form metadata (the feature set's identity lives here).
    #[prost(message, repeated, tag = "14")]
    pub metadata_props: Vec<StringStringEntryProto>,
}

/// `OperatorSetIdProto`.
#[derive(Clone, PartialEq, Message)]
pub struct OperatorSetIdProto {
    /// "" (or "ai.onnx") for the default domain, "ai.onnx.ml" for ONNX-ML.
    #[prost(string, optional, tag = "1")]
    pub domain: Option<String>,
    /// Its version.
    #[prost(int64, optional, tag = "2")]
    pub version: Option<i64>,
}

/// `StringStringEntryProto`.
#[derive(Clone, PartialEq, Message)]
pub struct StringStringEntryProto {
    /// Key.
    #[prost(string, optional, tag = "1")]
    pub key: Option<String>,
    /// Value.
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

/// `GraphProto`.
#[derive(Clone, PartialEq, Message)]
pub struct GraphProto {
    /// Nodes, in topological order.
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    /// Constant tensors.
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    /// Graph inputs.
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    /// Graph outputs.
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
}

/// `ValueInfoProto` (the name is all the engines need; ORT checks types).
#[derive(Clone, PartialEq, Message)]
pub struct ValueInfoProto {
    /// The value's name.
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
}

/// `NodeProto`.
#[derive(Clone, PartialEq, Message)]
pub struct NodeProto {
    /// Input value names.
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    /// Output value names.
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    /// The node's name (for messages).
    #[prost(string, optional, tag = "3")]
    pub name: Option<String>,
    /// The operator.
    #[prost(string, optional, tag = "4")]
    pub op_type: Option<String>,
    /// Its attributes.
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    /// The operator's domain.
    #[prost(string, optional, tag = "7")]
    pub domain: Option<String>,
}

/// `AttributeProto`: one value of the kind `type` says.
#[derive(Clone, PartialEq, Message)]
pub struct AttributeProto {
    /// Attribute name.
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// A float.
    #[prost(float, optional, tag = "2")]
    pub f: Option<f32>,
    /// An int.
    #[prost(int64, optional, tag = "3")]
    pub i: Option<i64>,
    /// A string (bytes).
    #[prost(bytes = "vec", optional, tag = "4")]
    pub s: Option<Vec<u8>>,
    /// A tensor.
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
    /// Floats.
    #[prost(float, repeated, tag = "7")]
    pub floats: Vec<f32>,
    /// Ints.
    #[prost(int64, repeated, tag = "8")]
    pub ints: Vec<i64>,
    /// Strings.
    #[prost(bytes = "vec", repeated, tag = "9")]
    pub strings: Vec<Vec<u8>>,
    /// `AttributeType`: 1 float, 2 int, 3 string, 4 tensor, 6 floats, 7 ints, 8 strings.
    #[prost(int32, optional, tag = "20")]
    pub r#type: Option<i32>,
}

/// `TensorProto` (dense, in the file; external data is refused).
#[derive(Clone, PartialEq, Message)]
pub struct TensorProto {
    /// Shape.
    #[prost(int64, repeated, tag = "1")]
    pub dims: Vec<i64>,
    /// Element type: 1 float, 7 int64, 11 double.
    #[prost(int32, optional, tag = "2")]
    pub data_type: Option<i32>,
    /// Float elements (when not raw).
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    /// Name (initializers).
    #[prost(string, optional, tag = "8")]
    pub name: Option<String>,
    /// Little-endian elements.
    #[prost(bytes = "vec", optional, tag = "9")]
    pub raw_data: Option<Vec<u8>>,
}

/// Why a file is not a model the native engines can read.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// Not a protobuf `ModelProto` (corrupt or truncated).
    #[error("not a valid ONNX model (protobuf decode failed: {0})")]
    Decode(#[from] prost::DecodeError),
    /// The model has no graph.
    #[error("the model has no graph")]
    NoGraph,
    /// An attribute has another kind than the operator defines.
    #[error("node `{node}`: attribute `{attr}` is not a {want}")]
    AttrKind {
        /// The node.
        node: String,
        /// The attribute.
        attr: String,
        /// The kind expected.
        want: &'static str,
    },
}

/// Decodes a model file's bytes.
pub fn decode(bytes: &[u8]) -> Result<ModelProto, OnnxError> {
    let m = ModelProto::decode(bytes)?;
    if m.graph.is_none() {
        return Err(OnnxError::NoGraph);
    }
    Ok(m)
}

impl ModelProto {
    /// The metadata as a map.
    pub fn metadata(&self) -> HashMap<String, String> {
        self.metadata_props
            .iter()
            .map(|e| {
                (
                    e.key.clone().unwrap_or_default(),
                    e.value.clone().unwrap_or_default(),
                )
            })
            .collect()
    }
}

impl NodeProto {
    /// The operator's name.
    pub fn op(&self) -> &str {
        self.op_type.as_deref().unwrap_or("")
    }

    /// A name for messages: the node's own, else its operator and first output.
    pub fn label(&self) -> String {
        match self.name.as_deref() {
            Some(n) if !n.is_empty() => format!("{n} ({})", self.op()),
            _ => format!("{} -> {:?}", self.op(), self.output.first()),
        }
    }

    /// Attribute `name`, if the node has it.
    pub fn attr(&self, name: &str) -> Option<&AttributeProto> {
        self.attribute
            .iter()
            .find(|a| a.name.as_deref() == Some(name))
    }

    /// The names of all its attributes.
    pub fn attr_names(&self) -> impl Iterator<Item = &str> {
        self.attribute.iter().filter_map(|a| a.name.as_deref())
    }

    fn kind_err(&self, attr: &str, want: &'static str) -> OnnxError {
        OnnxError::AttrKind {
            node: self.label(),
            attr: attr.to_owned(),
            want,
        }
    }

    /// A list of ints (empty when absent).
    pub fn ints(&self, name: &str) -> Result<&[i64], OnnxError> {
        match self.attr(name) {
            None => Ok(&[]),
            Some(a) if matches!(a.r#type, Some(7) | None) => Ok(&a.ints),
            Some(_) => Err(self.kind_err(name, "list of ints")),
        }
    }

    /// A list of floats (empty when absent).
    pub fn floats(&self, name: &str) -> Result<&[f32], OnnxError> {
        match self.attr(name) {
            None => Ok(&[]),
            Some(a) if matches!(a.r#type, Some(6) | None) => Ok(&a.floats),
            Some(_) => Err(self.kind_err(name, "list of floats")),
        }
    }

    /// A list of strings (empty when absent).
    pub fn strings(&self, name: &str) -> Result<Vec<String>, OnnxError> {
        match self.attr(name) {
            None => Ok(Vec::new()),
            Some(a) if matches!(a.r#type, Some(8) | None) => Ok(a
                .strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()),
            Some(_) => Err(self.kind_err(name, "list of strings")),
        }
    }

    /// A string, or `default` when absent.
    pub fn string(&self, name: &str, default: &str) -> Result<String, OnnxError> {
        match self.attr(name) {
            None => Ok(default.to_owned()),
            Some(a) if matches!(a.r#type, Some(3) | None) => {
                Ok(String::from_utf8_lossy(a.s.as_deref().unwrap_or_default()).into_owned())
            }
            Some(_) => Err(self.kind_err(name, "string")),
        }
    }

    /// An int, or `default` when absent.
    pub fn int(&self, name: &str, default: i64) -> Result<i64, OnnxError> {
        match self.attr(name) {
            None => Ok(default),
            Some(a) if matches!(a.r#type, Some(2) | None) => Ok(a.i.unwrap_or(default)),
            Some(_) => Err(self.kind_err(name, "int")),
        }
    }
}
