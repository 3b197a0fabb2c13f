//! Layered configuration: defaults < TOML file < `MILVUS_EXPORTER_*` environment < flags.
//!
//! Everything is parsed and checked once, here, so the rest of the program works with typed
//! values (`Duration`, `Url`, `CollectionRef`) and never has to handle a bad string at request time.
//! Every problem becomes one [`ConfigError`] that names the key, because an operator reading a
//! crash-looping pod's log has exactly one line to go on.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

mod cache;
mod dependencies;
mod env;
mod history;
mod log;
mod milvus;
mod modules;
mod rag;
mod readiness;
mod system;
mod values;
mod web;
use web::WebConfig;

pub use cache::CacheConfig;
use cache::RawCache;
use dependencies::RawDependency;
pub use dependencies::{
    BodyMatch, DependencyConfig, DependencyKind, HttpDependency, RequestBody,
    DEFAULT_BODY_CONTENT_TYPE,
};
use env::VerbatimEnv;
use history::RawHistory;
pub use history::{HistoryConfig, MAX_HISTORY_BYTES, MAX_HISTORY_ENTRIES, MIN_HISTORY_BYTES};
use log::RawLog;
pub use log::{LogFormat, LogLevel};
use milvus::RawMilvus;
pub use milvus::{
    CollectionFilter, Credentials, MilvusTarget, TlsConfig, DEFAULT_ADDRESS,
    DEFAULT_MAX_COLLECTIONS, MAX_MAX_COLLECTIONS,
};
pub use modules::{
    canonical, Allowlist, FleetConfig, Module, DEFAULT_MODULE, MAX_ALLOWED_TARGETS,
    MAX_MAX_TARGETS, MAX_MAX_WAITERS,
};
use modules::{RawFleet, RawModule};
use rag::RawRagProbe;
pub use rag::{
    EmbeddingEndpoint, RagProbeConfig, MAX_EMBEDDING_DIMENSIONS, MAX_RAG_NAME_BYTES,
    MAX_RAG_TEXT_BYTES,
};
use readiness::RawReadiness;
pub use readiness::{ProbeConfig, ReadinessConfig, VectorFrom, DEFAULT_NODE_GRACE, NODE_ROLES};
use system::RawSystem;
pub use system::SystemConfig;
use values::{bounded, key_paths, one_line, read_bounded_text, shown};
pub use values::{
    io_reason, read_bounded, HumanDuration, Secret, MAX_CPU_SAMPLE_INTERVAL, MAX_FILE_BYTES,
    MAX_INTERVAL, MAX_TIMEOUT, MIN_CLIENT_TIMEOUT, MIN_REFRESH_INTERVAL, MIN_TTL,
};
use web::RawWeb;

/// Prefix of environment overrides; `__` separates levels (`MILVUS_EXPORTER_CACHE__TTL=2s`).
pub use crate::model::{CollectionRef, ProbeKind};

pub const ENV_PREFIX: &str = "MILVUS_EXPORTER";

/// A configuration problem, always tied to the key that caused it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config: {key}: {problem}")]
    Invalid { key: String, problem: String },
    #[error("config: {0}")]
    Parse(String),
}

impl ConfigError {
    pub fn invalid(key: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            problem: problem.into(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Raw shape of the file/environment. Strings stay strings here; `Config::from_raw` types them.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    web: RawWeb,
    log: RawLog,
    milvus: RawMilvus,
    targets: Vec<RawMilvus>,
    modules: Vec<RawModule>,
    fleet: RawFleet,
    dependencies: Vec<RawDependency>,
    rag_probes: Vec<RawRagProbe>,
    cache: RawCache,
    history: RawHistory,
    readiness: RawReadiness,
    system: RawSystem,
}

// ---------------------------------------------------------------------------------------------
// Typed configuration.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Config {
    pub listen_address: std::net::SocketAddr,
    /// Subtracted from Prometheus's scrape timeout to leave time to write the answer.
    pub scrape_timeout_offset: Duration,
    /// A client must send its request head within this (slowloris protection).
    pub header_read_timeout: Duration,
    /// Connections held at once; at the limit a new one evicts the longest-idle connection.
    pub max_connections: usize,
    /// A response write that makes no progress for this long closes the connection.
    pub write_timeout: Duration,
    /// `/metrics` and `/probe` answers at once (0 = no limit); more get 503.
    pub max_requests: usize,
    /// RAG dependencies (embedding API, LLM gateway, …) checked beside Milvus.
    pub dependencies: Vec<DependencyConfig>,
    /// RAG probes: embed a text, check its dimension, search it (main target only).
    pub rag_probes: Vec<RagProbeConfig>,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
    /// The Milvus watched by `/metrics`, `/readyz` and friends (target name `default` unless set).
    pub milvus: MilvusTarget,
    /// Extra Milvus instances reachable only through `/probe?target=NAME`.
    pub targets: Vec<MilvusTarget>,
    /// Every module, `default` (the top-level sections) first.
    pub modules: Vec<Module>,
    /// The bounds on discovered targets.
    pub fleet: FleetConfig,
    pub cache: CacheConfig,
    /// How much verdict history each target keeps in memory.
    pub history: HistoryConfig,
    pub readiness: ReadinessConfig,
    pub system: SystemConfig,
    /// The file the configuration came from, kept so a reload can read it again.
    pub file: Option<PathBuf>,
}

/// Command-line values that override everything else.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub listen_address: Option<String>,
    pub milvus_address: Option<String>,
    pub log_level: Option<String>,
    pub log_format: Option<String>,
}

/// The names taken so far and where each was given, so a second use names both places.
#[derive(Default)]
struct Names(std::collections::HashMap<String, String>);

impl Names {
    /// Takes `name` for `key`; `what` says what the first place is when its key alone would
    /// not (`milvus.name` is also the main target's default name, `default`).
    fn claim(&mut self, name: &str, key: String, what: &str) -> Result<(), ConfigError> {
        if let Some(first) = self.0.get(name) {
            return Err(ConfigError::invalid(
                key,
                format!("{} is already {first}", shown(name)),
            ));
        }
        let place = if what.is_empty() {
            key
        } else {
            format!("{key}, {what}")
        };
        self.0.insert(name.to_string(), place);
        Ok(())
    }
}

impl Config {
    /// Loads defaults, then `file`, then the process environment, then `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        Self::load_from(file, &Self::environment()?, overrides)
    }

    /// The process environment as text. `std::env::vars` would panic on a variable that is
    /// not UTF-8: ours must be text (one is refused by name); anybody else's is not our
    /// business and is left out.
    pub fn environment() -> Result<Vec<(String, String)>, ConfigError> {
        let mut env = Vec::new();
        for (k, v) in std::env::vars_os() {
            match (k.into_string(), v.into_string()) {
                (Ok(k), Ok(v)) => env.push((k, v)),
                (Ok(k), Err(_)) if VerbatimEnv::key_of(&k).is_some() => {
                    return Err(ConfigError::invalid(k, "is not valid UTF-8"));
                }
                _ => {}
            }
        }
        Ok(env)
    }

    /// Same as [`Config::load`] with an explicit environment, so tests need not mutate the
    /// process environment (which is shared by every test thread).
    pub fn load_from(
        file: Option<&Path>,
        env: &[(String, String)],
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            if !path.is_file() {
                // A directory (or a socket) exists but is no file: say which it is, as "no
                // such file" would send the operator looking for a path that is there.
                let what = match std::fs::metadata(path) {
                    Ok(m) if m.is_dir() => "is a directory, not a file",
                    Ok(_) => "is not a regular file",
                    Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                        "permission denied"
                    }
                    Err(_) => "no such file",
                };
                return Err(ConfigError::invalid(
                    "--config",
                    format!("cannot read {}: {what}", path.display()),
                ));
            }
            builder = builder.add_source(
                config::File::from(path.to_path_buf()).format(config::FileFormat::Toml),
            );
        }
        builder = builder.add_source(VerbatimEnv::from_vars(env));
        let set = |b: config::ConfigBuilder<config::builder::DefaultState>,
                   key: &str,
                   v: &Option<String>| match v {
            Some(v) => b.set_override(key, v.clone()),
            None => Ok(b),
        };
        builder = set(builder, "web.listen_address", &overrides.listen_address)
            .and_then(|b| set(b, "milvus.address", &overrides.milvus_address))
            .and_then(|b| set(b, "log.level", &overrides.log_level))
            .and_then(|b| set(b, "log.format", &overrides.log_format))
            .map_err(|e| ConfigError::Parse(one_line(&e.to_string())))?;
        let raw: RawConfig = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| ConfigError::Parse(key_paths(&one_line(&e.to_string()))))?;
        Config::from_raw(raw, file.map(Path::to_path_buf), env)
    }

    fn from_raw(
        raw: RawConfig,
        file: Option<PathBuf>,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let web = WebConfig::from_raw(raw.web)?;
        let (log_level, log_format) = log::from_raw(&raw.log)?;
        if raw.milvus.module.is_some() {
            return Err(ConfigError::invalid(
                "milvus.module",
                "the main target always uses the module \"default\" (the top-level sections)",
            ));
        }
        let milvus = MilvusTarget::from_raw(raw.milvus, "milvus", "default")?;
        // Targets, dependencies and RAG probes share one namespace (a `/probe?target=` name,
        // a readiness rule, a metric label), and each entry carries settings of its own, so a
        // name given twice is refused with both places, never merged.
        let mut names = Names::default();
        names.claim(&milvus.name, "milvus.name".into(), "the main target's name")?;
        let mut targets = Vec::with_capacity(raw.targets.len());
        for (i, t) in raw.targets.into_iter().enumerate() {
            let key = format!("targets[{i}]");
            let name = t.name.clone().unwrap_or_default();
            if name.trim().is_empty() {
                return Err(ConfigError::invalid(
                    format!("{key}.name"),
                    "every target needs a non-empty name",
                ));
            }
            names.claim(name.trim(), format!("{key}.name"), "")?;
            targets.push(MilvusTarget::from_raw(t, &key, &name)?);
        }

        let cache = CacheConfig::from_raw(&raw.cache)?;
        let history = HistoryConfig::from_raw(&raw.history)?;
        let mut milvus = milvus;
        for t in std::iter::once(&mut milvus).chain(targets.iter_mut()) {
            t.inventory_interval = cache.inventory_interval;
        }
        let readiness = ReadinessConfig::from_raw(raw.readiness)?;
        let system = SystemConfig::from_raw(raw.system)?;
        let env_lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let mut dependencies: Vec<DependencyConfig> = Vec::new();
        for (i, d) in raw.dependencies.into_iter().enumerate() {
            let dep = DependencyConfig::from_raw(d, i, &env_lookup)?;
            // A rule of the same name is refused by `checks::validate`: the rules are the
            // checks', above config in the floor plan.
            names.claim(&dep.name, format!("dependencies[{i}].name"), "")?;
            dependencies.push(dep);
        }
        let mut rag_probes: Vec<RagProbeConfig> = Vec::new();
        for (i, r) in raw.rag_probes.into_iter().enumerate() {
            let probe = RagProbeConfig::from_raw(r, i, &env_lookup)?;
            // Its name is a readiness rule's, beside the dependencies'; a built-in rule of
            // the same name is refused by `checks::validate`, as for dependencies.
            names.claim(&probe.name, format!("rag_probes[{i}].name"), "")?;
            rag_probes.push(probe);
        }

        // Module names are a namespace of their own (`/probe?module=`).
        let fleet = FleetConfig::from_raw(&raw.fleet)?;
        let mut modules = vec![Module::default_module(
            &milvus,
            &readiness,
            &dependencies,
            &rag_probes,
            &raw.fleet,
        )?];
        let mut module_names = Names::default();
        module_names.claim(DEFAULT_MODULE, "the top-level sections".into(), "")?;
        for (i, m) in raw.modules.into_iter().enumerate() {
            let mut module = Module::from_raw(m, i, &env_lookup)?;
            module_names.claim(&module.name, format!("modules[{i}].name"), "")?;
            module.milvus.inventory_interval = cache.inventory_interval;
            modules.push(module);
        }
        for (i, t) in targets.iter().enumerate() {
            if !modules.iter().any(|m| m.name == t.module) {
                let known: Vec<&str> = modules.iter().map(|m| m.name.as_str()).collect();
                return Err(ConfigError::invalid(
                    format!("targets[{i}].module"),
                    format!(
                        "no module {} (modules: {})",
                        shown(&t.module),
                        known.join(", ")
                    ),
                ));
            }
        }

        Ok(Config {
            listen_address: web.listen_address,
            scrape_timeout_offset: web.scrape_timeout_offset,
            header_read_timeout: web.header_read_timeout,
            max_connections: web.max_connections,
            write_timeout: web.write_timeout,
            max_requests: web.max_requests,
            dependencies,
            rag_probes,
            log_level,
            log_format,
            milvus,
            targets,
            modules,
            fleet,
            cache,
            history,
            readiness,
            system,
            file,
        })
    }

    /// Every target, the default one first.
    pub fn all_targets(&self) -> impl Iterator<Item = &MilvusTarget> {
        std::iter::once(&self.milvus).chain(self.targets.iter())
    }

    /// The module called `name`.
    pub fn module(&self, name: &str) -> Option<&Module> {
        self.modules.iter().find(|m| m.name == name)
    }

    /// Every secret value in the configuration, for redaction checks.
    pub fn secrets(&self) -> Vec<&str> {
        // The default module repeats the top-level sections; every module is looked through.
        let headers = self
            .modules
            .iter()
            .flat_map(|m| m.dependencies.iter())
            .flat_map(|d| match &d.kind {
                DependencyKind::Http(h) => h.headers.iter().map(|(_, v)| v.expose()).collect(),
                DependencyKind::Tcp { .. } => Vec::new(),
            });
        let rag = self
            .modules
            .iter()
            .flat_map(|m| m.rag_probes.iter())
            .flat_map(|r| r.embedding.headers.iter().map(|(_, v)| v.expose()));
        let mut all: Vec<&str> = self
            .all_targets()
            .chain(self.modules.iter().map(|m| &m.milvus))
            .flat_map(|t| t.credentials.secrets())
            .chain(headers)
            .chain(rag)
            .filter(|s| !s.is_empty())
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::milvus::normalize_address;
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn load_toml(toml: &str, e: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, toml).expect("write");
        Config::load_from(Some(&path), &env(e), &Overrides::default())
    }

    #[test]
    fn defaults_match_the_documented_values() {
        let c = Config::load_from(None, &[], &Overrides::default()).expect("defaults load");
        assert_eq!(c.listen_address.to_string(), "0.0.0.0:9727");
        assert_eq!(c.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.max_connections, 1024);
        assert_eq!(c.write_timeout, Duration::from_secs(30));
        assert_eq!(c.max_requests, 40);
        assert_eq!(c.milvus.address, "http://localhost:19530");
        assert_eq!(c.milvus.timeout, Duration::from_secs(3));
        assert_eq!(c.milvus.max_concurrency, 16);
        assert_eq!(c.cache.ttl, Duration::from_secs(10));
        assert_eq!(c.cache.refresh_interval, Duration::from_secs(30));
        assert_eq!(c.readiness.memory_percent_max, 90.0);
        assert_eq!(c.readiness.disk_percent_max, 95.0);
        assert_eq!(c.system.disk_paths, vec![PathBuf::from("/")]);
        assert_eq!(c.milvus.name, "default");
    }

    #[test]
    fn layers_apply_in_order_file_env_flags() {
        let c = load_toml(
            "[milvus]\naddress = \"http://file:1\"\ntimeout = \"1s\"\n[cache]\nttl = \"5s\"\n",
            &[
                ("MILVUS_EXPORTER_CACHE__TTL", "2s"),
                ("MILVUS_EXPORTER_MILVUS__ADDRESS", "http://env:2"),
            ],
        )
        .expect("loads");
        assert_eq!(c.cache.ttl, Duration::from_secs(2), "env beats file");
        assert_eq!(c.milvus.address, "http://env:2");
        assert_eq!(
            c.milvus.timeout,
            Duration::from_secs(1),
            "file beats default"
        );

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[milvus]\naddress = \"http://file:1\"\n").expect("write");
        let c = Config::load_from(
            Some(&path),
            &env(&[("MILVUS_EXPORTER_MILVUS__ADDRESS", "http://env:2")]),
            &Overrides {
                milvus_address: Some("flag:3".into()),
                ..Default::default()
            },
        )
        .expect("loads");
        assert_eq!(c.milvus.address, "http://flag:3", "flag beats env");
    }

    #[test]
    fn env_lists_and_numbers_parse() {
        let c = Config::load_from(
            None,
            &env(&[
                (
                    "MILVUS_EXPORTER_READINESS__REQUIRED_COLLECTIONS",
                    "docs,db2.faq",
                ),
                ("MILVUS_EXPORTER_READINESS__MEMORY_PERCENT_MAX", "75"),
                ("MILVUS_EXPORTER_READINESS__DISABLED_RULES", "disk"),
            ]),
            &Overrides::default(),
        )
        .expect("loads");
        assert_eq!(c.readiness.memory_percent_max, 75.0);
        assert_eq!(
            c.readiness.required_collections,
            vec![
                CollectionRef {
                    db_name: "default".into(),
                    name: "docs".into()
                },
                CollectionRef {
                    db_name: "db2".into(),
                    name: "faq".into()
                }
            ]
        );
        assert_eq!(c.readiness.disabled_rules, vec!["disk".to_string()]);
    }

    #[test]
    fn web_limits_are_bounded() {
        for (toml, key) in [
            ("[web]\nwrite_timeout = \"0s\"\n", "web.write_timeout"),
            ("[web]\nwrite_timeout = \"11m\"\n", "web.write_timeout"),
            ("[web]\nmax_requests = -1\n", "web.max_requests"),
            ("[web]\nmax_requests = 1000001\n", "web.max_requests"),
            ("[web]\nmax_connections = 0\n", "web.max_connections"),
        ] {
            let err = load_toml(toml, &[]).expect_err(toml).to_string();
            assert!(err.contains(key), "{toml:?} gave {err:?}, wanted key {key}");
        }
        let c = load_toml("[web]\nwrite_timeout = \"10m\"\nmax_requests = 0\n", &[])
            .expect("the bounds themselves are allowed");
        assert_eq!(c.write_timeout, Duration::from_secs(600));
        assert_eq!(c.max_requests, 0);
    }

    #[test]
    fn the_shipped_sample_config_loads_and_states_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/milvus_exporter.toml");
        let sample = Config::load_from(Some(&path), &[], &Overrides::default())
            .expect("config/milvus_exporter.toml loads");
        let defaults = Config::load_from(None, &[], &Overrides::default()).expect("defaults");
        assert_eq!(sample.milvus, defaults.milvus);
        assert_eq!(sample.cache, defaults.cache);
        assert_eq!(sample.history, defaults.history);
        assert_eq!(sample.readiness, defaults.readiness);
        assert_eq!(sample.system, defaults.system);
        assert_eq!(sample.fleet, defaults.fleet);
        assert_eq!(sample.listen_address, defaults.listen_address);
        assert_eq!(sample.header_read_timeout, defaults.header_read_timeout);
        assert_eq!(sample.max_connections, defaults.max_connections);
        assert_eq!(sample.write_timeout, defaults.write_timeout);
        assert_eq!(sample.max_requests, defaults.max_requests);
        assert_eq!(sample.scrape_timeout_offset, defaults.scrape_timeout_offset);
    }

    #[test]
    fn secret_files_that_are_not_regular_files_are_refused_not_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("pw.fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        // Reading a FIFO with no writer would block start-up forever.
        for path in [fifo.as_path(), Path::new("/dev/zero")] {
            let err = load_toml(
                &format!(
                    "[milvus]\nusername = \"root\"\npassword_file = \"{}\"\n",
                    path.display()
                ),
                &[],
            )
            .expect_err("refused")
            .to_string();
            assert!(
                err.contains("milvus.password_file") && err.contains("not a regular file"),
                "{err}"
            );
        }
    }

    #[test]
    fn kubernetes_service_variables_are_not_config() {
        let c = Config::load_from(
            None,
            &env(&[
                ("MILVUS_EXPORTER_PORT", "tcp://10.0.0.1:9727"),
                ("MILVUS_EXPORTER_SERVICE_HOST", "10.0.0.1"),
                ("MILVUS_EXPORTER_PORT_9727_TCP_ADDR", "10.0.0.1"),
            ]),
            &Overrides::default(),
        );
        assert!(c.is_ok(), "{:?}", c.err());
        let err = Config::load_from(
            None,
            &env(&[("MILVUS_EXPORTER_CACHE__TTLL", "1s")]),
            &Overrides::default(),
        )
        .expect_err("a misspelt key in a section is still an error");
        assert!(err.to_string().contains("ttll"), "{err}");
    }

    #[test]
    fn address_forms_normalise() {
        assert_eq!(
            normalize_address("localhost").unwrap(),
            "http://localhost:19530"
        );
        assert_eq!(
            normalize_address("10.0.0.1:1").unwrap(),
            "http://10.0.0.1:1"
        );
        assert_eq!(
            normalize_address("https://m.example:443").unwrap(),
            "https://m.example:443"
        );
        assert!(normalize_address("ftp://x:1").is_err());
        assert!(normalize_address("http://u:p@x:1").is_err());
        assert!(normalize_address("http://x:1/path").is_err());
        assert!(normalize_address("").is_err());
    }

    #[test]
    fn password_file_is_read_and_trimmed_and_never_debug_printed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret-pw\n").expect("write");
        let c = load_toml(
            &format!(
                "[milvus]\nusername = \"root\"\npassword_file = \"{}\"\n",
                pw.display()
            ),
            &[],
        )
        .expect("loads");
        assert_eq!(c.secrets(), vec!["s3cret-pw"]);
        assert!(!format!("{c:?}").contains("s3cret-pw"));
    }

    /// Each malformed input must name its key; the full table lives in tests/config_errors.rs.
    #[test]
    fn errors_name_the_key() {
        let cases: &[(&str, &str)] = &[
            ("[cache]\nttl = \"3x\"\n", "cache.ttl"),
            (
                "[readiness]\nmemory_percent_max = 120\n",
                "readiness.memory_percent_max",
            ),
            ("[milvus]\naddress = \"ftp://x\"\n", "milvus.address"),
            (
                "[milvus]\npassword_file = \"/nonexistent/pw\"\n",
                "milvus.password_file",
            ),
            ("[log]\nlevel = \"loud\"\n", "log.level"),
            ("[[targets]]\nname = \"\"\n", "targets[0].name"),
            (
                "[[targets]]\nname = \"a\"\n[[targets]]\nname = \"a\"\n",
                "targets[1].name",
            ),
            ("[cache]\nbogus = 1\n", "bogus"),
        ];
        for (toml, key) in cases {
            let err = load_toml(toml, &[]).expect_err(toml).to_string();
            assert!(err.contains(key), "{toml:?} gave {err:?}, wanted key {key}");
            assert!(!err.contains('\n'), "one line: {err:?}");
        }
    }

    #[test]
    fn modules_load_and_their_errors_name_the_key() {
        let c = load_toml(
            "[[targets]]\nname = \"t\"\naddress = \"10.0.0.1:1\"\nmodule = \"prod\"\n\
             [[modules]]\nname = \"prod\"\nallowed_targets = [\"10.0.0.0/8\", \"m-*.svc:*\"]\n\
             metrics_port = 9091\n[modules.milvus]\ntimeout = \"1s\"\ntoken = \"tok\"\n\
             [modules.readiness]\nrequired_collections = [\"docs\"]\n",
            &[],
        )
        .expect("loads");
        let prod = c.module("prod").expect("prod");
        assert_eq!(prod.milvus.timeout, Duration::from_secs(1));
        assert_eq!(prod.metrics_port, Some(9091));
        assert_eq!(prod.readiness.required_collections.len(), 1);
        assert!(prod.allowed.admits_name("m-a.svc", 5));
        assert_eq!(c.targets[0].module, "prod");
        assert_eq!(
            c.module("default").map(|m| m.allowed.is_empty()),
            Some(true)
        );
        assert!(c.secrets().contains(&"tok"));
        let cases: &[(&str, &str)] = &[
            ("[[modules]]\nname = \"\"\n", "modules[0].name"),
            ("[[modules]]\nname = \"default\"\n", "modules[0].name"),
            (
                "[[modules]]\nname = \"a\"\n[[modules]]\nname = \"a\"\n",
                "modules[1].name",
            ),
            (
                "[[modules]]\nname = \"a\"\n[modules.milvus]\naddress = \"x:1\"\n",
                "modules[0].milvus.address",
            ),
            (
                "[[modules]]\nname = \"a\"\nallowed_targets = [\"10.0.0.0/40\"]\n",
                "modules[0].allowed_targets[0]",
            ),
            (
                "[[modules]]\nname = \"a\"\nmetrics_port = 70000\n",
                "modules[0].metrics_port",
            ),
            (
                "[[modules]]\nname = \"a\"\n[modules.readiness]\nmemory_percent_max = 200\n",
                "modules[0].readiness.memory_percent_max",
            ),
            (
                "[[targets]]\nname = \"t\"\nmodule = \"nope\"\n",
                "targets[0].module",
            ),
            ("[milvus]\nmodule = \"x\"\n", "milvus.module"),
            ("[fleet]\nmax_targets = 0\n", "fleet.max_targets"),
            ("[fleet]\nmax_waiters = 0\n", "fleet.max_waiters"),
            ("[fleet]\nidle_timeout = \"0s\"\n", "fleet.idle_timeout"),
            (
                "[fleet]\nallowed_targets = [\"nohost\"]\n",
                "fleet.allowed_targets[0]",
            ),
        ];
        for (toml, key) in cases {
            let err = load_toml(toml, &[]).expect_err(toml).to_string();
            assert!(err.contains(key), "{toml:?} gave {err:?}, wanted key {key}");
            assert!(!err.contains('\n'), "one line: {err:?}");
        }
    }

    #[test]
    fn cardinality_controls_and_the_inventory_cadence_refuse_their_worst_values() {
        let huge = format!(
            "[milvus.collections]\ninclude = [\"{}\"]\n",
            "(a|b)*c{1000}".repeat(200)
        );
        let many = format!(
            "[milvus.collections]\nexclude = [{}]\n",
            (0..300)
                .map(|i| format!("\"x{i}\""))
                .collect::<Vec<_>>()
                .join(",")
        );
        let cases: Vec<(String, &str)> = vec![
            (
                "[milvus.collections]\ninclude = [\"(\"]\n".into(),
                "milvus.collections.include[0]",
            ),
            (
                "[milvus.collections]\nexclude = [\"ok\", \"\"]\n".into(),
                "milvus.collections.exclude[1]",
            ),
            (huge, "milvus.collections.include[0]"),
            (many, "milvus.collections.exclude"),
            (
                "[milvus]\nmax_collections = 0\n".into(),
                "milvus.max_collections",
            ),
            (
                "[milvus]\nmax_collections = -1\n".into(),
                "milvus.max_collections",
            ),
            (
                "[milvus]\nmax_collections = 99999999999\n".into(),
                "milvus.max_collections",
            ),
            (
                "[milvus]\nmax_listed_collections = 0\n".into(),
                "milvus.max_listed_collections",
            ),
            (
                "[milvus]\nmax_listed_collections = 1000001\n".into(),
                "milvus.max_listed_collections",
            ),
            (
                "[cache]\ninventory_interval = \"500ms\"\n".into(),
                "cache.inventory_interval",
            ),
            (
                "[cache]\ninventory_interval = \"400d\"\n".into(),
                "cache.inventory_interval",
            ),
            (
                "[[targets]]\nname = \"b\"\n[targets.collections]\ninclude = [\"[\"]\n".into(),
                "targets[0].collections.include[0]",
            ),
        ];
        for (toml, key) in cases {
            let err = load_toml(&toml, &[]).expect_err(&toml).to_string();
            assert!(err.contains(key), "{toml:?} gave {err:?}, wanted key {key}");
            assert!(!err.contains('\n'), "one line: {err:?}");
        }
    }

    #[test]
    fn collection_filters_are_anchored_and_exclude_wins() {
        let c = load_toml(
            "[milvus]\nmax_collections = 5\n[milvus.collections]\ninclude = [\"default\\\\.docs.*\", \"kb\\\\..*\"]\nexclude = [\".*_tmp\"]\n[cache]\ninventory_interval = \"0s\"\n",
            &[],
        )
        .expect("loads");
        let f = &c.milvus.filter;
        assert!(f.admits("default", "docs"));
        assert!(f.admits("default", "docs_v2"));
        assert!(!f.admits("default", "mydocs"), "anchored at the start");
        assert!(
            !f.admits("other", "default.docs"),
            "matched against db.collection"
        );
        assert!(f.admits("kb", "anything"));
        assert!(!f.admits("kb", "anything_tmp"), "exclude wins");
        assert_eq!(c.milvus.max_collections, 5);
        assert_eq!(c.milvus.inventory_interval, Duration::ZERO);
        let d = Config::load_from(None, &[], &Overrides::default()).expect("defaults");
        assert!(d.milvus.filter.is_empty());
        assert_eq!(d.milvus.max_collections, 10_000);
        assert_eq!(d.cache.inventory_interval, Duration::from_secs(300));
        assert_eq!(d.milvus.inventory_interval, Duration::from_secs(300));
        // From the environment, the lists split on commas.
        let e = load_toml(
            "",
            &[(
                "MILVUS_EXPORTER_MILVUS__COLLECTIONS__EXCLUDE",
                "a\\..*,b\\..*",
            )],
        )
        .expect("env loads");
        assert!(!e.milvus.filter.admits("a", "x"));
        assert!(!e.milvus.filter.admits("b", "x"));
        assert!(e.milvus.filter.admits("c", "x"));
    }
}
