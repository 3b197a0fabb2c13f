//! The search stage: the embedding's length against the vector field's dimension (the field
//! cached per probe until a search fails: the dimension cache), the field chosen, the search.

use ::milvus::proto::schema;
use tokio::time::Instant;

use super::prober::RagProber;
use super::{RagError, RagResult};
use crate::checks::grpc::MilvusClient;
use crate::checks::vector::{
    describe, is_vector, search_one, vector_field, SchemaCache, VectorField,
};
use crate::config::CollectionRef;
use crate::limits;

impl RagProber {
    /// The vector field, the dimension check and the search, under `at`. A dimension that
    /// disagrees with a cached field is checked against a fresh DescribeCollection first:
    /// the collection may have been recreated with the new model's dimension.
    pub(super) async fn search(
        &self,
        i: usize,
        client: &MilvusClient,
        schemas: &SchemaCache<usize>,
        vector: &[f32],
        at: Instant,
        result: &mut RagResult,
    ) -> Result<(), RagError> {
        let field = match schemas.get(&i) {
            Some(f) if f.dim == vector.len() => f,
            _ => {
                let f = self.field(client, at).await?;
                schemas.put(i, f.clone());
                f
            }
        };
        result.vector_field = Some(field.name.clone());
        result.expected_dimensions = Some(field.dim);
        if field.dim != vector.len() {
            return Err(RagError::Dimensions {
                got: vector.len(),
                want: field.dim,
                field: format!(
                    "{}.{}",
                    shown_collection(&self.config.collection),
                    field.name
                ),
            });
        }
        let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
        search_one(client, &self.config.collection, &field, bytes, at)
            .await
            .map_err(RagError::Milvus)
    }

    /// DescribeCollection, and the field an embedding is searched on: the one named by
    /// `vector_field`, or the collection's only FloatVector field.
    async fn field(&self, client: &MilvusClient, at: Instant) -> Result<VectorField, RagError> {
        let fields = describe(client, &self.config.collection, at)
            .await
            .map_err(RagError::Milvus)?;
        let coll = shown_collection(&self.config.collection);
        let float = schema::DataType::FloatVector as i32;
        let chosen = match &self.config.vector_field {
            Some(name) => {
                let f = fields.iter().find(|f| &f.name == name).ok_or_else(|| {
                    RagError::Field(format!(
                        "{coll} has no field {name:?} (vector fields: {})",
                        names(fields.iter().filter(|f| is_vector(f.data_type)))
                    ))
                })?;
                if f.data_type != float {
                    return Err(RagError::Field(format!(
                        "{coll}.{name} is a {}, not a FloatVector an embedding can be searched on",
                        type_name(f.data_type)
                    )));
                }
                f
            }
            None => {
                let floats: Vec<&schema::FieldSchema> =
                    fields.iter().filter(|f| f.data_type == float).collect();
                match floats.as_slice() {
                    [one] => *one,
                    [] => {
                        return Err(RagError::Field(format!(
                            "{coll} has no FloatVector field to search an embedding on"
                        )))
                    }
                    many => {
                        return Err(RagError::Field(format!(
                            "{coll} has {} FloatVector fields ({}): set vector_field",
                            many.len(),
                            names(many.iter().copied())
                        )))
                    }
                }
            }
        };
        vector_field(chosen).map_err(RagError::Milvus)
    }
}

/// A collection as written in config: the bare name in `default`, `db.name` elsewhere.
fn shown_collection(c: &CollectionRef) -> String {
    if c.db_name == "default" {
        c.name.clone()
    } else {
        c.to_string()
    }
}

fn names<'a>(fields: impl Iterator<Item = &'a schema::FieldSchema>) -> String {
    let all: Vec<String> = fields.map(|f| limits::one_line(&f.name)).collect();
    if all.is_empty() {
        "none".into()
    } else {
        all.join(", ")
    }
}

fn type_name(data_type: i32) -> String {
    schema::DataType::try_from(data_type)
        .map(|t| t.as_str_name().to_string())
        .unwrap_or_else(|_| format!("type {data_type}"))
}
