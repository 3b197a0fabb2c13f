//! What a search needs of a collection: its vector field (DescribeCollection, cached until a
//! probe using it fails) and one top-1 search with Bounded consistency. Shared by the read
//! probes (`probe`, which search a unit vector or a stored one) and the RAG probes (`rag`,
//! which search an embedding); not a check. Read RPCs only.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use ::milvus::proto::common::{self, KeyValuePair};
use ::milvus::proto::milvus as pb;
use ::milvus::proto::schema;
use prost::Message;
use tokio::time::Instant;

use super::grpc::{status_ok, MilvusClient};
use super::CheckError;
use crate::config::CollectionRef;

pub(super) const BOUNDED: i32 = common::ConsistencyLevel::Bounded as i32;

/// What a search needs to know about a collection's schema.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct VectorField {
    pub(super) name: String,
    pub(super) data_type: i32,
    pub(super) dim: usize,
}

/// Vector fields learned by DescribeCollection, kept until a probe using one fails: a changed
/// schema shows up as a failed search, and the next probe describes again. `K` says what a
/// field is cached for (a collection for a read probe, a RAG probe's index for its own).
pub(super) struct SchemaCache<K>(Mutex<HashMap<K, VectorField>>);

impl<K: Eq + Hash> SchemaCache<K> {
    pub(super) fn new() -> Self {
        SchemaCache(Mutex::new(HashMap::new()))
    }
    pub(super) fn get(&self, key: &K) -> Option<VectorField> {
        self.0.lock().ok().and_then(|s| s.get(key).cloned())
    }
    pub(super) fn put(&self, key: K, field: VectorField) {
        if let Ok(mut s) = self.0.lock() {
            s.insert(key, field);
        }
    }
    pub(super) fn forget(&self, key: &K) {
        if let Ok(mut s) = self.0.lock() {
            s.remove(key);
        }
    }
}

/// DescribeCollection: the fields of the collection's schema, for the caller to pick the
/// one it searches.
pub(super) async fn describe(
    client: &MilvusClient,
    collection: &CollectionRef,
    deadline: Instant,
) -> Result<Vec<schema::FieldSchema>, CheckError> {
    let db = collection.db_name.as_str();
    let req = pb::DescribeCollectionRequest {
        db_name: db.to_string(),
        collection_name: collection.name.clone(),
        ..Default::default()
    };
    let r = client
        .call(
            "DescribeCollection",
            deadline,
            Some(db),
            req,
            |mut c, r| async move { c.describe_collection(r).await },
        )
        .await?;
    status_ok("DescribeCollection", r.status.as_ref())?;
    Ok(r.schema.map(|s| s.fields).unwrap_or_default())
}

/// A vector field's name, type and dimension, or why it cannot be searched. A dimension
/// outside 1-65,536 is a lying schema, not a vector to build.
pub(super) fn vector_field(field: &schema::FieldSchema) -> Result<VectorField, CheckError> {
    let dim = field
        .type_params
        .iter()
        .find(|kv| kv.key == "dim")
        .and_then(|kv| kv.value.trim().parse::<usize>().ok())
        .filter(|d| (1..=65_536).contains(d));
    let sparse = field.data_type == schema::DataType::SparseFloatVector as i32;
    let dim = match (dim, sparse) {
        (Some(d), _) => d,
        (None, true) => 0,
        (None, false) => {
            return Err(CheckError::Malformed {
                rpc: "DescribeCollection",
                message: format!("vector field {:?} has no usable dim", field.name),
            })
        }
    };
    Ok(VectorField {
        name: field.name.clone(),
        data_type: field.data_type,
        dim,
    })
}

/// One vector (already in the field's encoding), top 1, Bounded consistency: the cheapest
/// search that still goes through the index, the query nodes and the shard leaders.
pub(super) async fn search_one(
    client: &MilvusClient,
    collection: &CollectionRef,
    field: &VectorField,
    vector: Vec<u8>,
    deadline: Instant,
) -> Result<(), CheckError> {
    let group = common::PlaceholderGroup {
        placeholders: vec![common::PlaceholderValue {
            tag: "$0".into(),
            r#type: field.data_type,
            values: vec![vector],
            element_level: false,
        }],
    };
    let db = collection.db_name.as_str();
    let req = pb::SearchRequest {
        db_name: db.to_string(),
        collection_name: collection.name.clone(),
        dsl: String::new(),
        dsl_type: common::DslType::BoolExprV1 as i32,
        search_params: vec![
            kv("anns_field", &field.name),
            kv("topk", "1"),
            kv("params", "{}"),
            kv("round_decimal", "-1"),
        ],
        nq: 1,
        consistency_level: BOUNDED,
        use_default_consistency: false,
        search_input: Some(pb::search_request::SearchInput::PlaceholderGroup(
            group.encode_to_vec(),
        )),
        ..Default::default()
    };
    let r = client
        .call("Search", deadline, Some(db), req, |mut c, r| async move {
            c.search(r).await
        })
        .await?;
    // An empty result is an answer: a collection with no rows still serves searches.
    status_ok("Search", r.status.as_ref())
}

pub(super) fn kv(key: &str, value: &str) -> KeyValuePair {
    KeyValuePair {
        key: key.into(),
        value: value.into(),
    }
}

pub(super) fn is_vector(data_type: i32) -> bool {
    use schema::DataType as T;
    [
        T::FloatVector,
        T::BinaryVector,
        T::Float16Vector,
        T::BFloat16Vector,
        T::SparseFloatVector,
        T::Int8Vector,
    ]
    .iter()
    .any(|t| *t as i32 == data_type)
}
