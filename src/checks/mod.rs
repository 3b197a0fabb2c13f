//! The checks and their registry. A check is one module: it owns how its facts are fetched
//! (under the deadline it is given, [`Check::run`]), the typed facts it adds to the snapshot
//! and how they render ([`Facts`]), and the readiness rules it contributes
//! ([`Registration::rules`]). The registry below ([`REGISTRY`]) is one line per check;
//! the snapshot, readiness, the cache and every rendering iterate it or the results it
//! produced, and never name a check. Nor does a check name another: what one reads of
//! another's facts is published into the results and read from them ([`shared`],
//! [`Results::shared`]), and code two checks use sits in neutral modules ([`grpc`],
//! `http_client`, `vector`). A test keeps it so.
//!
//! The model is blackbox_exporter's one `ProbeFn` signature per prober and node_exporter's
//! collector registry with a success and duration per collector.

pub mod facts;
pub mod grpc;
mod http_client;
pub mod shared;
mod vector;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use crate::config::{
    Config, ConfigError, DependencyConfig, MilvusTarget, Module, ProbeConfig, RagProbeConfig,
};
use crate::model::{CheckResult, CollectionRef, RuleStatus};

pub use crate::model::CheckError;
pub use facts::{Cell, CheckRow, Facts, Panel, Results, Section, Tone};
pub use grpc::{ClientError, MilvusClient};
pub use shared::Shared;
pub use system::SystemSampler;

/// The text of a panic payload, for the error that stands in for a panicking check.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// reqwest's top-level message is generic; the cause (refused, reset, DNS) is below it.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Runs a check body and times it. A panic inside the body (a bug, or a library tripping on
/// a value nobody foresaw) becomes this check's failure: the other checks of the refresh are
/// still reported and the next refresh runs as usual.
pub async fn timed<T>(fut: impl Future<Output = Result<T, CheckError>>) -> CheckResult<T> {
    use futures::FutureExt;
    let start = Instant::now();
    let outcome = match std::panic::AssertUnwindSafe(fut).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(payload) => {
            let why = panic_message(payload.as_ref());
            tracing::error!(panic = %why, "a check panicked");
            Err(CheckError::Other(format!("check panicked: {why}")))
        }
    };
    CheckResult {
        duration: start.elapsed(),
        outcome,
    }
}

/// How long a check may take: the refresh's budget, and the instant it runs out. A check
/// with a timeout of its own (a probe, a dependency) takes the earlier of the two.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    pub budget: Duration,
    pub at: tokio::time::Instant,
}

/// One check of one target, built once and run every refresh.
pub trait Check: Send + Sync {
    /// Fetches the facts, never past `deadline`. Never fails: a failure is in the facts.
    fn run(&self, deadline: Deadline) -> BoxFuture<'_, Box<dyn Facts>>;
    /// The facts of this check when the whole refresh failed (before the first refresh, or
    /// when it panicked); `None` when the check then says nothing at all.
    fn failed(&self, error: &CheckError) -> Option<Box<dyn Facts>>;
    /// Stops what the check runs on tasks of its own (the collections inventory pass), when
    /// a reload retires its target's cache while a request still holds it.
    fn stop(&self) {}
}

/// What a rule reads: every result of the refresh, the readiness configuration, and the
/// address of the target's Milvus (for reasons that name it).
#[derive(Clone, Copy)]
pub struct RuleInput<'a> {
    pub results: &'a Results,
    pub config: &'a crate::config::ReadinessConfig,
    pub address: &'a str,
}

/// A built-in readiness rule, contributed by the check whose facts it judges.
pub struct Rule {
    /// Its name in `/readyz?verbose`, `milvus_readiness_check{check}` and
    /// `readiness.disabled_rules`.
    pub name: &'static str,
    /// Where it stands in a verdict, lowest first: the first failing rule is `/readyz`'s
    /// `reason`, so the order is part of the answer. Registry order cannot give it (the
    /// `milvus` check's `quota` rule comes after the `components` rule), hence a number, with
    /// gaps so a new check can slot a rule in without renumbering the others.
    pub rank: u16,
    /// Whether it judges `/probe` targets too; a rule about the exporter's own host or the
    /// main target's configured collections and probes does not.
    pub probe_targets: bool,
    pub eval: fn(&RuleInput<'_>) -> RuleStatus,
}

/// Everything a check's constructor may need of a target.
pub struct Setup<'a> {
    pub target: &'a MilvusTarget,
    /// One gRPC client per target, shared by every check that speaks Milvus's protocol.
    pub milvus: &'a Arc<MilvusClient>,
    /// The exporter's host sampler; only the main target has one (the host is the exporter's,
    /// not any Milvus's).
    pub system: Option<&'a Arc<SystemSampler>>,
    /// The target's module: its readiness section, read probes, dependencies and RAG probes.
    /// Every target has one (the main target's is `default`, the top-level sections), so
    /// every target takes the same path; a check with a new per-module section reads it from
    /// here and adds nothing to this struct, to [`Checker::new`] or to its callers.
    pub module: &'a Module,
}

impl<'a> Setup<'a> {
    /// The module's `readiness.probes`.
    pub fn probes(&self) -> &'a [ProbeConfig] {
        &self.module.readiness.probes
    }
    /// The module's `readiness.required_collections`; the collections check never filters
    /// them away.
    pub fn required(&self) -> &'a [CollectionRef] {
        &self.module.readiness.required_collections
    }
    /// The module's `[[dependencies]]`.
    pub fn dependencies(&self) -> &'a [DependencyConfig] {
        &self.module.dependencies
    }
    /// The module's `[[rag_probes]]` (embed, then search).
    pub fn rag_probes(&self) -> &'a [RagProbeConfig] {
        &self.module.rag_probes
    }
    /// The module's `[readiness]`.
    pub fn readiness(&self) -> &'a crate::config::ReadinessConfig {
        &self.module.readiness
    }
}

/// What a check's constructor gives: the check, `None` when it does not apply to the target,
/// or why its client cannot be made (a config error naming the key).
pub type Built = Result<Option<Box<dyn Check>>, ClientError>;

/// One entry of the registry: a check's rules, and how to build it for a target.
pub struct Registration {
    pub name: &'static str,
    pub rules: &'static [Rule],
    /// The check for this target, or `None` when it does not apply (no sampler, no probes,
    /// no `metrics_address`).
    pub build: fn(&Setup<'_>) -> Built,
}

// The check modules. They are declared here, not generated by a macro, because rustfmt
// formats only the modules it can see declared.
pub mod collections;
pub mod components;
pub mod http;
pub mod milvus;
pub mod nodes;
pub mod probe;
pub mod rag;
pub mod system;

/// Every check, in the order their results, metric families and JSON sections appear. Adding a
/// check is its module, its `pub mod` line above and one line here.
pub static REGISTRY: &[&Registration] = &[
    &milvus::CHECK,
    &collections::CHECK,
    &nodes::CHECK,
    &components::CHECK,
    &probe::CHECK,
    &http::CHECK,
    &rag::CHECK,
    &system::CHECK,
];

/// Every built-in rule, in verdict order.
pub fn rules() -> Vec<&'static Rule> {
    let mut rules: Vec<&'static Rule> = REGISTRY.iter().flat_map(|r| r.rules).collect();
    rules.sort_by_key(|r| r.rank);
    rules
}

/// Checks the rule names a configuration uses against the registry: `readiness.disabled_rules`
/// may name a built-in rule, a dependency or a RAG probe, and neither of those may take a
/// rule's name.
/// Config sits below the checks and cannot see their rules, so this runs when the checks are
/// built from a configuration (start-up, `check`, reload), and its errors are config errors
/// naming the key, exactly as config's own.
pub fn validate(config: &Config) -> Result<(), ConfigError> {
    for (i, module) in config.modules.iter().enumerate() {
        // The default module is the top-level sections; the others are `[[modules]]` entries.
        let prefix = match i {
            0 => String::new(),
            n => format!("modules[{}].", n - 1),
        };
        validate_module(module, &prefix)?;
    }
    Ok(())
}

/// [`validate`] for one module, its keys under `prefix`.
fn validate_module(module: &Module, prefix: &str) -> Result<(), ConfigError> {
    let rules = rules();
    let known = || rules.iter().map(|r| r.name).collect::<Vec<_>>().join(", ");
    let is_rule = |name: &str| rules.iter().any(|r| r.name == name);
    for (i, dep) in module.dependencies.iter().enumerate() {
        if is_rule(&dep.name) {
            return Err(ConfigError::invalid(
                format!("{prefix}dependencies[{i}].name"),
                format!("{:?} is already the name of a rule or target", dep.name),
            ));
        }
    }
    for (i, probe) in module.rag_probes.iter().enumerate() {
        if is_rule(&probe.name) {
            return Err(ConfigError::invalid(
                format!("{prefix}rag_probes[{i}].name"),
                format!("{:?} is already the name of a rule", probe.name),
            ));
        }
    }
    for (i, r) in module.readiness.disabled_rules.iter().enumerate() {
        let named = module.dependencies.iter().any(|d| &d.name == r)
            || module.rag_probes.iter().any(|p| &p.name == r);
        if !is_rule(r) && !named {
            return Err(ConfigError::invalid(
                format!("{prefix}readiness.disabled_rules[{i}]"),
                format!(
                    "unknown rule {r:?} (known: {}, or a dependency or rag probe name)",
                    known()
                ),
            ));
        }
    }
    Ok(())
}

/// Everything needed to refresh one target: its checks, built from the registry.
pub struct Checker {
    pub target: MilvusTarget,
    /// The target's gRPC client, which a reload that keeps the connection settings hands on.
    milvus: Arc<MilvusClient>,
    checks: Vec<Box<dyn Check>>,
}

impl Checker {
    /// A checker for `target`, probed with `module`. Only the main target passes the host
    /// sampler.
    pub fn new(
        target: MilvusTarget,
        system: Option<Arc<SystemSampler>>,
        module: &Module,
    ) -> Result<Self, ClientError> {
        Self::with_client(target, None, system, module)
    }

    /// [`Checker::new`] on `client` when one is given (the channel of a predecessor with the
    /// same connection settings), else on a new client.
    pub fn with_client(
        target: MilvusTarget,
        client: Option<Arc<MilvusClient>>,
        system: Option<Arc<SystemSampler>>,
        module: &Module,
    ) -> Result<Self, ClientError> {
        let milvus = match client {
            Some(c) => c,
            None => Arc::new(MilvusClient::new(&target)?),
        };
        let setup = Setup {
            target: &target,
            milvus: &milvus,
            system: system.as_ref(),
            module,
        };
        let mut checks = Vec::new();
        for registration in REGISTRY {
            if let Some(check) = (registration.build)(&setup)? {
                checks.push(check);
            }
        }
        Ok(Checker {
            target,
            milvus,
            checks,
        })
    }

    /// The target's gRPC client.
    pub fn client(&self) -> Arc<MilvusClient> {
        Arc::clone(&self.milvus)
    }

    /// Stops every check's own tasks.
    pub fn stop(&self) {
        for c in &self.checks {
            c.stop();
        }
    }

    /// The longest a refresh can take: every check is cut at its own deadline, and the
    /// slowest of those is Milvus's.
    pub fn refresh_deadline(&self) -> Duration {
        self.target.timeout
    }

    /// One refresh: all checks at once, each under its own deadline, none past `budget`.
    pub async fn run(&self, budget: Duration) -> Results {
        let budget = budget.min(self.target.timeout);
        // `budget` is at most `milvus.timeout`, which config bounds, so this cannot overflow;
        // if it somehow would, a far deadline is the same as none.
        let now = tokio::time::Instant::now();
        let at = now
            .checked_add(budget)
            .unwrap_or_else(|| now + Duration::from_secs(86_400));
        let deadline = Deadline { budget, at };
        let results = futures::future::join_all(self.checks.iter().map(|c| c.run(deadline))).await;
        Results::new(results)
    }

    /// The results of a refresh in which every check failed with `error`.
    pub fn failed(&self, error: &CheckError) -> Results {
        Results::new(self.checks.iter().filter_map(|c| c.failed(error)).collect())
    }
}

/// A failed `CheckResult`, boxed: what most checks' [`Check::failed`] returns.
pub fn failed<T: 'static>(error: &CheckError) -> Option<Box<dyn Facts>>
where
    CheckResult<T>: Facts,
{
    Some(Box::new(CheckResult::<T> {
        duration: Duration::ZERO,
        outcome: Err(error.clone()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;

    fn config(toml: &str) -> Config {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("exporter.toml");
        std::fs::write(&path, toml).expect("write config");
        Config::load_from(Some(&path), &[], &Overrides::default()).expect("loads")
    }

    fn key_of(e: ConfigError) -> String {
        match e {
            ConfigError::Invalid { key, .. } => key,
            other => panic!("not an invalid key: {other}"),
        }
    }

    #[test]
    fn rules_keep_their_names_and_verdict_order() {
        const TODAY: [&str; 7] = [
            "milvus",
            "components",
            "quota",
            "collections",
            "probe",
            "memory",
            "disk",
        ];
        let all: Vec<&str> = rules().iter().map(|r| r.name).collect();
        let known: Vec<&str> = all.iter().copied().filter(|n| TODAY.contains(n)).collect();
        assert_eq!(
            known, TODAY,
            "a new rule may slot in, these keep their order"
        );
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), all.len(), "rule names are unique: {all:?}");
        let mut checks: Vec<&str> = REGISTRY.iter().map(|r| r.name).collect();
        checks.sort();
        checks.dedup();
        assert_eq!(checks.len(), REGISTRY.len(), "check names are unique");
    }

    #[test]
    fn disabled_rules_may_name_a_rule_or_a_dependency_and_nothing_else() {
        let dep = "[[dependencies]]\nname = \"embed\"\naddress = \"127.0.0.1:1\"\n";
        let ok = config(&format!(
            "[readiness]\ndisabled_rules = [\"disk\", \"embed\"]\n{dep}"
        ));
        assert!(validate(&ok).is_ok());
        let bad = config("[readiness]\ndisabled_rules = [\"memory\", \"nope\"]\n");
        let err = validate(&bad).expect_err("nope is no rule");
        assert!(err.to_string().contains("unknown rule \"nope\""), "{err}");
        assert_eq!(key_of(err), "readiness.disabled_rules[1]");
    }

    #[test]
    fn a_rag_probe_may_not_take_a_rules_name_and_may_be_disabled_by_its_own() {
        let probe = |name: &str| {
            format!(
                "[[rag_probes]]\nname = \"{name}\"\ncollection = \"kb\"\n\
                 [rag_probes.embedding]\nurl = \"http://127.0.0.1:1/v1/embeddings\"\nmodel = \"m\"\n"
            )
        };
        let err = validate(&config(&probe("probe"))).expect_err("probe is a rule");
        assert!(
            err.to_string().contains("already the name of a rule"),
            "{err}"
        );
        assert_eq!(key_of(err), "rag_probes[0].name");
        let ok = config(&format!(
            "[readiness]\ndisabled_rules = [\"kb-retrieval\"]\n{}",
            probe("kb-retrieval")
        ));
        assert!(validate(&ok).is_ok());
    }

    /// The modules of the registry, read from this file's `REGISTRY` list (`&name::CHECK`),
    /// so a new check is covered without an edit here.
    fn check_modules(source: &str) -> Vec<String> {
        let start = source
            .find("pub static REGISTRY")
            .expect("the registry list");
        let end = start + source[start..].find("];").expect("its end");
        let entry = regex::Regex::new(r"&(\w+)::CHECK").expect("pattern");
        entry
            .captures_iter(&source[start..end])
            .map(|c| c[1].to_string())
            .collect()
    }

    /// Every `.rs` file under `dir`, with its path.
    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read src/checks") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn no_check_module_names_another_check_so_the_checks_form_no_circle() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/checks");
        let registry = std::fs::read_to_string(root.join("mod.rs")).expect("mod.rs");
        let checks = check_modules(&registry);
        assert_eq!(checks.len(), REGISTRY.len(), "registry list: {checks:?}");
        let mut files = Vec::new();
        sources(&root, &mut files);
        let mut found = Vec::new();
        for file in files.iter().filter(|f| **f != root.join("mod.rs")) {
            let relative = file.strip_prefix(&root).expect("under src/checks");
            // The check a file belongs to: `milvus.rs`, or anything under `collections/`. A
            // file that belongs to none (facts, shared, grpc, …) may name no check at all.
            let first = relative.components().next().expect("a name");
            let owner = first.as_os_str().to_string_lossy();
            let owner = owner.trim_end_matches(".rs");
            // Code only: a doc comment may say where a fact comes from.
            let code: String = std::fs::read_to_string(file)
                .expect("read")
                .lines()
                .map(|l| l.split("//").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            for other in checks.iter().filter(|c| c.as_str() != owner) {
                let uses = [
                    format!(r"\b(?:super::)+{other}\b"),
                    format!(r"\bcrate::checks::{other}\b"),
                    format!(r"\b(?:super|checks)::\{{[^}}]*\b{other}\b"),
                ];
                for pattern in &uses {
                    let re = regex::Regex::new(pattern).expect("pattern");
                    if let Some(m) = re.find(&code) {
                        found.push(format!("{}: {}", relative.display(), m.as_str()));
                    }
                }
            }
        }
        assert!(
            found.is_empty(),
            "a check module names a sibling check; publish the fact in checks/shared.rs \
             instead:\n{}",
            found.join("\n")
        );
    }

    #[test]
    fn a_dependency_may_not_take_a_rules_name() {
        let c = config("[[dependencies]]\nname = \"quota\"\naddress = \"127.0.0.1:1\"\n");
        assert_eq!(
            key_of(validate(&c).expect_err("quota is a rule")),
            "dependencies[0].name"
        );
    }
}
