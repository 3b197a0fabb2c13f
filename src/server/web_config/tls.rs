//! `tls_server_config` → a rustls `ServerConfig`, with the toolkit's (and Go's) semantics.
//!
//! Where Go and rustls differ, the difference is an error at load, never a silent change:
//! TLS 1.0 and 1.1 are refused (rustls does not speak them). In `cipher_suites`, a preference
//! list, an entry rustls cannot speak (the four ECDHE CBC suites) is left out with a warning,
//! and a list left with nothing usable is an error. Every curve Go names is spoken: ring's
//! three and P-521 from `p521_kx.rs`, which is also last in the default list, as in Go.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::HandshakeSignatureValid;
use tokio_rustls::rustls::crypto::{ring as provider, CryptoProvider, SupportedKxGroup};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use tokio_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme,
    SupportedCipherSuite,
};

use super::file::{Cipher, RawTls, TlsVersion};
use super::{invalid, WebConfigError};
use crate::config::{io_reason, read_bounded};

/// `client_auth_type`, Go's `tls.ClientAuthType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientAuth {
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    fn parse(s: &str) -> Option<ClientAuth> {
        Some(match s {
            "" | "NoClientCert" => ClientAuth::NoClientCert,
            "RequestClientCert" => ClientAuth::RequestClientCert,
            // `RequireClientCert` is the toolkit's old name, still accepted there.
            "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
            _ => return None,
        })
    }

    fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        )
    }

    fn mandatory(self) -> bool {
        matches!(
            self,
            ClientAuth::RequireAnyClientCert | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

const KEY: &str = "tls_server_config";

fn key(field: &str) -> String {
    format!("{KEY}.{field}")
}

/// A set string: the toolkit treats `""` as not set.
fn set(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// Whether the section turns TLS on: the toolkit's `IsEnabled`. A section with only, say,
/// `min_version` leaves the server on plain HTTP, as there.
pub(super) fn enabled(raw: &RawTls) -> bool {
    set(&raw.cert_file).is_some()
        || set(&raw.cert).is_some()
        || set(&raw.key_file).is_some()
        || raw.key.as_ref().is_some_and(|k| !k.is_empty())
        || set(&raw.client_ca_file).is_some()
        || set(&raw.client_ca).is_some()
        || set(&raw.client_auth_type).is_some()
}

/// What [`build`] makes: the rustls configuration and the warnings to log once.
pub(super) struct Built {
    pub config: Arc<rustls::ServerConfig>,
    pub warnings: Vec<String>,
}

/// Builds the TLS configuration; `base` resolves relative paths, `http2` adds `h2` to ALPN
/// (and applies Go's HTTP/2 cipher rule).
pub(super) fn build(raw: RawTls, base: &Path, http2: bool) -> Result<Built, WebConfigError> {
    let mut warnings = Vec::new();
    let resolve = |p: &str| {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            p
        } else {
            base.join(p)
        }
    };

    // The shape first: missing or doubled sources, the policy, versions.
    let cert_src = one_of(
        "cert",
        set(&raw.cert),
        "cert_file",
        set(&raw.cert_file),
        true,
    )?
    .unwrap_or(Source::Inline(""));
    let key_inline = raw
        .key
        .as_ref()
        .map(|k| k.expose())
        .filter(|k| !k.is_empty());
    let key_src = one_of("key", key_inline, "key_file", set(&raw.key_file), true)?
        .unwrap_or(Source::Inline(""));
    let ca_src = one_of(
        "client_ca",
        set(&raw.client_ca),
        "client_ca_file",
        set(&raw.client_ca_file),
        false,
    )?;
    let auth_text = raw.client_auth_type.clone().unwrap_or_default();
    let client_auth = ClientAuth::parse(&auth_text).ok_or_else(|| {
        invalid(
            key("client_auth_type"),
            format!(
                "invalid value {:?} (use NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert)",
                super::http::shown(&auth_text)
            ),
        )
    })?;
    if ca_src.is_some() && client_auth == ClientAuth::NoClientCert {
        return Err(invalid(
            key("client_auth_type"),
            "a client CA is configured without a client auth policy; set client_auth_type (RequireAndVerifyClientCert to require verified client certificates)",
        ));
    }
    let min = raw.min_version.unwrap_or(TlsVersion::Tls12);
    let max = raw.max_version.unwrap_or(TlsVersion::Tls13);
    for (field, v) in [("min_version", min), ("max_version", max)] {
        if matches!(v, TlsVersion::Tls10 | TlsVersion::Tls11) {
            return Err(invalid(
                key(field),
                format!(
                    "{} is not supported: the TLS library (rustls) speaks TLS12 and TLS13 only",
                    v.name()
                ),
            ));
        }
    }
    if min > max {
        return Err(invalid(
            key("max_version"),
            format!(
                "{} is lower than min_version {}, so no version could be spoken",
                max.name(),
                min.name()
            ),
        ));
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (min..=max).contains(v))
    .map(|(_, p)| p)
    .collect();
    let tls12_on = min <= TlsVersion::Tls12;

    // Cipher suites: Go's list configures TLS 1.0-1.2 only; TLS 1.3 suites are always all on.
    let mut provider = provider::default_provider();
    // Go's default curves end with P-521: a client that offers only it is served here too.
    provider.kx_groups.push(super::p521_kx::SECP521R1);
    let tls13: Vec<SupportedCipherSuite> = provider
        .cipher_suites
        .iter()
        .filter(|s| s.version() == &rustls::version::TLS13)
        .copied()
        .collect();
    let listed = raw.cipher_suites.unwrap_or_default();
    if !listed.is_empty() {
        if http2
            && tls12_on
            && !listed
                .iter()
                .any(|c| matches!(c, Cipher::EcdheRsaAes128Gcm | Cipher::EcdheEcdsaAes128Gcm))
        {
            return Err(invalid(
                key("cipher_suites"),
                "with HTTP/2 on (http_server_config.http2, default true) the list needs TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 or TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, as Go requires; add one, set min_version: TLS13, or set http2: false",
            ));
        }
        let mut tls12 = Vec::new();
        let mut named_tls12 = false;
        let mut dropped = Vec::new();
        for c in &listed {
            if c.is_tls13() {
                continue; // Go ignores them too: TLS 1.3 suites are not configurable.
            }
            named_tls12 = true;
            match c.rustls() {
                Some(s) if !tls12.contains(&s) => tls12.push(s),
                Some(_) => {}
                None => dropped.push(c.name()),
            }
        }
        if !dropped.is_empty() {
            if tls12_on && named_tls12 && tls12.is_empty() {
                return Err(invalid(
                    key("cipher_suites"),
                    format!(
                        "none of the TLS 1.2 suites listed can be spoken: rustls has no {} (CBC suites); list an AES-GCM or CHACHA20-POLY1305 suite",
                        dropped.join(", ")
                    ),
                ));
            }
            if tls12_on {
                warnings.push(format!(
                    "{}: left out {} (CBC suites rustls does not implement)",
                    key("cipher_suites"),
                    dropped.join(", ")
                ));
            }
        }
        provider.cipher_suites = tls13.into_iter().chain(tls12).collect();
    }

    // Curves, in preference order; one named twice counts once, where it first appears.
    let curves = raw.curve_preferences.unwrap_or_default();
    if !curves.is_empty() {
        let mut groups: Vec<&'static dyn SupportedKxGroup> = Vec::new();
        for c in &curves {
            let g = c.rustls();
            if !groups.iter().any(|have| have.name() == g.name()) {
                groups.push(g);
            }
        }
        provider.kx_groups = groups;
    }
    let provider = Arc::new(provider);

    let sans = raw.client_allowed_sans;
    if sans.is_some() && client_auth == ClientAuth::NoClientCert {
        warnings.push(format!(
            "{}: ignored, client_auth_type NoClientCert asks for no client certificate (as in the toolkit)",
            key("client_allowed_sans")
        ));
    }

    // Now the files and PEM.
    let chain = match cert_src {
        Source::Inline(pem) => certs_from_pem(pem.as_bytes(), &key("cert"), "the inline cert")?,
        Source::File(p) => {
            let path = resolve(p);
            let bytes = read(&path, &key("cert_file"))?;
            certs_from_pem(&bytes, &key("cert_file"), &path.display().to_string())?
        }
    };
    let (key_bytes, key_field, key_where) = match key_src {
        Source::Inline(pem) => (
            pem.as_bytes().to_vec(),
            key("key"),
            "the inline key".to_string(),
        ),
        Source::File(p) => {
            let path = resolve(p);
            (
                read(&path, &key("key_file"))?,
                key("key_file"),
                path.display().to_string(),
            )
        }
    };
    // The error says where, never what: the key is a secret.
    let private_key = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|_| {
        invalid(
            key_field.clone(),
            format!("no PEM private key in {key_where}"),
        )
    })?;
    drop(key_bytes);
    let roots = match ca_src {
        None => None,
        Some(Source::Inline(pem)) => Some(roots_from_pem(
            pem.as_bytes(),
            &key("client_ca"),
            "the inline client_ca",
        )?),
        Some(Source::File(p)) => {
            let path = resolve(p);
            let bytes = read(&path, &key("client_ca_file"))?;
            Some(roots_from_pem(
                &bytes,
                &key("client_ca_file"),
                &path.display().to_string(),
            )?)
        }
    };
    let roots = match (roots, client_auth.verifies()) {
        (Some(r), _) => Some(r),
        // Go verifies against the system's trust store when no client CA is given, and the
        // toolkit loads such a file (its web_config_noAuth.good.yml does just that). Said once
        // in the log, since any CA the system trusts then vouches for a client.
        (None, true) => {
            let found = rustls_native_certs::load_native_certs();
            let mut store = rustls::RootCertStore::empty();
            store.add_parsable_certificates(found.certs);
            warnings.push(if store.is_empty() {
                format!(
                    "{}: {auth_text} without client_ca_file or client_ca, and the system trust store is empty: every client certificate will be refused",
                    key("client_auth_type")
                )
            } else {
                format!(
                    "{}: {auth_text} without client_ca_file or client_ca: client certificates are verified against the system trust store ({} CAs), as in the toolkit; set client_ca_file to accept only your own CA's",
                    key("client_auth_type"),
                    store.len()
                )
            });
            Some(Arc::new(store))
        }
        (None, false) => None,
    };

    let base_verifier: Arc<dyn ClientCertVerifier> = match (client_auth, roots) {
        (ClientAuth::NoClientCert, _) => WebPkiClientVerifier::no_client_auth(),
        (a, Some(roots)) if a.verifies() && !roots.is_empty() => {
            let b = WebPkiClientVerifier::builder_with_provider(roots, Arc::clone(&provider));
            let b = if a.mandatory() {
                b
            } else {
                b.allow_unauthenticated()
            };
            b.build()
                .map_err(|e| invalid(key("client_ca_file"), e.to_string()))?
        }
        (a, _) => Arc::new(Unverified {
            provider: Arc::clone(&provider),
            mandatory: a.mandatory(),
            refuse_all: a.verifies(),
        }),
    };
    let verifier = match sans {
        Some(allowed) if client_auth != ClientAuth::NoClientCert => Arc::new(AllowedSans {
            inner: base_verifier,
            allowed: allowed.into_iter().collect(),
        })
            as Arc<dyn ClientCertVerifier>,
        _ => base_verifier,
    };

    let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| invalid(key("cipher_suites"), e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, private_key)
        .map_err(|e| invalid(key_field, format!("does not fit the certificate: {e}")))?;
    config.ignore_client_order = raw.prefer_server_cipher_suites.unwrap_or(true);
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Built {
        config: Arc::new(config),
        warnings,
    })
}

enum Source<'a> {
    Inline(&'a str),
    File(&'a str),
}

/// Exactly one of an inline value and a file (`required`), or at most one.
fn one_of<'a>(
    inline_name: &str,
    inline: Option<&'a str>,
    file_name: &str,
    file: Option<&'a str>,
    required: bool,
) -> Result<Option<Source<'a>>, WebConfigError> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(invalid(
            key(file_name),
            format!("set either {inline_name} or {file_name}, not both"),
        )),
        (Some(i), None) => Ok(Some(Source::Inline(i))),
        (None, Some(f)) => Ok(Some(Source::File(f))),
        (None, None) if required => Err(invalid(
            key(file_name),
            format!(
                "missing one of {inline_name} or {file_name}; TLS needs a certificate and its key"
            ),
        )),
        (None, None) => Ok(None),
    }
}

fn read(path: &Path, field: &str) -> Result<Vec<u8>, WebConfigError> {
    read_bounded(path).map_err(|e| {
        invalid(
            field,
            format!("cannot read {}: {}", path.display(), io_reason(&e)),
        )
    })
}

fn certs_from_pem(
    pem: &[u8],
    field: &str,
    place: &str,
) -> Result<Vec<CertificateDer<'static>>, WebConfigError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(field, format!("bad PEM in {place}: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(field, format!("no PEM certificate in {place}")));
    }
    Ok(certs)
}

fn roots_from_pem(
    pem: &[u8],
    field: &str,
    place: &str,
) -> Result<Arc<rustls::RootCertStore>, WebConfigError> {
    let mut store = rustls::RootCertStore::empty();
    for c in certs_from_pem(pem, field, place)? {
        store
            .add(c)
            .map_err(|e| invalid(field, format!("{place}: {e}")))?;
    }
    Ok(Arc::new(store))
}

/// `RequestClientCert`/`RequireAnyClientCert`: a client certificate is asked for (and, with
/// `mandatory`, required) but not checked against a CA; the handshake signature still is.
/// With `refuse_all` (a verifying policy with an empty trust store) every certificate given
/// is refused, as Go's verification against no roots refuses it.
#[derive(Debug)]
struct Unverified {
    provider: Arc<CryptoProvider>,
    mandatory: bool,
    refuse_all: bool,
}

impl ClientCertVerifier for Unverified {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if self.refuse_all {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            ));
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `client_allowed_sans`: after the policy's own checks, the client certificate must carry
/// one of the listed names exactly (DNS, e-mail, IP or URI, as Go prints them). A client
/// certificate becomes mandatory: in the toolkit a connection without one under a policy
/// that asks for one is dropped too (its check reads the first certificate, and there is
/// none).
#[derive(Debug)]
struct AllowedSans {
    inner: Arc<dyn ClientCertVerifier>,
    /// A set: a peer's certificate may carry thousands of names, the list may be long, and
    /// each handshake must cost one lookup per name, not the product.
    allowed: HashSet<String>,
}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let names = super::san::subject_alt_names(end_entity.as_ref()).ok_or(
            rustls::Error::InvalidCertificate(CertificateError::BadEncoding),
        )?;
        if names.iter().any(|n| self.allowed.contains(n)) {
            Ok(verified)
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
