//! The shared vocabulary: the words every layer uses (why a check failed, a check's timed
//! result, what a rule concluded, a collection's load state, a quota state, a probe's kind, a
//! collection reference). A leaf module: it imports nothing of the crate, so config, checks,
//! snapshot and the renderings can all use it without importing each other.

use std::fmt;
use std::time::Duration;

/// Why a check (or one part of it) failed. Display is one line, safe to show to anyone:
/// credentials never reach these strings because requests are never formatted into them.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CheckError {
    #[error("{rpc}: timed out after {}", humantime::format_duration(*.after))]
    Timeout { rpc: &'static str, after: Duration },
    #[error("{rpc}: cannot reach Milvus at {address}: {message}")]
    Unreachable {
        rpc: &'static str,
        address: String,
        message: String,
    },
    #[error("{rpc}: gRPC {code}: {message}")]
    Rpc {
        rpc: &'static str,
        code: String,
        message: String,
    },
    /// An HTTP endpoint (`:9091`, a dependency) answered with a status it should not have:
    /// an HTTP status, told apart from a gRPC code in its message.
    #[error("{rpc}: HTTP {status}: {message}")]
    Http {
        rpc: &'static str,
        status: u16,
        message: String,
    },
    #[error("{rpc}: Milvus error {code}: {reason}")]
    Status {
        rpc: &'static str,
        code: i32,
        reason: String,
    },
    /// A reply larger than a stated bound (listing names, reply bytes): the message names
    /// the bound and the configuration key that sets it.
    #[error("{rpc}: {message}")]
    OverBound { rpc: &'static str, message: String },
    #[error("{rpc}: malformed reply: {message}")]
    Malformed { rpc: &'static str, message: String },
    #[error("{0}")]
    Other(String),
}

impl CheckError {
    pub fn is_timeout(&self) -> bool {
        matches!(self, CheckError::Timeout { .. })
    }
}

/// CheckHealth's quota states, named as Milvus names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum QuotaState {
    ReadLimited,
    WriteLimited,
    DenyToRead,
    DenyToWrite,
    DenyToDdl,
}

impl QuotaState {
    pub fn from_proto(v: i32) -> Option<Self> {
        Some(match v {
            2 => QuotaState::ReadLimited,
            3 => QuotaState::WriteLimited,
            4 => QuotaState::DenyToRead,
            5 => QuotaState::DenyToWrite,
            6 => QuotaState::DenyToDdl,
            _ => return None,
        })
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            QuotaState::ReadLimited,
            QuotaState::WriteLimited,
            QuotaState::DenyToRead,
            QuotaState::DenyToWrite,
            QuotaState::DenyToDdl,
        ]
        .into_iter()
        .find(|q| q.as_str().eq_ignore_ascii_case(s))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            QuotaState::ReadLimited => "ReadLimited",
            QuotaState::WriteLimited => "WriteLimited",
            QuotaState::DenyToRead => "DenyToRead",
            QuotaState::DenyToWrite => "DenyToWrite",
            QuotaState::DenyToDdl => "DenyToDDL",
        }
    }
}

/// Load state as Milvus reports it (`common.LoadState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadState {
    NotExist,
    NotLoad,
    Loading,
    Loaded,
    /// A value this build does not know, or the state could not be read.
    Unknown,
}

impl LoadState {
    pub fn from_proto(v: i32) -> Self {
        match v {
            0 => LoadState::NotExist,
            1 => LoadState::NotLoad,
            2 => LoadState::Loading,
            3 => LoadState::Loaded,
            _ => LoadState::Unknown,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            LoadState::NotExist => "NotExist",
            LoadState::NotLoad => "NotLoad",
            LoadState::Loading => "Loading",
            LoadState::Loaded => "Loaded",
            LoadState::Unknown => "Unknown",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// One primary key, `limit 1`, no output fields.
    Query,
    /// One vector, top 1, on the collection's vector field.
    Search,
}

impl ProbeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Query => "query",
            ProbeKind::Search => "search",
        }
    }
}

/// `db.collection`, or a bare name meaning the `default` database.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CollectionRef {
    pub db_name: String,
    pub name: String,
}

impl CollectionRef {
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (db, name) = match s.split_once('.') {
            Some((db, name)) => (db, name),
            None => ("default", s),
        };
        if db.is_empty() || name.is_empty() || name.contains('.') {
            return None;
        }
        Some(CollectionRef {
            db_name: db.to_string(),
            name: name.to_string(),
        })
    }
}

impl fmt::Display for CollectionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.db_name, self.name)
    }
}

/// One check's result with how long it took: a failing check degrades its own facts only.
#[derive(Clone, Debug)]
pub struct CheckResult<T> {
    pub duration: Duration,
    pub outcome: Result<T, CheckError>,
}

impl<T> CheckResult<T> {
    pub fn ok(&self) -> Option<&T> {
        self.outcome.as_ref().ok()
    }
    pub fn error(&self) -> Option<&CheckError> {
        self.outcome.as_ref().err()
    }
}

/// What a readiness rule concluded. Here, not in readiness, because the rules themselves live
/// in the check modules that own their facts, below readiness in the floor plan.
#[derive(Clone, Debug, PartialEq)]
pub enum RuleStatus {
    Pass,
    Fail(String),
    /// Turned off in `readiness.disabled_rules`, or meaningless for this target.
    Excluded,
}
