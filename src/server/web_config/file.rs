//! The web config file as serde reads it: the exporter-toolkit's keys, unknown keys refused,
//! strings read the way Go's YAML library reads them into a `string` (a plain `1` is `"1"`).
//! Values are checked in `tls.rs` and `http.rs`; names (ciphers, curves, versions) here, as
//! the toolkit checks them while it parses.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use tokio_rustls::rustls::crypto::ring as provider;
use tokio_rustls::rustls::crypto::SupportedKxGroup;
use tokio_rustls::rustls::SupportedCipherSuite;

use crate::config::Secret;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    #[serde(default)]
    pub tls_server_config: Option<RawTls>,
    #[serde(default)]
    pub http_server_config: Option<RawHttp>,
    #[serde(default)]
    pub rate_limit: Option<RawRateLimit>,
    #[serde(default)]
    pub basic_auth_users: Option<UniqueMap<Option<Secret>>>,
    /// Our extension: paths that skip basic auth.
    #[serde(default)]
    pub unauthenticated_paths: Option<Vec<Option<String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    #[serde(default)]
    pub cert: Option<String>,
    #[serde(default)]
    pub key: Option<Secret>,
    #[serde(default)]
    pub client_ca: Option<String>,
    #[serde(default)]
    pub cert_file: Option<String>,
    #[serde(default)]
    pub key_file: Option<String>,
    #[serde(default)]
    pub client_auth_type: Option<String>,
    #[serde(default)]
    pub client_ca_file: Option<String>,
    #[serde(default)]
    pub cipher_suites: Option<Vec<Cipher>>,
    #[serde(default)]
    pub curve_preferences: Option<Vec<Curve>>,
    #[serde(default)]
    pub min_version: Option<TlsVersion>,
    #[serde(default)]
    pub max_version: Option<TlsVersion>,
    #[serde(default)]
    pub prefer_server_cipher_suites: Option<bool>,
    #[serde(default)]
    pub client_allowed_sans: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    #[serde(default)]
    pub http2: Option<bool>,
    #[serde(default)]
    pub headers: Option<UniqueMap<Option<String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRateLimit {
    #[serde(default)]
    pub interval: Option<GoDuration>,
    #[serde(default)]
    pub burst: Option<i64>,
}

/// A Go `time.Duration` in nanoseconds (see [`super::http::go_duration`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct GoDuration(pub i64);

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        super::http::go_duration(&text)
            .map(GoDuration)
            .map_err(de::Error::custom)
    }
}

/// A mapping whose keys must be unique, in file order. Go's YAML library refuses a key
/// written twice in strict mode; serde's maps would keep the last one silently.
#[derive(Debug)]
pub(super) struct UniqueMap<V>(pub Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for UniqueMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V_<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V_<V> {
            type Value = UniqueMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(UniqueMap(Vec::new()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out: Vec<(String, V)> = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    if out.iter().any(|(have, _)| *have == k) {
                        return Err(de::Error::custom(format!(
                            "key {:?} is written twice",
                            super::http::shown(&k)
                        )));
                    }
                    let v = map.next_value()?;
                    out.push((k, v));
                }
                Ok(UniqueMap(out))
            }
        }
        d.deserialize_map(V_(PhantomData))
    }
}

/// Declares a name enum read from its exact Go name, refusing others with the toolkit's words.
macro_rules! go_names {
    ($ty:ident, $what:literal, { $($variant:ident = $name:literal),+ $(,)? }) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
        pub(super) enum $ty { $($variant),+ }

        impl $ty {
            pub(super) const ALL: &'static [$ty] = &[$($ty::$variant),+];

            pub(super) fn name(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $ty::ALL.iter().copied().find(|v| v.name() == s).ok_or_else(|| {
                    de::Error::custom(format!(
                        concat!("unknown ", $what, " {:?} (known: {})"),
                        super::http::shown(&s),
                        $ty::ALL.iter().map(|v| v.name()).collect::<Vec<_>>().join(", ")
                    ))
                })
            }
        }
    };
}

// The names Go's `tls.CipherSuites()` returns, which are the ones the toolkit accepts.
go_names!(Cipher, "cipher", {
    Tls13Aes128Gcm = "TLS_AES_128_GCM_SHA256",
    Tls13Aes256Gcm = "TLS_AES_256_GCM_SHA384",
    Tls13Chacha20 = "TLS_CHACHA20_POLY1305_SHA256",
    EcdheEcdsaAes128Cbc = "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    EcdheEcdsaAes256Cbc = "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    EcdheRsaAes128Cbc = "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    EcdheRsaAes256Cbc = "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    EcdheEcdsaAes128Gcm = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    EcdheEcdsaAes256Gcm = "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    EcdheRsaAes128Gcm = "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    EcdheRsaAes256Gcm = "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    EcdheRsaChacha20 = "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    EcdheEcdsaChacha20 = "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
});

impl Cipher {
    pub(super) fn is_tls13(self) -> bool {
        matches!(
            self,
            Cipher::Tls13Aes128Gcm | Cipher::Tls13Aes256Gcm | Cipher::Tls13Chacha20
        )
    }

    /// The rustls suite for a TLS 1.2 name; `None` for the CBC suites rustls lacks.
    pub(super) fn rustls(self) -> Option<SupportedCipherSuite> {
        use provider::cipher_suite as cs;
        Some(match self {
            Cipher::Tls13Aes128Gcm => cs::TLS13_AES_128_GCM_SHA256,
            Cipher::Tls13Aes256Gcm => cs::TLS13_AES_256_GCM_SHA384,
            Cipher::Tls13Chacha20 => cs::TLS13_CHACHA20_POLY1305_SHA256,
            Cipher::EcdheEcdsaAes128Gcm => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            Cipher::EcdheEcdsaAes256Gcm => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            Cipher::EcdheRsaAes128Gcm => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            Cipher::EcdheRsaAes256Gcm => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            Cipher::EcdheRsaChacha20 => cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            Cipher::EcdheEcdsaChacha20 => cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            Cipher::EcdheEcdsaAes128Cbc
            | Cipher::EcdheEcdsaAes256Cbc
            | Cipher::EcdheRsaAes128Cbc
            | Cipher::EcdheRsaAes256Cbc => return None,
        })
    }
}

// The toolkit's curve names.
go_names!(Curve, "curve", {
    CurveP256 = "CurveP256",
    CurveP384 = "CurveP384",
    CurveP521 = "CurveP521",
    X25519 = "X25519",
});

impl Curve {
    /// The rustls group: ring's, and ours for P-521, which ring lacks.
    pub(super) fn rustls(self) -> &'static dyn SupportedKxGroup {
        use provider::kx_group as kx;
        match self {
            Curve::CurveP256 => kx::SECP256R1,
            Curve::CurveP384 => kx::SECP384R1,
            Curve::CurveP521 => super::p521_kx::SECP521R1,
            Curve::X25519 => kx::X25519,
        }
    }
}

// The toolkit's version names, in order (so `min > max` compares).
go_names!(TlsVersion, "TLS version", {
    Tls10 = "TLS10",
    Tls11 = "TLS11",
    Tls12 = "TLS12",
    Tls13 = "TLS13",
});
