//! `[[modules]]` and `[fleet]`: how to probe a Milvus the exporter was not told about.
//!
//! A module holds everything about *how* to probe (credentials, TLS, timeouts, collection
//! filters, readiness thresholds, required collections, read probes, dependencies, RAG
//! probes) and nothing about *what*: the address comes from the scrape
//! (`/probe?target=…&module=…`), as in blackbox_exporter. The top-level `[milvus]`,
//! `[readiness]`, `[[dependencies]]` and `[[rag_probes]]` are the module `default`, which the
//! main target and every `[[targets]]` entry without a `module` use.
//!
//! Because a discovered target lets whoever can reach `/probe` choose what the exporter
//! dials, each module names the targets it allows ([`Allowlist`]); an empty list (the
//! default) turns discovered targets off for that module.

use std::net::IpAddr;

use super::dependencies::RawDependency;
use super::milvus::RawMilvus;
use super::rag::RawRagProbe;
use super::readiness::RawReadiness;
use super::*;

/// The most patterns one module's `allowed_targets` may hold.
pub const MAX_ALLOWED_TARGETS: usize = 256;
/// The largest `fleet.max_targets`.
pub const MAX_MAX_TARGETS: usize = 100_000;
/// The largest `fleet.max_waiters`.
pub const MAX_MAX_WAITERS: usize = 10_000;
/// The name of the module the top-level sections make.
pub const DEFAULT_MODULE: &str = "default";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawModule {
    pub(super) name: Option<String>,
    pub(super) allowed_targets: Vec<String>,
    pub(super) metrics_port: Option<i64>,
    pub(super) milvus: RawMilvus,
    pub(super) readiness: RawReadiness,
    pub(super) dependencies: Vec<RawDependency>,
    pub(super) rag_probes: Vec<RawRagProbe>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawFleet {
    pub(super) allowed_targets: Vec<String>,
    pub(super) metrics_port: Option<i64>,
    pub(super) max_targets: i64,
    pub(super) idle_timeout: HumanDuration,
    pub(super) max_waiters: i64,
}

impl Default for RawFleet {
    fn default() -> Self {
        RawFleet {
            allowed_targets: Vec::new(),
            metrics_port: None,
            max_targets: 1000,
            idle_timeout: HumanDuration(Duration::from_secs(600)),
            max_waiters: 256,
        }
    }
}

/// `[fleet]`: the bounds on discovered targets, and the `default` module's allowlist.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetConfig {
    /// Discovered targets held at once (each has its cache and gRPC channel); past it a new
    /// one gets 503 until an idle one is evicted.
    pub max_targets: usize,
    /// A discovered target nobody has probed for this long is dropped with its channel.
    pub idle_timeout: Duration,
    /// Requests waiting on one target's refresh at once; more get that target's newest
    /// complete snapshot, or 503 when it has none.
    pub max_waiters: usize,
}

impl FleetConfig {
    pub(super) fn from_raw(raw: &RawFleet) -> Result<Self, ConfigError> {
        if !(1..=MAX_MAX_TARGETS as i64).contains(&raw.max_targets) {
            return Err(ConfigError::invalid(
                "fleet.max_targets",
                format!("{} is outside 1-{MAX_MAX_TARGETS}", raw.max_targets),
            ));
        }
        if !(1..=MAX_MAX_WAITERS as i64).contains(&raw.max_waiters) {
            return Err(ConfigError::invalid(
                "fleet.max_waiters",
                format!("{} is outside 1-{MAX_MAX_WAITERS}", raw.max_waiters),
            ));
        }
        bounded(
            "fleet.idle_timeout",
            raw.idle_timeout.0,
            Duration::from_secs(1),
            Duration::from_secs(86_400),
        )?;
        Ok(FleetConfig {
            max_targets: raw.max_targets as usize,
            idle_timeout: raw.idle_timeout.0,
            max_waiters: raw.max_waiters as usize,
        })
    }
}

/// One module: the settings every target probed with it shares.
#[derive(Clone, Debug, PartialEq)]
pub struct Module {
    pub name: String,
    /// Which addresses `/probe?target=` may name with this module.
    pub allowed: Allowlist,
    /// The connection settings of a discovered target; its `address` and `name` are
    /// placeholders, replaced by the target's own.
    pub milvus: MilvusTarget,
    /// Milvus's metrics port on the target's host, for per-component health and quota
    /// states of a discovered target (`None`: those checks do not run for it).
    pub metrics_port: Option<u16>,
    pub readiness: ReadinessConfig,
    pub dependencies: Vec<DependencyConfig>,
    pub rag_probes: Vec<RagProbeConfig>,
}

impl Module {
    /// Whether a configured target's checks come out the same under `self` and `other`:
    /// what they read of the module (its allowlist and metrics port are for discovered
    /// targets only, whose own settings come from the module).
    pub fn same_checks(&self, other: &Module) -> bool {
        self.readiness == other.readiness
            && self.dependencies == other.dependencies
            && self.rag_probes == other.rag_probes
    }
}

/// `key` of an error raised by a section parser, moved under `prefix` (`modules[2].`), so a
/// module's readiness error names `modules[2].readiness.probes[0].kind`.
fn under(prefix: &str) -> impl Fn(ConfigError) -> ConfigError + '_ {
    move |e| match e {
        ConfigError::Invalid { key, problem } => ConfigError::Invalid {
            key: format!("{prefix}{key}"),
            problem,
        },
        other => other,
    }
}

/// A port as written in the config, checked.
fn port(key: &str, v: Option<i64>) -> Result<Option<u16>, ConfigError> {
    v.map(|p| {
        u16::try_from(p)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| ConfigError::invalid(key, format!("{p} is not a port (1-65535)")))
    })
    .transpose()
}

impl Module {
    /// The `default` module: the top-level sections, with `[fleet]`'s allowlist.
    pub(super) fn default_module(
        milvus: &MilvusTarget,
        readiness: &ReadinessConfig,
        dependencies: &[DependencyConfig],
        rag_probes: &[RagProbeConfig],
        fleet: &RawFleet,
    ) -> Result<Module, ConfigError> {
        let mut template = milvus.clone();
        // The main target's metrics addresses are its own, never a discovered target's.
        template.metrics_address = None;
        template.quota_metrics_address = None;
        Ok(Module {
            name: DEFAULT_MODULE.into(),
            allowed: Allowlist::parse(&fleet.allowed_targets, "fleet.allowed_targets")?,
            milvus: template,
            metrics_port: port("fleet.metrics_port", fleet.metrics_port)?,
            readiness: readiness.clone(),
            dependencies: dependencies.to_vec(),
            rag_probes: rag_probes.to_vec(),
        })
    }

    pub(super) fn from_raw(
        raw: RawModule,
        i: usize,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Module, ConfigError> {
        let key = format!("modules[{i}]");
        let name = raw.name.as_deref().map(str::trim).unwrap_or_default();
        if name.is_empty() {
            return Err(ConfigError::invalid(
                format!("{key}.name"),
                "every module needs a non-empty name",
            ));
        }
        if name == DEFAULT_MODULE {
            return Err(ConfigError::invalid(
                format!("{key}.name"),
                "\"default\" is the module of the top-level [milvus] and [readiness] sections \
                 (its allowlist is fleet.allowed_targets)",
            ));
        }
        let m = &raw.milvus;
        for (field, given) in [
            ("address", m.address.is_some()),
            ("name", m.name.is_some()),
            ("module", m.module.is_some()),
            ("metrics_address", m.metrics_address.is_some()),
            ("quota_metrics_address", m.quota_metrics_address.is_some()),
        ] {
            if given {
                return Err(ConfigError::invalid(
                    format!("{key}.milvus.{field}"),
                    "a module holds everything but the address, which comes from \
                     /probe?target= (use metrics_port for the metrics port)",
                ));
            }
        }
        let mut raw_milvus = raw.milvus;
        // A placeholder address, so the TLS settings are checked as for a configured target.
        let tls = &raw_milvus.tls;
        let wants_tls = tls.ca_file.is_some()
            || tls.cert_file.is_some()
            || tls.key_file.is_some()
            || tls.server_name.is_some();
        raw_milvus.address = Some(if wants_tls {
            "https://module.invalid:19530".into()
        } else {
            "http://module.invalid:19530".into()
        });
        let milvus = MilvusTarget::from_raw(raw_milvus, &format!("{key}.milvus"), name)?;
        let readiness =
            ReadinessConfig::from_raw(raw.readiness).map_err(under(&format!("{key}.")))?;
        let mut names = Names::default();
        let mut dependencies = Vec::new();
        for (j, d) in raw.dependencies.into_iter().enumerate() {
            let dep = DependencyConfig::from_raw(d, j, env).map_err(under(&format!("{key}.")))?;
            names.claim(&dep.name, format!("{key}.dependencies[{j}].name"), "")?;
            dependencies.push(dep);
        }
        let mut rag_probes = Vec::new();
        for (j, r) in raw.rag_probes.into_iter().enumerate() {
            let probe = RagProbeConfig::from_raw(r, j, env).map_err(under(&format!("{key}.")))?;
            names.claim(&probe.name, format!("{key}.rag_probes[{j}].name"), "")?;
            rag_probes.push(probe);
        }
        Ok(Module {
            name: name.to_string(),
            allowed: Allowlist::parse(&raw.allowed_targets, &format!("{key}.allowed_targets"))?,
            milvus,
            metrics_port: port(&format!("{key}.metrics_port"), raw.metrics_port)?,
            readiness,
            dependencies,
            rag_probes,
        })
    }
}

/// One entry of `allowed_targets`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Allowed {
    /// `10.0.0.0/8`: any port of an IP literal in the network.
    Cidr { net: IpAddr, prefix: u8 },
    /// `127.0.0.1:19530`: that IP literal at that port (`*`: any port).
    Ip { ip: IpAddr, port: Option<u16> },
    /// `milvus-*.milvus.svc:19530`: a DNS name matching the glob (`*` is any run of
    /// characters but `.`), compared without case; `port` `None` is `*`.
    Name { glob: String, port: Option<u16> },
}

/// A module's `allowed_targets`: what `/probe?target=` may name with it.
///
/// - An IP literal is allowed by a CIDR that holds it or an IP pattern naming it.
/// - A DNS name is allowed by a name pattern; then every address it resolves to must be an
///   address no entry refuses (see [`Allowlist::admits_resolved`]).
/// - Loopback, link-local, unspecified and multicast addresses are refused unless listed
///   explicitly: by an IP pattern naming the address, or by a CIDR inside that same range
///   (`127.0.0.0/8`, `169.254.0.0/16`, `::1/128`); `0.0.0.0/0` does not list them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowlist(Vec<Allowed>);

/// The ranges a wide CIDR never opens: the exporter's own host and its neighbours' metadata
/// services (169.254.169.254) are where a caller-chosen address does harm.
fn special(ip: IpAddr) -> Option<(&'static str, IpAddr, u8)> {
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => Some(("loopback", [127, 0, 0, 0].into(), 8)),
        IpAddr::V4(v4) if v4.is_link_local() => Some(("link-local", [169, 254, 0, 0].into(), 16)),
        IpAddr::V4(v4) if v4.is_unspecified() => Some(("unspecified", ip, 32)),
        IpAddr::V4(v4) if v4.is_multicast() || v4.is_broadcast() => {
            Some(("multicast or broadcast", ip, 32))
        }
        IpAddr::V6(v6) if v6.is_loopback() => Some(("loopback", ip, 128)),
        IpAddr::V6(v6) if v6.is_unspecified() => Some(("unspecified", ip, 128)),
        IpAddr::V6(v6) if v6.is_multicast() => Some(("multicast", ip, 128)),
        IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80 => Some((
            "link-local",
            std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0).into(),
            10,
        )),
        _ => None,
    }
}

/// Whether `ip` is in `net/prefix` (both of one family).
fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    let (ip, net, bits) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u32::from(a) as u128, u32::from(n) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(a), u128::from(n), 128),
        _ => return false,
    };
    let prefix = u32::from(prefix).min(bits);
    if prefix == 0 {
        return true;
    }
    let shift = bits - prefix;
    (ip >> shift) == (net >> shift)
}

/// `*` matches any run of characters but `.`; everything else matches itself.
fn glob_matches(glob: &str, name: &str) -> bool {
    fn go(g: &[u8], n: &[u8]) -> bool {
        match g.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len())
                .take_while(|&i| i == 0 || n[i - 1] != b'.')
                .any(|i| go(rest, &n[i..])),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    go(glob.as_bytes(), name.as_bytes())
}

/// An IP with IPv4-mapped IPv6 (`::ffff:127.0.0.1`) seen as the IPv4 address it is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl Allowlist {
    fn parse(list: &[String], key: &str) -> Result<Allowlist, ConfigError> {
        if list.len() > MAX_ALLOWED_TARGETS {
            return Err(ConfigError::invalid(
                key,
                format!("{} patterns; at most {MAX_ALLOWED_TARGETS}", list.len()),
            ));
        }
        let mut out = Vec::with_capacity(list.len());
        for (i, p) in list.iter().enumerate() {
            let k = format!("{key}[{i}]");
            out.push(Self::entry(p.trim()).map_err(|problem| ConfigError::invalid(k, problem))?);
        }
        Ok(Allowlist(out))
    }

    fn entry(p: &str) -> Result<Allowed, String> {
        let shown = shown(p);
        if let Some((net, prefix)) = p.split_once('/') {
            let net: IpAddr = net
                .parse()
                .map_err(|_| format!("{shown} is not a CIDR like 10.0.0.0/8"))?;
            let net = canonical(net);
            let max = if net.is_ipv4() { 32 } else { 128 };
            let prefix: u8 = prefix
                .parse()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{shown}: the prefix length must be 0-{max}"))?;
            return Ok(Allowed::Cidr { net, prefix });
        }
        let (host, port) = p
            .rsplit_once(':')
            .filter(|(h, _)| !h.is_empty())
            .ok_or_else(|| format!("{shown} is not host:port (the port may be *) nor a CIDR"))?;
        let port = match port {
            "*" => None,
            n => Some(
                n.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("{shown}: {n:?} is not a port (1-65535) nor *"))?,
            ),
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(Allowed::Ip {
                ip: canonical(ip),
                port,
            });
        }
        let glob = host.trim_end_matches('.').to_ascii_lowercase();
        let valid = !glob.is_empty()
            && glob
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._*".contains(&b));
        if !valid {
            return Err(format!(
                "{shown}: the host must be an IP address or a DNS name pattern (letters, \
                 digits, - . _ and *)"
            ));
        }
        Ok(Allowed::Name { glob, port })
    }

    /// Nothing allowed: discovered targets are off for the module.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a DNS name pattern admits `name:port` (`name` lower-case, no trailing dot).
    pub fn admits_name(&self, name: &str, port: u16) -> bool {
        self.0.iter().any(|a| match a {
            Allowed::Name { glob, port: p } => {
                p.is_none_or(|p| p == port) && glob_matches(glob, name)
            }
            _ => false,
        })
    }

    /// Whether an IP literal target `ip:port` is allowed; `Err` says why not.
    pub fn admits_ip(&self, ip: IpAddr, port: u16) -> Result<(), String> {
        let ip = canonical(ip);
        let named = self.0.iter().any(|a| match a {
            Allowed::Ip { ip: i, port: p } => *i == ip && p.is_none_or(|p| p == port),
            _ => false,
        });
        if named {
            return Ok(());
        }
        let in_cidr = |explicit_only: bool| {
            self.0.iter().any(|a| match a {
                Allowed::Cidr { net, prefix } => {
                    in_network(ip, *net, *prefix)
                        && (!explicit_only
                            || special(ip).is_some_and(|(_, range, min)| {
                                *prefix >= min && in_network(*net, range, min)
                            }))
                }
                _ => false,
            })
        };
        let at = std::net::SocketAddr::new(ip, port);
        match special(ip) {
            Some((what, _, _)) if !in_cidr(true) => Err(format!(
                "{at} is a {what} address, refused unless allowed_targets lists it"
            )),
            Some(_) => Ok(()),
            None if in_cidr(false) => Ok(()),
            None => Err(format!("{at} matches no allowed_targets entry")),
        }
    }

    /// Whether an address a name resolved to may be dialled: one of a refused range is
    /// refused unless listed explicitly, as for an IP literal; any other is allowed (the name
    /// already matched a pattern).
    pub fn admits_resolved(&self, ip: IpAddr, port: u16) -> Result<(), String> {
        match special(canonical(ip)) {
            Some(_) => self.admits_ip(ip, port),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Allowlist {
        let v: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        Allowlist::parse(&v, "m.allowed_targets").expect("parses")
    }

    #[test]
    fn patterns_cidrs_and_the_refused_ranges() {
        let a = list(&[
            "milvus-*.milvus.svc:19530",
            "10.0.0.0/8",
            "127.0.0.1:19530",
            "0.0.0.0/0",
        ]);
        assert!(a.admits_name("milvus-a.milvus.svc", 19530));
        assert!(!a.admits_name("milvus-a.milvus.svc", 19531), "port");
        assert!(
            !a.admits_name("milvus-a.evil.milvus.svc", 19530),
            "* stops at ."
        );
        assert!(!a.admits_name("milvus.svc", 19530));
        assert!(a.admits_ip("10.1.2.3".parse().unwrap(), 1).is_ok());
        assert!(a.admits_ip("192.0.2.1".parse().unwrap(), 1).is_ok(), "0/0");
        assert!(a.admits_ip("127.0.0.1".parse().unwrap(), 19530).is_ok());
        let e = a
            .admits_ip("127.0.0.1".parse().unwrap(), 19531)
            .unwrap_err();
        assert!(e.contains("loopback"), "{e}");
        for ip in [
            "169.254.169.254",
            "::1",
            "fe80::1",
            "0.0.0.0",
            "::ffff:127.0.0.2",
        ] {
            assert!(
                a.admits_ip(ip.parse().unwrap(), 19530).is_err(),
                "{ip} needs listing"
            );
        }
        let lo = list(&["127.0.0.0/8", "::1/128"]);
        assert!(lo.admits_ip("127.0.0.9".parse().unwrap(), 5).is_ok());
        assert!(lo.admits_ip("::1".parse().unwrap(), 5).is_ok());
        assert!(lo.admits_ip("10.0.0.1".parse().unwrap(), 5).is_err());
        // A name's addresses: ordinary ones pass, a loopback one only when listed.
        let n = list(&["localhost:*"]);
        assert!(n.admits_name("localhost", 1));
        assert!(n.admits_resolved("10.0.0.1".parse().unwrap(), 1).is_ok());
        assert!(n.admits_resolved("127.0.0.1".parse().unwrap(), 1).is_err());
    }

    #[test]
    fn bad_entries_name_their_index() {
        for bad in [
            "10.0.0.0/33",
            "host",
            "host:0",
            "host:x",
            "a b:1",
            ":1",
            "x/8",
        ] {
            let v = vec!["ok:1".to_string(), bad.to_string()];
            let e = Allowlist::parse(&v, "modules[0].allowed_targets")
                .expect_err(bad)
                .to_string();
            assert!(e.contains("modules[0].allowed_targets[1]"), "{bad}: {e}");
            assert!(!e.contains('\n'));
        }
    }
}
