//! Milvus checks over Milvus's own protocol (`milvus.proto.milvus.MilvusService`), using the
//! tonic client that `milvus-sdk-rust` generates.
//!
//! Why not `ClientV2`: its constructor blocks on a Connect handshake with retries and starts a
//! telemetry loop, it has one RPC deadline for the whole client, and its `list_collections`
//! rejects Milvus Lite's names-only ShowCollections reply ("mismatched parallel arrays"). The
//! exporter needs a deadline per call that shrinks as the refresh's budget is spent, replies
//! read leniently (names are all it needs), and nothing but read RPCs. The generated client
//! gives exactly that, with the SDK's message types.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use ::milvus::proto::common;
use ::milvus::proto::milvus as pb;
use ::milvus::proto::milvus::milvus_service_client::MilvusServiceClient;
use base64::Engine;
use futures::stream::{self, StreamExt};
use tokio::time::Instant;
use tonic::metadata::AsciiMetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Request};

use super::CheckError;
use crate::config::{Credentials, MilvusTarget};
use crate::limits::{MAX_GRPC_LISTING, MAX_GRPC_REPLY, MAX_REASONS};
use crate::snapshot::{
    CollectionFacts, CollectionsFacts, DatabaseFacts, LoadState, MilvusFacts, QuotaState,
};

/// Milvus's own limit on collection and database names; anything longer is not a real name.
const MAX_NAME_BYTES: usize = 255;

pub(super) type Service = MilvusServiceClient<InterceptedService<Channel, Auth>>;

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
    databases: Vec<String>,
    max_concurrency: usize,
    replicas: bool,
    endpoint: Endpoint,
    auth: Auth,
    service: Mutex<Service>,
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
            databases: target.databases.clone(),
            max_concurrency: target.max_concurrency.max(1),
            replicas: target.replicas,
            endpoint,
            auth,
            service: Mutex::new(service),
        })
    }

    fn build(endpoint: &Endpoint, auth: &Auth) -> Service {
        // Lazy: nothing is dialled until the first RPC, so start-up never waits on Milvus.
        // Each call sets its own reply bound (`reply_limit`); a larger reply fails that RPC
        // with OutOfRange ("decoded message length too large").
        MilvusServiceClient::with_interceptor(endpoint.connect_lazy(), auth.clone())
            .max_decoding_message_size(MAX_GRPC_REPLY)
    }

    fn service(&self) -> Service {
        match self.service.lock() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Drops the current connection so the next RPC dials afresh (after Milvus restarted or
    /// froze, an old HTTP/2 connection can keep queueing calls that never return).
    fn reset(&self) {
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
        let service = self.service().max_decoding_message_size(reply_limit(rpc));
        match tokio::time::timeout_at(deadline, f(service, request)).await {
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

    /// CheckHealth and GetVersion, asked together. Milvus is "up" when either answers.
    pub async fn health(&self, deadline: Instant) -> Result<MilvusFacts, CheckError> {
        let version = self.call(
            "GetVersion",
            deadline,
            None,
            pb::GetVersionRequest {},
            |mut c, r| async move { c.get_version(r).await },
        );
        let health = self.call(
            "CheckHealth",
            deadline,
            None,
            pb::CheckHealthRequest {},
            |mut c, r| async move { c.check_health(r).await },
        );
        let (version, health) = tokio::join!(version, health);
        let version = version.and_then(|v| {
            status_ok("GetVersion", v.status.as_ref())?;
            Ok(clip(&v.version))
        });
        let health = health.and_then(|h| {
            status_ok("CheckHealth", h.status.as_ref())?;
            Ok(h)
        });
        match (version, health) {
            (Err(v), Err(h)) => {
                if matches!(
                    h,
                    CheckError::Unreachable { .. } | CheckError::Timeout { .. }
                ) {
                    self.reset();
                }
                // Prefer CheckHealth's error unless it is the less informative one.
                Err(
                    if matches!(h, CheckError::Rpc { ref code, .. } if code == "Unimplemented") {
                        v
                    } else {
                        h
                    },
                )
            }
            (version, Ok(h)) => Ok(MilvusFacts {
                version: version.ok(),
                healthy: h.is_healthy,
                reasons: bounded_reasons(&h.reasons),
                quota_states: {
                    let mut q: Vec<QuotaState> = h
                        .quota_states
                        .iter()
                        .filter_map(|s| QuotaState::from_proto(*s))
                        .collect();
                    q.sort();
                    q.dedup();
                    q
                },
            }),
            (Ok(version), Err(h)) => Ok(MilvusFacts {
                version: Some(version),
                healthy: false,
                reasons: vec![format!("CheckHealth could not be asked: {h}")],
                quota_states: Vec::new(),
            }),
        }
    }

    /// Databases, their collections, and each collection's load state and row count, with at
    /// most `max_concurrency` collections being asked about at once.
    pub async fn collections(&self, deadline: Instant) -> Result<CollectionsFacts, CheckError> {
        let databases = if self.databases.is_empty() {
            self.list_databases(deadline).await?
        } else {
            self.databases.clone()
        };
        let listings = futures::future::join_all(
            databases
                .iter()
                .map(|db| async move { (db.clone(), self.show_collections(db, deadline).await) }),
        )
        .await;

        let mut facts = CollectionsFacts::default();
        let mut wanted = Vec::new();
        let mut first_error = None;
        for (db, listing) in listings {
            match listing {
                Ok((names, skipped)) => {
                    facts.databases.push(DatabaseFacts {
                        name: db.clone(),
                        collections_count: Some(names.len()),
                        error: (skipped > 0).then(|| {
                            format!("skipped {skipped} collection name(s) longer than {MAX_NAME_BYTES} bytes")
                        }),
                    });
                    wanted.extend(names.into_iter().map(|n| (db.clone(), n)));
                }
                Err(e) => {
                    facts.databases.push(DatabaseFacts {
                        name: db.clone(),
                        collections_count: None,
                        error: Some(e.to_string()),
                    });
                    first_error.get_or_insert(e);
                }
            }
        }
        if let (Some(e), true) = (first_error, wanted.is_empty()) {
            if facts.databases.iter().all(|d| d.error.is_some()) {
                return Err(e);
            }
        }

        let mut collections: Vec<CollectionFacts> = stream::iter(wanted)
            .map(|(db, name)| self.collection(db, name, deadline))
            .buffer_unordered(self.max_concurrency)
            .collect()
            .await;
        collections.sort_by(|a, b| (&a.db_name, &a.name).cmp(&(&b.db_name, &b.name)));
        facts.collections = collections;
        Ok(facts)
    }

    async fn list_databases(&self, deadline: Instant) -> Result<Vec<String>, CheckError> {
        let reply = self
            .call(
                "ListDatabases",
                deadline,
                None,
                pb::ListDatabasesRequest::default(),
                |mut c, r| async move { c.list_databases(r).await },
            )
            .await;
        match reply {
            // Milvus before 2.2.9 has no databases: everything lives in "default".
            Err(CheckError::Rpc { ref code, .. }) if code == "Unimplemented" => {
                Ok(vec!["default".to_string()])
            }
            Err(e) => Err(e),
            Ok(r) => {
                status_ok("ListDatabases", r.status.as_ref())?;
                let mut names: Vec<String> = r
                    .db_names
                    .into_iter()
                    .filter(|n| !n.is_empty() && n.len() <= MAX_NAME_BYTES)
                    .collect();
                names.sort();
                names.dedup();
                if names.is_empty() {
                    names.push("default".to_string());
                }
                Ok(names)
            }
        }
    }

    /// Names only: ids, timestamps and percentages may be missing or of other lengths (Milvus
    /// Lite sends names alone), and the exporter has no use for them.
    async fn show_collections(
        &self,
        db: &str,
        deadline: Instant,
    ) -> Result<(Vec<String>, usize), CheckError> {
        let req = pb::ShowCollectionsRequest {
            db_name: db.to_string(),
            ..Default::default()
        };
        let r = self
            .call(
                "ShowCollections",
                deadline,
                Some(db),
                req,
                |mut c, r| async move { c.show_collections(r).await },
            )
            .await?;
        status_ok("ShowCollections", r.status.as_ref())?;
        let total = r.collection_names.len();
        let mut names: Vec<String> = r
            .collection_names
            .into_iter()
            .filter(|n| !n.is_empty() && n.len() <= MAX_NAME_BYTES)
            .collect();
        let skipped = total - names.len();
        names.sort();
        names.dedup();
        Ok((names, skipped))
    }

    async fn collection(&self, db: String, name: String, deadline: Instant) -> CollectionFacts {
        let mut facts = CollectionFacts {
            db_name: db,
            name,
            load_state: LoadState::Unknown,
            loading_progress: None,
            rows: None,
            replicas: None,
            error: None,
        };
        let (db, name) = (facts.db_name.as_str(), facts.name.as_str());
        let state = self
            .call(
                "GetLoadState",
                deadline,
                Some(db),
                pb::GetLoadStateRequest {
                    db_name: db.to_string(),
                    collection_name: name.to_string(),
                    ..Default::default()
                },
                |mut c, r| async move { c.get_load_state(r).await },
            )
            .await
            .and_then(|r| {
                status_ok("GetLoadState", r.status.as_ref())?;
                Ok(LoadState::from_proto(r.state))
            });
        match state {
            Ok(s) => facts.load_state = s,
            Err(e) => {
                facts.error = Some(e.to_string());
                return facts;
            }
        }
        match facts.load_state {
            LoadState::NotExist => {
                facts.error = Some("collection no longer exists (dropped while listing)".into());
                return facts;
            }
            LoadState::Loaded => facts.loading_progress = Some(100),
            LoadState::NotLoad => facts.loading_progress = Some(0),
            LoadState::Loading => {
                let progress = self
                    .call(
                        "GetLoadingProgress",
                        deadline,
                        Some(db),
                        pb::GetLoadingProgressRequest {
                            db_name: db.to_string(),
                            collection_name: name.to_string(),
                            ..Default::default()
                        },
                        |mut c, r| async move { c.get_loading_progress(r).await },
                    )
                    .await
                    .and_then(|r| {
                        status_ok("GetLoadingProgress", r.status.as_ref())?;
                        Ok(r.progress.clamp(0, 100))
                    });
                match progress {
                    Ok(p) => facts.loading_progress = Some(p),
                    Err(e) => facts.error = Some(e.to_string()),
                }
            }
            LoadState::Unknown => {}
        }
        let rows = self
            .call(
                "GetCollectionStatistics",
                deadline,
                Some(db),
                pb::GetCollectionStatisticsRequest {
                    db_name: db.to_string(),
                    collection_name: name.to_string(),
                    ..Default::default()
                },
                |mut c, r| async move { c.get_collection_statistics(r).await },
            )
            .await
            .and_then(|r| {
                status_ok("GetCollectionStatistics", r.status.as_ref())?;
                row_count(&r.stats)
            });
        match rows {
            Ok(n) => facts.rows = Some(n),
            Err(e) => {
                facts.error.get_or_insert(e.to_string());
            }
        }
        if self.replicas && facts.load_state == LoadState::Loaded {
            let replicas = self
                .call(
                    "GetReplicas",
                    deadline,
                    Some(db),
                    pb::GetReplicasRequest {
                        db_name: db.to_string(),
                        collection_name: name.to_string(),
                        ..Default::default()
                    },
                    |mut c, r| async move { c.get_replicas(r).await },
                )
                .await
                .and_then(|r| {
                    status_ok("GetReplicas", r.status.as_ref())?;
                    Ok(r.replicas.len())
                });
            match replicas {
                Ok(n) => facts.replicas = Some(n),
                // A server without GetReplicas (Milvus Lite) has no replicas to report.
                Err(CheckError::Rpc { ref code, .. }) if code == "Unimplemented" => {}
                Err(e) => {
                    facts.error.get_or_insert(e.to_string());
                }
            }
        }
        facts
    }
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

fn row_count(stats: &[common::KeyValuePair]) -> Result<u64, CheckError> {
    let kv = stats
        .iter()
        .find(|kv| kv.key == "row_count")
        .ok_or_else(|| CheckError::Malformed {
            rpc: "GetCollectionStatistics",
            message: "no row_count in the reply".into(),
        })?;
    kv.value
        .trim()
        .parse::<u64>()
        .map_err(|_| CheckError::Malformed {
            rpc: "GetCollectionStatistics",
            message: format!("row_count {:?} is not a number", clip(&kv.value)),
        })
}

/// One line, bounded length: text from the network is shown to people and logs.
fn clip(s: &str) -> String {
    crate::limits::one_line(s)
}

/// The first [`MAX_REASONS`] reasons, each one clipped line, and a count of the rest.
fn bounded_reasons(reasons: &[String]) -> Vec<String> {
    let mut out: Vec<String> = reasons.iter().take(MAX_REASONS).map(|r| clip(r)).collect();
    if reasons.len() > MAX_REASONS {
        out.push(format!("(and {} more)", reasons.len() - MAX_REASONS));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_count_is_read_or_explained() {
        let kv = |k: &str, v: &str| common::KeyValuePair {
            key: k.into(),
            value: v.into(),
        };
        assert_eq!(row_count(&[kv("row_count", "42")]).ok(), Some(42));
        assert!(row_count(&[]).is_err());
        assert!(row_count(&[kv("row_count", "-1")]).is_err());
    }

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
    fn listings_may_be_larger_than_other_replies() {
        assert_eq!(reply_limit("ShowCollections"), 64 * 1024 * 1024);
        assert_eq!(reply_limit("ListDatabases"), 64 * 1024 * 1024);
        assert_eq!(reply_limit("GetLoadState"), 4 * 1024 * 1024);
        assert_eq!(reply_limit("Query"), 4 * 1024 * 1024);
    }

    #[test]
    fn reasons_are_bounded_in_number() {
        let many: Vec<String> = (0..MAX_REASONS + 7).map(|i| format!("r{i}")).collect();
        let kept = bounded_reasons(&many);
        assert_eq!(kept.len(), MAX_REASONS + 1);
        assert_eq!(kept[MAX_REASONS], "(and 7 more)");
        assert_eq!(bounded_reasons(&many[..2]), vec!["r0", "r1"]);
    }
}
