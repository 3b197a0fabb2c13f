//! Discovered targets: `/probe?target=<address>&module=<name>` for a Milvus the configuration
//! does not name, as blackbox_exporter probes what Prometheus's service discovery found.
//!
//! Because the caller chooses what the exporter dials, an address is admitted only when its
//! module's `allowed_targets` allows it ([`crate::config::Allowlist`]), and nothing is dialled
//! before that: a DNS name is resolved once, here, every address it resolves to must be
//! allowed, and the target is then dialled at the resolved address (so a second lookup cannot
//! answer differently). Each admitted target gets a cache of its own, like a configured one;
//! the set is bounded (`fleet.max_targets`) and a target nobody probed for
//! `fleet.idle_timeout` is evicted with its gRPC channel.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, FutureExt};

use super::{now, TargetCache};
use crate::checks::Checker;
use crate::config::{canonical, FleetConfig, Module, TlsConfig};
use crate::history::Limits;
use crate::readiness::Scope;

/// Why a discovered target was not admitted: the status to answer and a one-line reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The request names something that is not allowed or not an address (400).
    #[error("{0}")]
    Invalid(String),
    /// Allowed, but the exporter holds as many discovered targets as it may (503).
    #[error("{0}")]
    Full(String),
}

/// Name resolution, replaceable in tests.
pub type Resolver =
    Arc<dyn Fn(String, u16) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> + Send + Sync>;

/// The system resolver (getaddrinfo, through tokio).
pub fn system_resolver() -> Resolver {
    Arc::new(|host: String, port: u16| {
        async move {
            Ok(tokio::net::lookup_host((host.as_str(), port))
                .await?
                .map(|a| a.ip())
                .collect())
        }
        .boxed()
    })
}

/// A `/probe?target=` value, parsed: `host:port`, `http(s)://host:port` or `grpc://host:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetAddress {
    /// `https://` asked for TLS; `host:port` leaves it to the module.
    pub tls: Option<bool>,
    pub host: Host,
    pub port: u16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    /// Lower-case, without a trailing dot.
    Name(String),
}

impl std::fmt::Display for TargetAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.tls {
            Some(true) => f.write_str("https://")?,
            Some(false) => f.write_str("http://")?,
            None => {}
        }
        match &self.host {
            Host::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]:{}", self.port),
            Host::Ip(ip) => write!(f, "{ip}:{}", self.port),
            Host::Name(n) => write!(f, "{n}:{}", self.port),
        }
    }
}

/// A value shown in a refusal: quoted, escaped, cut at 64 characters.
fn shown(s: &str) -> String {
    let cut: String = s.chars().take(64).flat_map(char::escape_default).collect();
    format!("\"{cut}\"")
}

impl TargetAddress {
    /// Parses a target; the port defaults to Milvus's 19530. Userinfo, a path, a query or a
    /// fragment are refused (a path is where a redirect or a proxy would take the request
    /// somewhere else), as is any scheme but http, https and grpc.
    pub fn parse(input: &str) -> Result<TargetAddress, String> {
        let s = input.trim();
        if s.is_empty() {
            return Err("the target is empty".into());
        }
        let (tls, rest) = match s.split_once("://") {
            Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
                "http" | "grpc" => (Some(false), rest),
                "https" | "grpcs" => (Some(true), rest),
                other => {
                    return Err(format!(
                        "scheme {} is not http, https or grpc",
                        shown(other)
                    ))
                }
            },
            None => (None, s),
        };
        let authority = match rest.find(['/', '?', '#']) {
            Some(i) if rest[i..] != *"/" => {
                return Err(format!(
                    "target {} has a path, query or fragment; give host:port",
                    shown(s)
                ))
            }
            Some(i) => &rest[..i],
            None => rest,
        };
        if authority.contains('@') {
            return Err("credentials do not belong in the target; the module holds them".into());
        }
        let url = url::Url::parse(&format!("http://{authority}"))
            .map_err(|e| format!("target {} is not host:port ({e})", shown(s)))?;
        let port = url.port().unwrap_or(if authority.ends_with(":80") {
            80
        } else {
            19530
        });
        let host = match url.host() {
            Some(url::Host::Ipv4(v4)) => Host::Ip(canonical(v4.into())),
            Some(url::Host::Ipv6(v6)) => Host::Ip(canonical(v6.into())),
            Some(url::Host::Domain(d)) if !d.is_empty() => {
                Host::Name(d.trim_end_matches('.').to_ascii_lowercase())
            }
            _ => return Err(format!("target {} has no host", shown(s))),
        };
        Ok(TargetAddress { tls, host, port })
    }
}

/// One admitted target.
struct Entry {
    cache: Arc<TargetCache>,
    last_used: Mutex<Instant>,
}

/// Live and evicted discovered targets, for the exporter's own metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FleetCounts {
    pub live: u64,
    pub evicted: u64,
    /// Refused as over `fleet.max_targets`.
    pub refused_full: u64,
}

/// Every discovered target's cache, keyed by module and address.
pub struct Fleet {
    modules: Vec<Module>,
    limits: FleetConfig,
    ttl: Duration,
    history: Limits,
    resolver: Resolver,
    live: Mutex<HashMap<(String, String), Arc<Entry>>>,
    evicted: AtomicU64,
    refused_full: AtomicU64,
}

impl Fleet {
    pub fn new(modules: Vec<Module>, limits: FleetConfig, ttl: Duration, history: Limits) -> Self {
        Fleet {
            modules,
            limits,
            ttl,
            history,
            resolver: system_resolver(),
            live: Mutex::new(HashMap::new()),
            evicted: AtomicU64::new(0),
            refused_full: AtomicU64::new(0),
        }
    }

    /// This fleet resolving names with `resolver` (tests).
    pub fn with_resolver(mut self, resolver: Resolver) -> Self {
        self.resolver = resolver;
        self
    }

    pub fn limits(&self) -> &FleetConfig {
        &self.limits
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Arc<Entry>>> {
        match self.live.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        }
    }

    pub fn counts(&self) -> FleetCounts {
        FleetCounts {
            live: self.entries().len() as u64,
            evicted: self.evicted.load(Ordering::Relaxed),
            refused_full: self.refused_full.load(Ordering::Relaxed),
        }
    }

    /// The cache of `target` probed with `module`, admitting it first if it is new.
    pub async fn admit(&self, module: &str, target: &str) -> Result<Arc<TargetCache>, Refused> {
        let Some(m) = self.modules.iter().find(|m| m.name == module) else {
            return Err(Refused::Invalid(format!(
                "unknown module {}",
                shown(module)
            )));
        };
        if m.allowed.is_empty() {
            let key = if m.name == crate::config::DEFAULT_MODULE {
                "fleet.allowed_targets".to_string()
            } else {
                format!("allowed_targets of module {}", shown(&m.name))
            };
            return Err(Refused::Invalid(format!(
                "module {} allows no discovered targets ({key} is empty)",
                shown(&m.name)
            )));
        }
        let mut address = TargetAddress::parse(target).map_err(Refused::Invalid)?;
        // `host:port` takes the module's TLS setting, so it and the URL that says the same
        // are one target with one cache.
        let module_tls = m.milvus.tls.is_some();
        if address.tls == Some(false) && module_tls {
            return Err(Refused::Invalid(format!(
                "module {} uses TLS; give https:// or host:port",
                shown(&m.name)
            )));
        }
        address.tls = Some(address.tls.unwrap_or(module_tls));
        let key = (m.name.clone(), address.to_string());
        if let Some(e) = self.entries().get(&key) {
            *e.last_used.lock().unwrap_or_else(|p| p.into_inner()) = now();
            return Ok(Arc::clone(&e.cache));
        }
        let dial = self.allowed_address(m, &address).await?;
        let cache = self.build(m, &address, dial)?;
        let mut live = self.entries();
        if let Some(e) = live.get(&key) {
            // Admitted by a request that raced this one: one cache per target.
            return Ok(Arc::clone(&e.cache));
        }
        if live.len() >= self.limits.max_targets {
            self.evict_idle(&mut live, now());
        }
        if live.len() >= self.limits.max_targets {
            self.refused_full.fetch_add(1, Ordering::Relaxed);
            return Err(Refused::Full(format!(
                "{} discovered targets are live, the most fleet.max_targets allows; a new \
                 one is admitted when one has been idle for fleet.idle_timeout ({})",
                live.len(),
                humantime::format_duration(self.limits.idle_timeout)
            )));
        }
        live.insert(
            key,
            Arc::new(Entry {
                cache: Arc::clone(&cache),
                last_used: Mutex::new(now()),
            }),
        );
        Ok(cache)
    }

    /// The address to dial for `address`, once the allowlist admits it (and, for a name,
    /// every address it resolves to), and its metrics port too when the module has one.
    async fn allowed_address(
        &self,
        m: &Module,
        address: &TargetAddress,
    ) -> Result<IpAddr, Refused> {
        let refused = |why: String| Refused::Invalid(format!("target {address} refused: {why}"));
        let ports = std::iter::once(address.port).chain(m.metrics_port);
        match &address.host {
            Host::Ip(ip) => {
                for port in ports {
                    m.allowed.admits_ip(*ip, port).map_err(refused)?;
                }
                Ok(*ip)
            }
            Host::Name(name) => {
                for port in ports.clone() {
                    if !m.allowed.admits_name(name, port) {
                        return Err(refused(format!(
                            "{name}:{port} matches no allowed_targets pattern of module {}",
                            shown(&m.name)
                        )));
                    }
                }
                let lookup = (self.resolver)(name.clone(), address.port);
                let ips = match tokio::time::timeout(m.milvus.timeout, lookup).await {
                    Ok(Ok(ips)) if !ips.is_empty() => ips,
                    Ok(Ok(_)) => return Err(refused(format!("{name} resolves to no address"))),
                    Ok(Err(e)) => return Err(refused(format!("cannot resolve {name}: {e}"))),
                    Err(_) => return Err(refused(format!("resolving {name} timed out"))),
                };
                for ip in &ips {
                    for port in ports.clone() {
                        m.allowed
                            .admits_resolved(*ip, port)
                            .map_err(|why| refused(format!("{name} resolves to {why}")))?;
                    }
                }
                Ok(canonical(ips[0]))
            }
        }
    }

    /// The cache of an admitted target: the module's settings, the target's address.
    fn build(
        &self,
        m: &Module,
        address: &TargetAddress,
        dial: IpAddr,
    ) -> Result<Arc<TargetCache>, Refused> {
        let tls = address.tls == Some(true);
        let host = match dial {
            IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        };
        let mut target = m.milvus.clone();
        target.name = address.to_string();
        target.address = format!(
            "{}://{host}:{}",
            if tls { "https" } else { "http" },
            address.port
        );
        if tls {
            let mut t = target.tls.take().unwrap_or(TlsConfig {
                ca_pem: None,
                identity_pem: None,
                server_name: None,
            });
            // Dialled by address, verified by name.
            if t.server_name.is_none() {
                if let Host::Name(n) = &address.host {
                    t.server_name = Some(n.clone());
                }
            }
            target.tls = Some(t);
        }
        // The metrics port is on the same host, at the address already admitted; its client
        // follows no redirects.
        target.metrics_address = m.metrics_port.map(|p| format!("http://{host}:{p}"));
        target.quota_metrics_address = None;
        let checker = Checker::new(target, None, m)
            .map_err(|e| Refused::Invalid(format!("target {address}: {e}")))?;
        let cache = TargetCache::new(checker, m.readiness.clone(), Scope::ProbeTarget, self.ttl)
            .with_history_limits(self.history)
            .with_max_waiters(self.limits.max_waiters);
        Ok(Arc::new(cache))
    }

    /// Drops every target idle for `fleet.idle_timeout` or longer.
    pub fn sweep(&self) {
        let mut live = self.entries();
        self.evict_idle(&mut live, now());
    }

    fn evict_idle(&self, live: &mut HashMap<(String, String), Arc<Entry>>, at: Instant) {
        let idle = self.limits.idle_timeout;
        let before = live.len();
        live.retain(|_, e| {
            let used = *e.last_used.lock().unwrap_or_else(|p| p.into_inner());
            let keep = at.saturating_duration_since(used) < idle;
            if !keep {
                // Its refresh under way (if any) is cut and its inventory pass stopped; the
                // channel goes with the last request still holding the cache.
                e.cache.retire();
            }
            keep
        });
        let gone = before - live.len();
        if gone > 0 {
            self.evicted.fetch_add(gone as u64, Ordering::Relaxed);
            tracing::debug!(
                evicted = gone,
                live = live.len(),
                "idle discovered targets evicted"
            );
        }
    }

    /// Every live target's cache (for `/healthz`'s wedge check).
    pub fn caches(&self) -> Vec<Arc<TargetCache>> {
        self.entries()
            .values()
            .map(|e| Arc::clone(&e.cache))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(resolves_to: &'static [&'static str]) -> Fleet {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[[modules]]\nname = \"prod\"\nallowed_targets = [\"milvus-*.svc:19530\"]\n",
        )
        .expect("write");
        let c =
            crate::config::Config::load_from(Some(&path), &[], &Default::default()).expect("loads");
        let resolver: Resolver = Arc::new(move |_, _| {
            let ips = resolves_to.iter().map(|s| s.parse().expect("ip")).collect();
            async move { Ok(ips) }.boxed()
        });
        Fleet::new(
            c.modules,
            c.fleet,
            Duration::from_secs(10),
            Limits::default(),
        )
        .with_resolver(resolver)
    }

    #[tokio::test]
    async fn a_name_is_admitted_only_when_every_address_it_resolves_to_is() {
        let ok = fleet(&["10.0.0.1", "10.0.0.2"]);
        let cache = ok
            .admit("prod", "milvus-a.svc:19530")
            .await
            .expect("admitted");
        assert_eq!(cache.name(), "http://milvus-a.svc:19530");
        // The same target by URL is the same cache.
        let again = ok
            .admit("prod", "http://milvus-a.svc:19530")
            .await
            .expect("same");
        assert!(Arc::ptr_eq(&cache, &again));
        assert_eq!(ok.counts().live, 1);
        let bad = fleet(&["10.0.0.1", "127.0.0.1"]);
        let why = match bad.admit("prod", "milvus-a.svc:19530").await {
            Ok(_) => panic!("one address is loopback, yet admitted"),
            Err(e) => e.to_string(),
        };
        assert!(
            why.contains("resolves to 127.0.0.1:19530 is a loopback"),
            "{why}"
        );
        assert_eq!(bad.counts().live, 0);
        let meta = fleet(&["169.254.169.254"]);
        assert!(meta.admit("prod", "milvus-a.svc:19530").await.is_err());
    }

    #[test]
    fn targets_parse_and_refuse_what_could_lead_elsewhere() {
        let p = |s: &str| TargetAddress::parse(s);
        let a = p("10.0.0.1:19531").expect("host:port");
        assert_eq!((a.tls, a.port), (None, 19531));
        assert_eq!(a.to_string(), "10.0.0.1:19531");
        assert_eq!(
            p("Milvus-A.svc.").expect("name").to_string(),
            "milvus-a.svc:19530"
        );
        assert_eq!(
            p("https://m:443").expect("url").to_string(),
            "https://m:443"
        );
        assert_eq!(
            p("grpc://[::1]:1/").expect("v6").to_string(),
            "http://[::1]:1"
        );
        assert_eq!(
            p("[::ffff:127.0.0.1]:5").expect("mapped").host,
            Host::Ip("127.0.0.1".parse().unwrap())
        );
        for bad in [
            "",
            "ftp://m:1",
            "http://u:p@m:1",
            "u@m:1",
            "http://m:1/redirect",
            "m:1?x=1",
            "m:1#f",
            "m:99999",
            "http://:1",
        ] {
            assert!(p(bad).is_err(), "{bad:?} accepted");
        }
    }
}
