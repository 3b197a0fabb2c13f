//! The shape of GetMetrics' system_info JSON, read straight from the text into the few fields
//! the `nodes` check keeps. The reply is a peer's and may lie, so nothing here builds a JSON
//! tree: a field of the wrong type is remembered as what it was ([`Scalar`]), an object or
//! list where a number belongs is skipped without being held ([`IgnoredAny`]), at most
//! [`MAX_NODES`](super::MAX_NODES) nodes and [`MAX_BINLOG_ENTRIES`] binlog sizes are kept, and
//! the rest is only counted. A 4 MiB reply of a million tiny values used to become a tree of
//! 32-byte values; now it costs what is kept.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::super::grpc::clip;

/// Binlog sizes kept from datacoord's report: Milvus's own default limit on collections
/// (`rootCoord.maxGeneralCapacity` allows 65,536).
pub const MAX_BINLOG_ENTRIES: usize = 65_536;

/// A JSON value where a scalar is expected: the scalar, or what stood there instead.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Scalar {
    #[default]
    Missing,
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// Clipped to one bounded line as it is read.
    Text(String),
    /// `a list` or `an object`, skipped.
    Other(&'static str),
}

impl Scalar {
    /// An integer that fits i64 (serde gives non-negative numbers as unsigned).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Scalar::Int(i) => Some(*i),
            Scalar::UInt(u) => i64::try_from(*u).ok(),
            _ => None,
        }
    }

    /// How an error message shows it.
    pub fn describe(&self) -> String {
        match self {
            Scalar::Missing => "missing".into(),
            Scalar::Null => "null".into(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::UInt(u) => u.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Text(s) => format!("{s:?}"),
            Scalar::Other(what) => (*what).to_string(),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::UInt(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Text(clip(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other("a list"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other("an object"))
    }
}

/// A JSON value where an object is expected: the object read as `T`, or what stood there.
#[derive(Debug, Default)]
pub enum Obj<T> {
    #[default]
    Missing,
    Is(T),
    Not(&'static str),
}

impl<T> Obj<T> {
    pub fn get(&self) -> Option<&T> {
        match self {
            Obj::Is(t) => Some(t),
            _ => None,
        }
    }

    /// What stood where the object belongs, when something else did.
    pub fn wrong(&self) -> Option<&'static str> {
        match self {
            Obj::Not(what) => Some(what),
            _ => None,
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ObjVisitor(PhantomData))
    }
}

struct ObjVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjVisitor<T> {
    type Value = Obj<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Obj::Is)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Obj<T>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Obj::Not("a list"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Obj<T>, E> {
        Ok(Obj::Not("true or false"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Obj<T>, E> {
        Ok(Obj::Not("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Obj<T>, E> {
        Ok(Obj::Not("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Obj<T>, E> {
        Ok(Obj::Not("a number"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Obj<T>, E> {
        Ok(Obj::Not("text"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Obj<T>, E> {
        Ok(Obj::Missing)
    }
    fn visit_none<E: de::Error>(self) -> Result<Obj<T>, E> {
        Ok(Obj::Missing)
    }
}

/// The whole reply. Unknown keys are skipped, as every struct here skips them.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Doc {
    pub nodes_info: NodeList,
}

/// `nodes_info`: the first [`MAX_NODES`](super::MAX_NODES) entries, and how many there were.
#[derive(Debug, Default)]
pub enum NodeList {
    #[default]
    Missing,
    Not,
    Nodes {
        kept: Vec<Obj<Entry>>,
        total: usize,
    },
}

impl<'de> Deserialize<'de> for NodeList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeListVisitor)
    }
}

struct NodeListVisitor;

impl<'de> Visitor<'de> for NodeListVisitor {
    type Value = NodeList;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of nodes")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeList, A::Error> {
        let mut kept = Vec::new();
        let mut total = 0usize;
        loop {
            if kept.len() < super::MAX_NODES {
                match seq.next_element::<Obj<Entry>>()? {
                    Some(e) => kept.push(e),
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            total += 1;
        }
        Ok(NodeList::Nodes { kept, total })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeList, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(NodeList::Not)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<NodeList, E> {
        Ok(NodeList::Not)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<NodeList, E> {
        Ok(NodeList::Not)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<NodeList, E> {
        Ok(NodeList::Not)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<NodeList, E> {
        Ok(NodeList::Not)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<NodeList, E> {
        Ok(NodeList::Not)
    }
    fn visit_unit<E: de::Error>(self) -> Result<NodeList, E> {
        Ok(NodeList::Missing)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Entry {
    pub identifier: Scalar,
    pub connected: Edges,
    pub infos: Obj<Infos>,
}

/// Edges kept from one node's `connected` list: a coordinator's `manage` edges name the role
/// of each node it manages by that node's identifier, which is all a failed node's
/// placeholder (`type ""`) has left. At most [`MAX_EDGES`] are kept.
#[derive(Debug, Default)]
pub struct Edges(pub Vec<(i64, String)>);

/// Edges kept per node: a coordinator manages at most as many nodes as are read.
pub const MAX_EDGES: usize = super::MAX_NODES;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Edge {
    connected_identifier: Scalar,
    #[serde(rename = "type")]
    kind: Scalar,
    target_type: Scalar,
}

impl<'de> Deserialize<'de> for Edges {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Edges;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of edges")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Edges, A::Error> {
                let mut out = Vec::new();
                loop {
                    if out.len() >= MAX_EDGES {
                        if seq.next_element::<IgnoredAny>()?.is_none() {
                            break;
                        }
                        continue;
                    }
                    let Some(e) = seq.next_element::<Obj<Edge>>()? else {
                        break;
                    };
                    let Some(e) = e.get() else { continue };
                    if let (Some(id), Scalar::Text(kind), Scalar::Text(role)) =
                        (e.connected_identifier.as_i64(), &e.kind, &e.target_type)
                    {
                        if kind == "manage" {
                            out.push((id, role.clone()));
                        }
                    }
                }
                Ok(Edges(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Edges, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Edges::default())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Edges, E> {
                Ok(Edges::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Edges, E> {
                Ok(Edges::default())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Edges, E> {
                Ok(Edges::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Edges, E> {
                Ok(Edges::default())
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Edges, E> {
                Ok(Edges::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Edges, E> {
                Ok(Edges::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Edges, E> {
                Ok(Edges::default())
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Infos {
    pub has_error: Scalar,
    pub error_reason: Scalar,
    pub name: Scalar,
    #[serde(rename = "type")]
    pub role: Scalar,
    pub id: Scalar,
    pub hardware_infos: Obj<Hardware>,
    pub system_info: Obj<SysInfo>,
    pub quota_metrics: Obj<Quota>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Hardware {
    pub memory: Scalar,
    pub memory_usage: Scalar,
    pub cpu_core_count: Scalar,
    pub cpu_core_usage: Scalar,
    pub disk: Scalar,
    pub disk_usage: Scalar,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SysInfo {
    pub build_version: Scalar,
    pub deploy_mode: Scalar,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Quota {
    #[serde(rename = "CollectionBinlogSize")]
    pub binlog: Obj<Binlog>,
}

/// `{"<collection id>": bytes}`: the entries that are an id and a byte count, at most
/// [`MAX_BINLOG_ENTRIES`]; the others are counted in `skipped`.
#[derive(Debug, Default)]
pub struct Binlog {
    pub sizes: Vec<(i64, u64)>,
    pub skipped: usize,
}

impl<'de> Deserialize<'de> for Binlog {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(BinlogVisitor)
    }
}

struct BinlogVisitor;

impl<'de> Visitor<'de> for BinlogVisitor {
    type Value = Binlog;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("collection ids and byte counts")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Binlog, A::Error> {
        let mut out = Binlog::default();
        while let Some(key) = map.next_key::<IdKey>()? {
            let value = map.next_value::<Scalar>()?;
            match (key.0, value) {
                (Some(id), Scalar::UInt(b)) if out.sizes.len() < MAX_BINLOG_ENTRIES => {
                    out.sizes.push((id, b))
                }
                _ => out.skipped += 1,
            }
        }
        Ok(out)
    }
}

/// A map key that is a collection id, without holding keys that are not.
struct IdKey(Option<i64>);

impl<'de> Deserialize<'de> for IdKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = IdKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a collection id")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IdKey, E> {
                Ok(IdKey(v.parse().ok()))
            }
        }
        d.deserialize_str(V)
    }
}
