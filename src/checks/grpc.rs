//! The one gRPC client per target, over Milvus's own protocol
//! (`milvus.proto.milvus.MilvusService`), using the tonic client that `milvus-sdk-rust`
//! generates. Not a check: the `milvus`, `collections` and `probe` checks all call through it,
//! so they share one connection.
//!
//! Why not `ClientV2`: its constructor blocks on a Connect handshake with retries and starts a
//! telemetry loop, it has one RPC deadline for the whole client, and its `list_collections`
//! rejects Milvus Lite's names-only ShowCollections reply ("mismatched parallel arrays"). The
//! exporter needs a deadline per call that shrinks as the refresh's budget is spent, replies
//! read leniently (names are all it needs), and nothing but read RPCs. The generated client
//! gives exactly that, with the SDK's message types.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Mutex;
use std::time::Duration;

use ::milvus::proto::common;
use ::milvus::proto::milvus::milvus_service_client::MilvusServiceClient;
use base64::Engine;
use tokio::time::Instant;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::AsciiMetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Request};

use super::CheckError;
use crate::config::{Credentials, MilvusTarget};
use crate::limits::{MAX_GRPC_LISTING, MAX_GRPC_REPLY};

pub(super) type Service = MilvusServiceClient<Inner>;
/// The channel with the credentials added: what both the generated client and the counting
/// listing calls ([`MilvusClient::call_listing`]) send through.
type Inner = InterceptedService<Channel, Auth>;

#[derive(Debug, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct ClientError {
    pub key: String,
    pub problem: String,
}

/// Adds the `authorization` header Milvus expects: base64 of `user:password`, or of the token.
#[derive(Clone)]
pub(super) struct Auth {
    authorization: Option<AsciiMetadataValue>,
}

impl tonic::service::Interceptor for Auth {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, tonic::Status> {
        if let Some(v) = &self.authorization {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

/// One long-lived client per target: the channel reconnects by itself, and is rebuilt when it
/// stops answering, so a refresh never pays for a connection set-up when Milvus is well.
pub struct MilvusClient {
    address: String,
    timeout: Duration,
    endpoint: Endpoint,
    auth: Auth,
    service: Mutex<Inner>,
}

impl MilvusClient {
    pub fn new(target: &MilvusTarget) -> Result<Self, ClientError> {
        let key = |k: &str| {
            if target.name == "default" {
                format!("milvus.{k}")
            } else {
                format!("targets.{}.{k}", target.name)
            }
        };
        let mut endpoint = Endpoint::from_shared(target.address.clone())
            .map_err(|e| ClientError {
                key: key("address"),
                problem: e.to_string(),
            })?
            .connect_timeout(target.timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(10))
            .keep_alive_while_idle(false);
        if let Some(tls) = &target.tls {
            let mut cfg = ClientTlsConfig::new();
            cfg = match &tls.ca_pem {
                Some(pem) => cfg.ca_certificate(Certificate::from_pem(pem)),
                None => cfg.with_native_roots(),
            };
            if let Some((cert, key_pem)) = &tls.identity_pem {
                cfg = cfg.identity(Identity::from_pem(cert, key_pem));
            }
            if let Some(name) = &tls.server_name {
                cfg = cfg.domain_name(name.clone());
            }
            endpoint = endpoint.tls_config(cfg).map_err(|e| ClientError {
                key: key("tls"),
                problem: e.to_string(),
            })?;
        }
        let raw = match &target.credentials {
            Credentials::None => None,
            Credentials::UserPassword { username, password } => Some(
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{}", password.expose())),
            ),
            Credentials::Token(t) => {
                Some(base64::engine::general_purpose::STANDARD.encode(t.expose()))
            }
        };
        let authorization = match raw {
            None => None,
            Some(raw) => {
                // base64 output is always valid ASCII metadata.
                let mut v: AsciiMetadataValue = raw.parse().map_err(|_| ClientError {
                    key: key("password"),
                    problem: "credentials cannot be sent as gRPC metadata".into(),
                })?;
                v.set_sensitive(true);
                Some(v)
            }
        };
        let auth = Auth { authorization };
        let service = Self::build(&endpoint, &auth);
        Ok(MilvusClient {
            address: target.address.clone(),
            timeout: target.timeout,
            endpoint,
            auth,
            service: Mutex::new(service),
        })
    }

    fn build(endpoint: &Endpoint, auth: &Auth) -> Inner {
        // Lazy: nothing is dialled until the first RPC, so start-up never waits on Milvus.
        InterceptedService::new(endpoint.connect_lazy(), auth.clone())
    }

    fn inner(&self) -> Inner {
        match self.service.lock() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The generated client on the current channel. Each call sets its own reply bound
    /// (`reply_limit`); a larger reply fails that RPC with OutOfRange ("decoded message
    /// length too large") before it is read.
    fn service(&self, rpc: &str) -> Service {
        MilvusServiceClient::new(self.inner()).max_decoding_message_size(reply_limit(rpc))
    }

    /// Drops the current connection so the next RPC dials afresh (after Milvus restarted or
    /// froze, an old HTTP/2 connection can keep queueing calls that never return).
    pub(super) fn reset(&self) {
        let fresh = Self::build(&self.endpoint, &self.auth);
        match self.service.lock() {
            Ok(mut s) => *s = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
    }

    /// One RPC under what is left of the refresh's budget.
    pub(super) async fn call<Req, Resp, F, Fut>(
        &self,
        rpc: &'static str,
        deadline: Instant,
        db: Option<&str>,
        req: Req,
        f: F,
    ) -> Result<Resp, CheckError>
    where
        F: FnOnce(Service, Request<Req>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
    {
        let service = self.service(rpc);
        self.run(rpc, deadline, db, req, |r| f(service, r)).await
    }

    /// A listing RPC (`path`, e.g. `/milvus.proto.milvus.MilvusService/ShowCollections`)
    /// whose reply may hold at most `bound.bytes` bytes and `bound.names` names (field 2, the
    /// names of both ShowCollections and ListDatabases). The names are counted on the raw
    /// reply before anything is decoded: a reply naming more is [`Counted::TooMany`] and no
    /// name of it is ever a `String`.
    pub(super) async fn call_listing<Req, Resp>(
        &self,
        (rpc, path): (&'static str, &'static str),
        deadline: Instant,
        db: Option<&str>,
        req: Req,
        bound: ReplyBound,
    ) -> Result<Counted<Resp>, CheckError>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + 'static,
    {
        let mut grpc =
            tonic::client::Grpc::new(self.inner()).max_decoding_message_size(bound.bytes);
        let max_names = bound.names;
        self.run(rpc, deadline, db, req, move |r| async move {
            grpc.ready().await.map_err(|e| {
                tonic::Status::unavailable(format!("the channel is not ready: {e}"))
            })?;
            let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
            grpc.unary(r, path, CountingCodec::<Req, Resp>::new(max_names))
                .await
        })
        .await
    }

    /// The part every call shares: deadline, database metadata, error mapping.
    async fn run<Req, Resp, F, Fut>(
        &self,
        rpc: &'static str,
        deadline: Instant,
        db: Option<&str>,
        req: Req,
        f: F,
    ) -> Result<Resp, CheckError>
    where
        F: FnOnce(Request<Req>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
    {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(CheckError::Timeout {
                rpc,
                after: self.timeout,
            });
        }
        let mut request = Request::new(req);
        request.set_timeout(remaining);
        if let Some(db) = db {
            if let Ok(v) = db.parse::<AsciiMetadataValue>() {
                request.metadata_mut().insert("dbname", v);
            }
        }
        // A timeout names the allowance this RPC had, which a scrape deadline can shorten.
        // Rounded to 10 ms: "timed out after 1s", not "after 999.98ms".
        let allowance =
            Duration::from_millis(((remaining.as_micros() + 5_000) / 10_000).max(1) as u64 * 10);
        match tokio::time::timeout_at(deadline, f(request)).await {
            Err(_) => Err(CheckError::Timeout {
                rpc,
                after: allowance,
            }),
            Ok(Err(status)) => Err(match self.status_error(rpc, &status) {
                CheckError::Timeout { rpc, .. } => CheckError::Timeout {
                    rpc,
                    after: allowance,
                },
                other => other,
            }),
            Ok(Ok(resp)) => Ok(resp.into_inner()),
        }
    }

    fn status_error(&self, rpc: &'static str, status: &tonic::Status) -> CheckError {
        let mut message = clip(status.message());
        let mut source = std::error::Error::source(status);
        while let Some(s) = source {
            let text = s.to_string();
            if !text.is_empty() && !message.contains(&text) {
                message = format!("{message}: {}", clip(&text));
            }
            source = s.source();
        }
        match status.code() {
            Code::Unavailable => CheckError::Unreachable {
                rpc,
                address: self.address.clone(),
                message,
            },
            // tonic reports its own client-side deadline as Cancelled "Timeout expired".
            Code::DeadlineExceeded => CheckError::Timeout {
                rpc,
                after: self.timeout,
            },
            Code::Cancelled if message.contains("Timeout expired") => CheckError::Timeout {
                rpc,
                after: self.timeout,
            },
            Code::Unauthenticated | Code::PermissionDenied => CheckError::Rpc {
                rpc,
                code: format!("{:?}", status.code()),
                message: format!("authentication failed: {message}"),
            },
            code => CheckError::Rpc {
                rpc,
                code: format!("{code:?}"),
                message,
            },
        }
    }
}

/// What a listing reply may hold: bytes (checked from its length prefix, before it is read)
/// and names (counted on its bytes, before any is decoded).
#[derive(Clone, Copy, Debug)]
pub(super) struct ReplyBound {
    pub(super) bytes: usize,
    pub(super) names: usize,
}

/// A listing as [`CountingCodec`] read it.
#[derive(Debug)]
pub(super) enum Counted<T> {
    Decoded(T),
    /// The reply named this many names, more than allowed; none of them was decoded.
    TooMany(usize),
}

/// prost for requests; for replies, a count of the names (field 2) on the raw bytes first,
/// and prost only when they are within the bound. The reply bytes are taken from tonic's
/// buffer without a copy (`copy_to_bytes` of its `BytesMut` is a split).
struct CountingCodec<Req, Resp> {
    max_names: usize,
    _types: PhantomData<fn(Req) -> Resp>,
}

impl<Req, Resp> CountingCodec<Req, Resp> {
    fn new(max_names: usize) -> Self {
        CountingCodec {
            max_names,
            _types: PhantomData,
        }
    }
}

impl<Req, Resp> Codec for CountingCodec<Req, Resp>
where
    Req: prost::Message + Send + 'static,
    Resp: prost::Message + Default + Send + 'static,
{
    type Encode = Req;
    type Decode = Counted<Resp>;
    type Encoder = ProstEncoder<Req>;
    type Decoder = CountingDecoder<Resp>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        CountingDecoder {
            max_names: self.max_names,
            _type: PhantomData,
        }
    }
}

struct ProstEncoder<T>(PhantomData<fn(T)>);

impl<T: prost::Message> Encoder for ProstEncoder<T> {
    type Item = T;
    type Error = tonic::Status;

    fn encode(&mut self, item: T, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        item.encode(dst)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

struct CountingDecoder<T> {
    max_names: usize,
    _type: PhantomData<fn() -> T>,
}

impl<T: prost::Message + Default> Decoder for CountingDecoder<T> {
    type Item = Counted<T>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Counted<T>>, tonic::Status> {
        use bytes::Buf;
        let bytes = src.copy_to_bytes(src.remaining());
        // A reply that does not even scan is left to prost, which says what is wrong with it.
        if let Some(names) = count_field(&bytes, NAMES_FIELD) {
            if names > self.max_names {
                return Ok(Some(Counted::TooMany(names)));
            }
        }
        T::decode(bytes)
            .map(|m| Some(Counted::Decoded(m)))
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

/// `collection_names` of ShowCollectionsResponse and `db_names` of ListDatabasesResponse.
const NAMES_FIELD: u64 = 2;

/// How many length-delimited entries of `field` a protobuf message holds, walking its wire
/// format without decoding anything; `None` when the bytes are no well-formed message.
fn count_field(mut buf: &[u8], field: u64) -> Option<usize> {
    use prost::encoding::decode_varint;
    let mut count = 0usize;
    while !buf.is_empty() {
        let key = decode_varint(&mut buf).ok()?;
        let skip = match key & 7 {
            0 => {
                decode_varint(&mut buf).ok()?;
                0
            }
            1 => 8,
            2 => {
                if key >> 3 == field {
                    count += 1;
                }
                usize::try_from(decode_varint(&mut buf).ok()?).ok()?
            }
            5 => 4,
            _ => return None,
        };
        buf = buf.get(skip..)?;
    }
    Some(count)
}

/// The largest reply an RPC may decode to. Listings grow with the number of databases and
/// collections, so they get [`MAX_GRPC_LISTING`]; every other reply (a load state, a row
/// count, one probe row, a schema) is small, and a server answering one of them with more
/// than [`MAX_GRPC_REPLY`] is not to be believed. This also bounds what `max_concurrency`
/// replies in flight at once can hold.
fn reply_limit(rpc: &str) -> usize {
    match rpc {
        "ShowCollections" | "ListDatabases" => MAX_GRPC_LISTING,
        _ => MAX_GRPC_REPLY,
    }
}

/// A reply without a status is accepted (the data fields are what matter); a status that is
/// not Success is the RPC's failure.
#[allow(deprecated)] // `error_code` is deprecated upstream, yet older servers set only it.
pub(super) fn status_ok(
    rpc: &'static str,
    status: Option<&common::Status>,
) -> Result<(), CheckError> {
    match status {
        Some(s) if s.error_code != 0 || s.code != 0 => {
            let code = if s.code != 0 { s.code } else { s.error_code };
            let reason = if s.reason.is_empty() {
                "no reason given".to_string()
            } else {
                clip(&s.reason)
            };
            let reason = if reason.contains("auth") && !reason.contains("authentication failed") {
                format!("authentication failed: {reason}")
            } else {
                reason
            };
            Err(CheckError::Status { rpc, code, reason })
        }
        _ => Ok(()),
    }
}

/// One line, bounded length: text from the network is shown to people and logs.
pub(super) fn clip(s: &str) -> String {
    crate::limits::one_line(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(deprecated)]
    fn non_success_status_is_an_error_and_missing_status_is_not() {
        assert!(status_ok("X", None).is_ok());
        assert!(status_ok("X", Some(&common::Status::default())).is_ok());
        let bad = common::Status {
            error_code: 1,
            reason: "boom".into(),
            ..Default::default()
        };
        assert_eq!(
            status_ok("X", Some(&bad)).unwrap_err().to_string(),
            "X: Milvus error 1: boom"
        );
    }

    #[test]
    fn clip_bounds_and_flattens_text() {
        let long = "a\nb".repeat(1000);
        let c = clip(&long);
        assert!(!c.contains('\n'));
        assert!(c.chars().count() <= crate::limits::MAX_REASON_CHARS + 1);
    }

    #[test]
    fn names_are_counted_on_the_wire_without_decoding() {
        use ::milvus::proto::milvus as pb;
        use prost::Message;
        #[allow(deprecated)]
        let reply = pb::ShowCollectionsResponse {
            status: Some(common::Status {
                reason: "r".into(),
                ..Default::default()
            }),
            collection_names: (0..1000).map(|i| format!("c{i}")).collect(),
            collection_ids: (0..1000).collect(),
            in_memory_percentages: vec![100; 1000],
            query_service_available: vec![true; 1000],
            ..Default::default()
        }
        .encode_to_vec();
        assert_eq!(count_field(&reply, NAMES_FIELD), Some(1000));
        let dbs = pb::ListDatabasesResponse {
            db_names: vec!["a".into(), String::new(), "c".into()],
            db_ids: vec![1, 2, 3],
            ..Default::default()
        }
        .encode_to_vec();
        assert_eq!(count_field(&dbs, NAMES_FIELD), Some(3));
        assert_eq!(count_field(&[], NAMES_FIELD), Some(0));
        // A length running past the end, and a group wire type: not a message.
        assert_eq!(count_field(&[0x12, 0x05, b'a'], NAMES_FIELD), None);
        assert_eq!(count_field(&[0x13], NAMES_FIELD), None);
    }

    #[test]
    fn listings_may_be_larger_than_other_replies() {
        assert_eq!(reply_limit("ShowCollections"), 64 * 1024 * 1024);
        assert_eq!(reply_limit("ListDatabases"), 64 * 1024 * 1024);
        assert_eq!(reply_limit("GetLoadState"), 4 * 1024 * 1024);
        assert_eq!(reply_limit("Query"), 4 * 1024 * 1024);
    }
}
