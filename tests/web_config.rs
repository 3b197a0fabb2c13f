//! `--web.config.file` against the Prometheus exporter-toolkit: a table of files deciding
//! accept/refuse as the toolkit does (each row names the toolkit testdata file it mirrors,
//! `web/testdata/` in prometheus/exporter-toolkit), then the settings live, over TLS where
//! they are about TLS: client auth policies, allowed SANs, cipher suites, versions, HTTP/2,
//! headers, the rate limit and basic auth.
//!
//! Certificates are made here with rcgen (ECDSA P-256 keys, so the TLS 1.2 suites in play are
//! the ECDHE_ECDSA ones); the toolkit's own key material is not copied.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use milvus_exporter::server::{ServeOptions, WebConfig};
use support::binary::Binary;
use support::exporter::Exporter;
use support::fake_milvus::{FakeMilvus, FakeState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

fn fake_config(url: &str) -> String {
    format!(
        "[milvus]\naddress = \"{url}\"\ntimeout = \"2s\"\n\
         [cache]\nttl = \"10s\"\nrefresh_interval = \"0s\"\n\
         [readiness]\ndisabled_rules = [\"memory\", \"disk\"]\n"
    )
}

// ------------------------------------------------------------------------------------------
// Test PKI
// ------------------------------------------------------------------------------------------

struct Leaf {
    pem: String,
    key: String,
}

struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
    server: Leaf,
    /// Signed by the CA; SANs `prometheus.monitoring.svc`, `ops@example.org`, `127.0.0.1`.
    client: Leaf,
    /// Signed by the CA; SAN `grafana.monitoring.svc` only.
    other: Leaf,
    /// Signed by a CA the server does not know.
    stranger: Leaf,
}

fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose, SanType,
    };
    let ca = |name: &str| {
        let key = KeyPair::generate().expect("ca key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = p.self_signed(&key).expect("ca cert");
        (cert, key)
    };
    let (ca_cert, ca_key) = ca("web_config test CA");
    let (other_ca, other_key) = ca("someone else's CA");
    let leaf = |dns: &str,
                extra: Vec<SanType>,
                server: bool,
                issuer: &rcgen::Certificate,
                issuer_key: &KeyPair| {
        let key = KeyPair::generate().expect("key");
        let mut p = CertificateParams::new(vec![dns.to_string()]).expect("params");
        p.distinguished_name.push(DnType::CommonName, dns);
        p.subject_alt_names.extend(extra);
        p.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        let cert = p.signed_by(&key, issuer, issuer_key).expect("sign");
        Leaf {
            pem: cert.pem(),
            key: key.serialize_pem(),
        }
    };
    let ip = SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1]));
    let server = leaf("localhost", vec![ip.clone()], true, &ca_cert, &ca_key);
    let client = leaf(
        "prometheus.monitoring.svc",
        vec![
            SanType::Rfc822Name("ops@example.org".try_into().expect("ia5")),
            ip,
        ],
        false,
        &ca_cert,
        &ca_key,
    );
    let other = leaf("grafana.monitoring.svc", vec![], false, &ca_cert, &ca_key);
    let stranger = leaf(
        "prometheus.monitoring.svc",
        vec![],
        false,
        &other_ca,
        &other_key,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        std::fs::write(dir.path().join(name), text).expect("write");
    };
    write("ca.pem", &ca_cert.pem());
    write("server.crt", &server.pem);
    write("server.key", &server.key);
    write("client.pem", &client.pem);
    Pki {
        dir,
        ca_pem: ca_cert.pem(),
        server,
        client,
        other,
        stranger,
    }
}

/// Loads `yaml` as `<pki dir>/web.yml`, so relative paths resolve against the PKI.
fn load(pki: &Pki, yaml: &str) -> Result<WebConfig, String> {
    let path = pki.dir.path().join("web.yml");
    std::fs::write(&path, yaml).expect("write web config");
    WebConfig::load(&path).map_err(|e| e.to_string())
}

fn options(pki: &Pki, yaml: &str) -> ServeOptions {
    let web = load(pki, yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    ServeOptions {
        header_read_timeout: Duration::from_secs(2),
        web: Arc::new(arc_swap::ArcSwap::from_pointee(web)),
        ..ServeOptions::default()
    }
}

async fn serve(pki: &Pki, yaml: &str) -> (Exporter, FakeMilvus) {
    let fake = FakeMilvus::start(FakeState::new()).await;
    let s = Exporter::start_with(&fake_config(&fake.url()), options(pki, yaml)).await;
    (s, fake)
}

/// PEM indented as a YAML block scalar under a key at two spaces.
fn block(pem: &str) -> String {
    format!("|\n    {}", pem.trim_end().replace('\n', "\n    "))
}

// ------------------------------------------------------------------------------------------
// The table: accept or refuse, as the toolkit does
// ------------------------------------------------------------------------------------------

/// Every YAML file in the toolkit's `web/testdata/` (prometheus/exporter-toolkit at
/// 19a7c2d590c599b7318733bd00eed83fab3b8dad): the table below has a row for each.
const TOOLKIT_FILES: [&str; 41] = [
    "tls_config_noAuth.requireandverifyclientcert.good.yml",
    "tls_config_noAuth.requireanyclientcert.good.yml",
    "tls_config_noAuth.requireanyclientcertkeyinline.good.yml",
    "web_config_auth_clientCAs_invalid.bad.yml",
    "web_config_auth_clientCAs_missing.bad.yml",
    "web_config_auth_client_san.bad.yaml",
    "web_config_auth_client_san.good.yaml",
    "web_config_auth_user_list_invalid.bad.yml",
    "web_config_empty.yml",
    "web_config_headers.good.yml",
    "web_config_headers_content_type_options.bad.yml",
    "web_config_headers_extra_header.bad.yml",
    "web_config_headers_frame_options.bad.yml",
    "web_config_junk.yml",
    "web_config_junk_key.yml",
    "web_config_noAuth.bad.yml",
    "web_config_noAuth.good.blocking.yml",
    "web_config_noAuth.good.yml",
    "web_config_noAuth_allCiphers.good.yml",
    "web_config_noAuth_allCurves.good.yml",
    "web_config_noAuth_certPath_empty.bad.yml",
    "web_config_noAuth_certPath_invalid.bad.yml",
    "web_config_noAuth_certPath_keyPath_empty.bad.yml",
    "web_config_noAuth_certPath_keyPath_invalid.bad.yml",
    "web_config_noAuth_cert_empty.bad.yml",
    "web_config_noAuth_inventedCiphers.bad.yml",
    "web_config_noAuth_inventedCurves.bad.yml",
    "web_config_noAuth_keyPath_empty.bad.yml",
    "web_config_noAuth_keyPath_invalid.bad.yml",
    "web_config_noAuth_key_empty.bad.yml",
    "web_config_noAuth_noHTTP2.good.yml",
    "web_config_noAuth_noHTTP2Cipher.bad.yml",
    "web_config_noAuth_someCiphers.good.yml",
    "web_config_noAuth_someCiphers_noOrder.good.yml",
    "web_config_noAuth_someCurves.good.yml",
    "web_config_noAuth_tlsInline.good.yml",
    "web_config_noAuth_wrongTLSVersion.bad.yml",
    "web_config_rate_limiter_nonblocking.yaml",
    "web_config_rate_limiter_one_second.yaml",
    "web_config_users.good.yml",
    "web_config_users_noTLS.good.yml",
];

/// `Ok`: loads. `Err(key)`: refused, the error naming `key`.
type Want = Result<(), &'static str>;

#[test]
fn web_config_files_are_accepted_and_refused_as_the_toolkit_decides() {
    let pki = pki();
    let tls = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
    let hash = bcrypt::hash("pw", 4).expect("hash");
    let rows: Vec<(&str, String, Want)> = vec![
        // --- the file itself
        ("web_config_empty.yml", String::new(), Ok(())),
        (
            "web_config_junk.yml",
            "hWkNKCp3fvIx3jKnsaBIxx\nTuEjdwNS8A2vYdFbiKqryy\n".into(),
            Err("--web.config.file"),
        ),
        (
            "web_config_junk_key.yml",
            "tls_server_config:\n  cert_filse: \"server.crt\"\n".into(),
            Err("tls_server_config.cert_filse"),
        ),
        // --- certificate and key: exactly one source each
        (
            "web_config_noAuth_certPath_empty.bad.yml",
            "tls_server_config:\n  cert_file: \"\"\n  key_file: server.key\n".into(),
            Err("tls_server_config.cert_file"),
        ),
        (
            "web_config_noAuth_cert_empty.bad.yml",
            "tls_server_config:\n  cert: \"\"\n  key_file: server.key\n".into(),
            Err("tls_server_config.cert_file"),
        ),
        (
            "web_config_noAuth_keyPath_empty.bad.yml",
            "tls_server_config:\n  cert_file: server.crt\n  key_file: \"\"\n".into(),
            Err("tls_server_config.key_file"),
        ),
        (
            "web_config_noAuth_key_empty.bad.yml",
            "tls_server_config:\n  cert_file: server.crt\n  key: \"\"\n".into(),
            Err("tls_server_config.key_file"),
        ),
        (
            "web_config_noAuth_certPath_keyPath_empty.bad.yml",
            "tls_server_config:\n  cert_file: \"\"\n  key_file: \"\"\n  client_auth_type: x\n"
                .into(),
            Err("tls_server_config.cert_file"),
        ),
        (
            "web_config_noAuth_certPath_invalid.bad.yml",
            "tls_server_config:\n  cert_file: somefile\n  key_file: server.key\n".into(),
            Err("tls_server_config.cert_file"),
        ),
        (
            "web_config_noAuth_keyPath_invalid.bad.yml",
            "tls_server_config:\n  cert_file: server.crt\n  key_file: somefile\n".into(),
            Err("tls_server_config.key_file"),
        ),
        (
            "web_config_noAuth_certPath_keyPath_invalid.bad.yml",
            "tls_server_config:\n  cert_file: somefile\n  key_file: somefile\n".into(),
            Err("tls_server_config.cert_file"),
        ),
        (
            "web_config_noAuth_tlsInline.good.yml",
            format!(
                "tls_server_config:\n  cert: {}\n  key: {}\n",
                block(&pki.server.pem),
                block(&pki.server.key)
            ),
            Ok(()),
        ),
        (
            "tls_config_noAuth.requireanyclientcertkeyinline.good.yml",
            format!(
                "tls_server_config:\n  cert_file: server.crt\n  key: {}\n  client_auth_type: RequireAnyClientCert\n",
                block(&pki.server.key)
            ),
            Ok(()),
        ),
        // --- client auth
        (
            "web_config_noAuth.good.yml (VerifyClientCertIfGiven, no client CA)",
            format!("{tls}  client_auth_type: VerifyClientCertIfGiven\n"),
            Ok(()),
        ),
        (
            "web_config_noAuth.good.blocking.yml (RequireAndVerifyClientCert, no client CA)",
            format!("{tls}  client_auth_type: RequireAndVerifyClientCert\n"),
            Ok(()),
        ),
        // The same bytes as good.blocking.yml. Its ".bad" is a verdict on the handshake, not
        // on the file: ConfigToTLSConfig loads it (Go then verifies client certificates
        // against the system trust store), and the toolkit's TestConfigReloading starts a
        // server on these bytes and expects its test client, which has no certificate, to be
        // refused. each_client_auth_type_treats_client_certificates_as_go_does pins that.
        (
            "web_config_auth_clientCAs_missing.bad.yml (loads; every test client is refused)",
            format!("{tls}  client_auth_type: \"RequireAndVerifyClientCert\"\n"),
            Ok(()),
        ),
        (
            "tls_config_noAuth.requireanyclientcert.good.yml",
            format!("{tls}  client_auth_type: RequireAnyClientCert\n"),
            Ok(()),
        ),
        (
            "RequireClientCert: the toolkit's old name for RequireAnyClientCert",
            format!("{tls}  client_auth_type: RequireClientCert\n"),
            Ok(()),
        ),
        (
            "tls_config_noAuth.requireandverifyclientcert.good.yml",
            format!("{tls}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n"),
            Ok(()),
        ),
        (
            "client_ca inline",
            format!(
                "{tls}  client_auth_type: RequireAndVerifyClientCert\n  client_ca: {}\n",
                block(&pki.ca_pem)
            ),
            Ok(()),
        ),
        (
            "web_config_noAuth.bad.yml (client CA without a policy)",
            format!("{tls}  client_ca_file: ca.pem\n"),
            Err("tls_server_config.client_auth_type"),
        ),
        (
            "web_config_auth_clientCAs_invalid.bad.yml",
            format!("{tls}  client_ca_file: somefile\n  client_auth_type: VerifyClientCertIfGiven\n"),
            Err("tls_server_config.client_ca_file"),
        ),
        (
            "invalid ClientAuth",
            format!("{tls}  client_auth_type: Sometimes\n"),
            Err("tls_server_config.client_auth_type"),
        ),
        (
            "web_config_auth_client_san.good.yaml",
            format!("{tls}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  client_allowed_sans: [one, test3, two]\n"),
            Ok(()),
        ),
        (
            "web_config_auth_client_san.bad.yaml (loads; the handshake fails)",
            format!("{tls}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  client_allowed_sans: [bad]\n"),
            Ok(()),
        ),
        // --- cipher suites, curves, versions
        (
            "web_config_noAuth_allCiphers.good.yml",
            format!(
                "{tls}  client_auth_type: VerifyClientCertIfGiven\n  cipher_suites:\n{}",
                [
                    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                    "TLS_AES_128_GCM_SHA256",
                    "TLS_AES_256_GCM_SHA384",
                    "TLS_CHACHA20_POLY1305_SHA256",
                    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
                    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
                    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
                    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
                ]
                .iter()
                .map(|c| format!("  - {c}\n"))
                .collect::<String>()
            ),
            Ok(()),
        ),
        (
            "web_config_noAuth_someCiphers.good.yml",
            format!("{tls}  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]\n  min_version: TLS12\n  max_version: TLS12\n"),
            Ok(()),
        ),
        (
            "web_config_noAuth_someCiphers_noOrder.good.yml",
            format!("{tls}  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n  prefer_server_cipher_suites: false\n  min_version: TLS12\n  max_version: TLS12\n"),
            Ok(()),
        ),
        (
            "web_config_noAuth_inventedCiphers.bad.yml",
            format!("{tls}  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA2048]\n"),
            Err("tls_server_config.cipher_suites[0]"),
        ),
        (
            "an insecure suite Go keeps out of tls.CipherSuites() is unknown to the toolkit",
            format!("{tls}  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n"),
            Err("tls_server_config.cipher_suites[0]"),
        ),
        (
            "web_config_noAuth_noHTTP2.good.yml",
            format!("{tls}  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]\n  max_version: TLS12\nhttp_server_config:\n  http2: false\n"),
            Ok(()),
        ),
        (
            "web_config_noAuth_noHTTP2Cipher.bad.yml",
            format!("{tls}  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]\n  max_version: TLS12\n"),
            Err("tls_server_config.cipher_suites"),
        ),
        (
            "Go's HTTP/2 cipher rule does not apply with min_version TLS13",
            format!("{tls}  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]\n  min_version: TLS13\n"),
            Ok(()),
        ),
        (
            "web_config_noAuth_allCurves.good.yml",
            format!("{tls}  curve_preferences: [CurveP256, CurveP384, CurveP521, X25519]\n"),
            Ok(()),
        ),
        (
            "web_config_noAuth_someCurves.good.yml",
            format!("{tls}  client_auth_type: VerifyClientCertIfGiven\n  min_version: TLS13\n  curve_preferences:\n  - CurveP521\n"),
            Ok(()),
        ),
        (
            "web_config_noAuth_inventedCurves.bad.yml",
            format!("{tls}  curve_preferences: [CurveP257]\n"),
            Err("tls_server_config.curve_preferences[0]"),
        ),
        (
            "web_config_noAuth_wrongTLSVersion.bad.yml",
            format!("{tls}  min_version: TLS111\n"),
            Err("tls_server_config.min_version"),
        ),
        // --- headers
        (
            "web_config_headers.good.yml",
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000; includeSubDomains\n    X-Content-Type-Options: nosniff\n    X-XSS-Protection: 1\n    Content-Security-Policy: \"default-src 'self' *.test.example.net\"\n".into(),
            Ok(()),
        ),
        (
            "web_config_headers_content_type_options.bad.yml",
            "http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n".into(),
            Err("http_server_config.headers.X-Content-Type-Options"),
        ),
        (
            "web_config_headers_frame_options.bad.yml",
            "http_server_config:\n  headers:\n    X-Frame-Options: foo\n".into(),
            Err("http_server_config.headers.X-Frame-Options"),
        ),
        (
            "web_config_headers_extra_header.bad.yml",
            "http_server_config:\n  headers:\n    Content-Type: foo\n".into(),
            Err("http_server_config.headers.Content-Type"),
        ),
        // --- rate limit
        (
            "web_config_rate_limiter_nonblocking.yaml",
            "rate_limit:\n  interval: 0\n  burst: 0\n".into(),
            Ok(()),
        ),
        (
            "web_config_rate_limiter_one_second.yaml",
            "rate_limit:\n  interval: \"1s\"\n  burst: 0\n".into(),
            Ok(()),
        ),
        (
            "rate_limit interval that Go's time.ParseDuration refuses",
            "rate_limit:\n  interval: 1d\n".into(),
            Err("rate_limit.interval"),
        ),
        // --- users
        (
            "web_config_users_noTLS.good.yml",
            format!("basic_auth_users:\n  alice: {hash}\n  bob: {hash}\n"),
            Ok(()),
        ),
        (
            "web_config_users.good.yml",
            format!("{tls}basic_auth_users:\n  alice: {hash}\n"),
            Ok(()),
        ),
        (
            "web_config_auth_user_list_invalid.bad.yml",
            format!("{tls}basic_auth_users:\n  john: doe\n"),
            Err("basic_auth_users.john"),
        ),
        (
            "a user written twice (Go's strict YAML refuses it)",
            format!("basic_auth_users:\n  alice: {hash}\n  alice: {hash}\n"),
            Err("basic_auth_users"),
        ),
        (
            "TLS settings without a certificate or policy leave TLS off, as IsEnabled",
            "tls_server_config:\n  min_version: TLS13\n".into(),
            Ok(()),
        ),
    ];
    for file in TOOLKIT_FILES {
        assert!(
            rows.iter().any(|(name, _, _)| name.starts_with(file)),
            "no row for the toolkit's {file}"
        );
    }
    let mut failures = Vec::new();
    for (name, yaml, want) in &rows {
        let got = load(&pki, yaml);
        match (want, &got) {
            (Ok(()), Ok(_)) => {}
            (Err(key), Err(e)) if e.starts_with(&format!("web config: {key}: ")) => {}
            _ => failures.push(format!("{name}: want {want:?}, got {got:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!(
        "{} rows ({} toolkit files) decided as the toolkit decides",
        rows.len(),
        TOOLKIT_FILES.len()
    );
}

/// Where this exporter refuses a file the toolkit takes, each for a stated reason: rustls
/// cannot do what the file asks (TLS 1.0/1.1, only CBC suites), the file can never serve
/// (min above max, a CA file without certificates), or it is ambiguous (both sources of one
/// value). Pinned so the divergences stay deliberate.
#[test]
fn the_deliberate_divergences_are_clear_errors() {
    let pki = pki();
    let tls = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
    std::fs::write(pki.dir.path().join("empty.pem"), "").expect("write");
    let rows: Vec<(&str, String, &str)> = vec![
        ("TLS10", format!("{tls}  min_version: TLS10\n"), "tls_server_config.min_version"),
        ("TLS11 max", format!("{tls}  min_version: TLS12\n  max_version: TLS11\n"), "tls_server_config.max_version"),
        ("min above max", format!("{tls}  min_version: TLS13\n  max_version: TLS12\n"), "tls_server_config.max_version"),
        ("only CBC suites under TLS12", format!("{tls}  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA]\nhttp_server_config:\n  http2: false\n"), "tls_server_config.cipher_suites"),
        ("cert and cert_file", format!("{tls}  cert: {}\n", block(&pki.server.pem)), "tls_server_config.cert_file"),
        ("a client CA file without certificates", format!("{tls}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: empty.pem\n"), "tls_server_config.client_ca_file"),
    ];
    for (name, yaml, key) in rows {
        let e = load(&pki, &yaml).expect_err(name);
        assert!(
            e.starts_with(&format!("web config: {key}: ")),
            "{name}: {e}"
        );
        assert!(!e.contains('\n'), "{name}: {e}");
    }
    // A list with some entries rustls lacks loads, and says what it left out.
    let w = load(
        &pki,
        &format!("{tls}  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n"),
    )
    .expect("loads");
    assert!(
        w.warnings()
            .iter()
            .any(|w| w.contains("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA")),
        "{:?}",
        w.warnings()
    );
    // Every curve Go names is spoken: nothing is left out of a curve list.
    let w = load(
        &pki,
        &format!(
            "{tls}  curve_preferences: [CurveP521, X25519, CurveP384, CurveP256, CurveP521]\n"
        ),
    )
    .expect("loads");
    assert!(w.warnings().is_empty(), "{:?}", w.warnings());
}

/// A verifying policy without a client CA loads, as in the toolkit (Go verifies against the
/// system trust store then), and the log says so, naming the key: any CA the system trusts
/// vouches for a client. With a client CA nothing is said.
#[test]
fn a_verifying_policy_without_a_client_ca_says_the_system_trust_store_decides() {
    let pki = pki();
    let tls = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
    for policy in ["RequireAndVerifyClientCert", "VerifyClientCertIfGiven"] {
        let w = load(&pki, &format!("{tls}  client_auth_type: {policy}\n"))
            .unwrap_or_else(|e| panic!("{policy} without a client CA loads: {e}"));
        assert!(
            w.warnings().iter().any(|w| w.starts_with(&format!(
                "tls_server_config.client_auth_type: {policy} without client_ca_file or client_ca"
            )) && w.contains("system trust store")),
            "{policy}: {:?}",
            w.warnings()
        );
        let w = load(
            &pki,
            &format!("{tls}  client_auth_type: {policy}\n  client_ca_file: ca.pem\n"),
        )
        .expect("loads");
        assert!(w.warnings().is_empty(), "{policy}: {:?}", w.warnings());
    }
}

#[test]
fn an_inline_key_never_appears_in_an_error() {
    let pki = pki();
    let secret_line = "c2VjcmV0LWtleS1tYXRlcmlhbA";
    let yaml = format!(
        "tls_server_config:\n  cert_file: server.crt\n  key: |\n    -----BEGIN PRIVATE KEY-----\n    {secret_line}\n    -----END PRIVATE KEY-----\n"
    );
    let e = load(&pki, &yaml).expect_err("not a key");
    assert!(e.starts_with("web config: tls_server_config.key: "), "{e}");
    assert!(!e.contains(secret_line), "{e}");
}

// ------------------------------------------------------------------------------------------
// Live over TLS
// ------------------------------------------------------------------------------------------

/// A TLS client with exactly these versions, TLS 1.2 suites and key exchange groups (`None`:
/// rustls' defaults), and identity.
struct Client<'a> {
    versions: &'a [&'static rustls::SupportedProtocolVersion],
    suites: Option<&'a [rustls::SupportedCipherSuite]>,
    groups: Option<&'a [&'static dyn rustls::crypto::SupportedKxGroup]>,
    identity: Option<&'a Leaf>,
}

impl Default for Client<'_> {
    fn default() -> Self {
        Client {
            versions: rustls::DEFAULT_VERSIONS,
            suites: None,
            groups: None,
            identity: None,
        }
    }
}

/// What one HTTP/1.1 GET over TLS came back with.
#[derive(Debug)]
struct Answer {
    status: u16,
    suite: Option<rustls::CipherSuite>,
    version: Option<rustls::ProtocolVersion>,
    group: Option<rustls::NamedGroup>,
}

/// GETs `path` over a fresh TLS connection; `Err` when the handshake or the answer failed.
async fn tls_get(
    addr: std::net::SocketAddr,
    pki: &Pki,
    c: &Client<'_>,
    path: &str,
) -> Result<Answer, String> {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(suites) = c.suites {
        provider.cipher_suites = suites.to_vec();
    }
    if let Some(groups) = c.groups {
        provider.kx_groups = groups.to_vec();
    }
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
        roots.add(cert.expect("ca pem")).expect("root");
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(c.versions)
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = match c.identity {
        None => builder.with_no_client_auth(),
        Some(leaf) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(leaf.pem.as_bytes())
                    .collect::<Result<_, _>>()
                    .expect("leaf pem");
            let key = PrivateKeyDer::from_pem_slice(leaf.key.as_bytes()).expect("key pem");
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| e.to_string())?
        }
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let work = async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let mut tls = connector
            .connect(ServerName::try_from("localhost").expect("name"), tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let suite = tls.get_ref().1.negotiated_cipher_suite().map(|s| s.suite());
        let version = tls.get_ref().1.protocol_version();
        let group = tls
            .get_ref()
            .1
            .negotiated_key_exchange_group()
            .map(|g| g.name());
        tls.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .map_err(|e| format!("write: {e}"))?;
        let mut buf = Vec::new();
        let read = tls.read_to_end(&mut buf).await;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let status = text
            .strip_prefix("HTTP/1.1 ")
            .and_then(|r| r.get(..3))
            .and_then(|s| s.parse::<u16>().ok());
        match (status, read) {
            (Some(status), _) => Ok(Answer {
                status,
                suite,
                version,
                group,
            }),
            (None, Err(e)) => Err(format!("read: {e}")),
            (None, Ok(_)) => Err(format!("no HTTP answer: {text:?}")),
        }
    };
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .unwrap_or_else(|_| Err("timed out".into()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_auth_type_treats_client_certificates_as_go_does() {
    let pki = tokio::task::block_in_place(pki);
    // (policy, with the client CA, [no certificate, a CA-signed one, a stranger's]).
    let matrix: [(&str, bool, [bool; 3]); 7] = [
        ("NoClientCert", false, [true, true, true]),
        ("RequestClientCert", false, [true, true, true]),
        ("RequireAnyClientCert", false, [false, true, true]),
        ("VerifyClientCertIfGiven", true, [true, true, false]),
        ("RequireAndVerifyClientCert", true, [false, true, false]),
        // Without a client CA, Go verifies against the system trust store, which knows
        // neither test CA.
        ("VerifyClientCertIfGiven", false, [true, false, false]),
        ("RequireAndVerifyClientCert", false, [false, false, false]),
    ];
    for (policy, with_ca, want) in matrix {
        let ca = if with_ca {
            "  client_ca_file: ca.pem\n"
        } else {
            ""
        };
        let yaml = format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: {policy}\n{ca}"
        );
        let (s, _fake) = serve(&pki, &yaml).await;
        for (i, identity) in [None, Some(&pki.client), Some(&pki.stranger)]
            .into_iter()
            .enumerate()
        {
            for versions in [
                &[&rustls::version::TLS13][..],
                &[&rustls::version::TLS12][..],
            ] {
                let c = Client {
                    versions,
                    identity,
                    ..Client::default()
                };
                let got = tls_get(s.addr, &pki, &c, "/healthz").await;
                let ok = matches!(&got, Ok(a) if a.status == 200);
                let who = [
                    "no certificate",
                    "a CA-signed certificate",
                    "a stranger's certificate",
                ][i];
                assert_eq!(
                    ok, want[i],
                    "{policy} (client CA: {with_ca}) with {who} over {:?}: {got:?}",
                    versions[0].version
                );
            }
        }
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_allowed_sans_admit_only_a_listed_name() {
    let pki = tokio::task::block_in_place(pki);
    let tls = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
    for (policy, ca) in [
        ("RequireAndVerifyClientCert", "  client_ca_file: ca.pem\n"),
        ("RequestClientCert", ""),
    ] {
        for (allowed, client_ok) in [
            ("[prometheus.monitoring.svc]", true),
            ("[ops@example.org]", true),
            ("[\"127.0.0.1\"]", true),
            ("[bad, PROMETHEUS.MONITORING.SVC]", false),
        ] {
            let yaml = format!(
                "{tls}  client_auth_type: {policy}\n{ca}  client_allowed_sans: {allowed}\n"
            );
            let (s, _fake) = serve(&pki, &yaml).await;
            let get = |identity| {
                let c = Client {
                    identity,
                    ..Client::default()
                };
                let pki = &pki;
                let addr = s.addr;
                async move { tls_get(addr, pki, &c, "/healthz").await }
            };
            let listed = get(Some(&pki.client)).await;
            assert_eq!(
                matches!(&listed, Ok(a) if a.status == 200),
                client_ok,
                "{policy} {allowed}, client with the listed SANs: {listed:?}"
            );
            let other = get(Some(&pki.other)).await;
            assert!(
                other.is_err(),
                "{policy} {allowed}, unlisted SAN: {other:?}"
            );
            // No certificate at all: the toolkit drops such a connection as well.
            let none = get(None).await;
            assert!(
                none.is_err(),
                "{policy} {allowed}, no certificate: {none:?}"
            );
            s.stop().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cipher_suites_and_versions_are_honoured() {
    use rustls::crypto::ring::cipher_suite as cs;
    let pki = tokio::task::block_in_place(pki);
    let tls = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
    let tls12 = &[&rustls::version::TLS12][..];
    let tls13 = &[&rustls::version::TLS13][..];

    // A TLS 1.2 suite outside the list is refused; one inside is used.
    let yaml = format!(
        "{tls}  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]\n  max_version: TLS12\nhttp_server_config:\n  http2: false\n"
    );
    let (s, _fake) = serve(&pki, &yaml).await;
    let outside = Client {
        versions: tls12,
        suites: Some(&[cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]),
        ..Client::default()
    };
    let r = tls_get(s.addr, &pki, &outside, "/healthz").await;
    assert!(r.is_err(), "a suite outside cipher_suites: {r:?}");
    let inside = Client {
        versions: tls12,
        suites: Some(&[
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ]),
        ..Client::default()
    };
    let r = tls_get(s.addr, &pki, &inside, "/healthz")
        .await
        .expect("listed suite");
    assert_eq!(
        r.suite,
        Some(rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384)
    );
    // max_version TLS12: a client that speaks only TLS 1.3 is refused.
    let only13 = Client {
        versions: tls13,
        ..Client::default()
    };
    let r = tls_get(s.addr, &pki, &only13, "/healthz").await;
    assert!(
        r.is_err(),
        "TLS 1.3-only client under max_version TLS12: {r:?}"
    );
    s.stop().await;

    // min_version TLS13: a TLS 1.2-only client is refused, a TLS 1.3 one served with 1.3.
    let (s, _fake) = serve(&pki, &format!("{tls}  min_version: TLS13\n")).await;
    let only12 = Client {
        versions: tls12,
        ..Client::default()
    };
    assert!(tls_get(s.addr, &pki, &only12, "/healthz").await.is_err());
    let r = tls_get(s.addr, &pki, &Client::default(), "/healthz")
        .await
        .expect("TLS 1.3");
    assert_eq!(r.version, Some(rustls::ProtocolVersion::TLSv1_3));
    s.stop().await;

    // prefer_server_cipher_suites: the server's order (default) or the client's.
    for (prefer, want) in [
        (
            "true",
            rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "false",
            rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
    ] {
        let yaml = format!(
            "{tls}  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n  prefer_server_cipher_suites: {prefer}\n  max_version: TLS12\n"
        );
        let (s, _fake) = serve(&pki, &yaml).await;
        let r = tls_get(s.addr, &pki, &inside, "/healthz")
            .await
            .expect("handshake");
        assert_eq!(r.suite, Some(want), "prefer_server_cipher_suites: {prefer}");
        s.stop().await;
    }
}

/// `curve_preferences: [CurveP521]` (the toolkit's someCurves file, TLS 1.3 only): a client
/// that offers only P-521 completes the handshake on P-521, and one that offers only X25519
/// or P-384 is refused. TLS 1.2's ECDHE suites take the same group, and with no list P-521 is
/// still spoken, last, as in Go's defaults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_offering_only_p521_is_served_as_the_toolkit_serves_it() {
    use milvus_exporter::server::web_config::p521_kx::SECP521R1;
    use rustls::crypto::ring::kx_group as kx;
    let pki = tokio::task::block_in_place(pki);
    let tls = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
    let tls12 = &[&rustls::version::TLS12][..];
    let tls13 = &[&rustls::version::TLS13][..];
    let p521 = &[SECP521R1][..];
    fn offering<'a>(
        versions: &'a [&'static rustls::SupportedProtocolVersion],
        groups: &'a [&'static dyn rustls::crypto::SupportedKxGroup],
    ) -> Client<'a> {
        Client {
            versions,
            groups: Some(groups),
            ..Client::default()
        }
    }

    let some_curves = format!(
        "{tls}  client_auth_type: VerifyClientCertIfGiven\n  min_version: TLS13\n  curve_preferences:\n  - CurveP521\n"
    );
    let (s, _fake) = serve(&pki, &some_curves).await;
    let r = tls_get(s.addr, &pki, &offering(tls13, p521), "/healthz")
        .await
        .expect("a P-521-only client is served");
    assert_eq!(r.status, 200);
    assert_eq!(r.version, Some(rustls::ProtocolVersion::TLSv1_3));
    assert_eq!(r.group, Some(rustls::NamedGroup::secp521r1));
    for (name, other) in [("X25519", kx::X25519), ("P-384", kx::SECP384R1)] {
        let r = tls_get(s.addr, &pki, &offering(tls13, &[other]), "/healthz").await;
        assert!(r.is_err(), "a client offering only {name}: {r:?}");
    }
    s.stop().await;

    let tls12_only = format!("{tls}  max_version: TLS12\n  curve_preferences: [CurveP521]\n");
    let (s, _fake) = serve(&pki, &tls12_only).await;
    let r = tls_get(s.addr, &pki, &offering(tls12, p521), "/healthz")
        .await
        .expect("P-521 over TLS 1.2");
    assert_eq!(r.version, Some(rustls::ProtocolVersion::TLSv1_2));
    assert_eq!(r.group, Some(rustls::NamedGroup::secp521r1));
    s.stop().await;

    let (s, _fake) = serve(&pki, tls).await;
    let r = tls_get(s.addr, &pki, &offering(tls13, p521), "/healthz")
        .await
        .expect("P-521 is among the default curves");
    assert_eq!(r.group, Some(rustls::NamedGroup::secp521r1));
    let r = tls_get(s.addr, &pki, &Client::default(), "/healthz")
        .await
        .expect("default client");
    assert_eq!(
        r.group,
        Some(rustls::NamedGroup::X25519),
        "P-521 comes after the curves a client prefers"
    );
    s.stop().await;
}

/// The P-521 exchange against an implementation that is not ours: OpenSSL's `s_client`,
/// offering only P-521 over TLS 1.3, verifies the server and reads `/healthz`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_offering_only_p521_completes_tls13_and_gets_an_answer() {
    let pki = tokio::task::block_in_place(pki);
    let yaml = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS13\n  curve_preferences: [CurveP521]\n";
    let (s, _fake) = serve(&pki, yaml).await;
    let run = |groups: &'static str| {
        let mut cmd = tokio::process::Command::new("openssl");
        cmd.args(["s_client", "-connect"])
            .arg(s.addr.to_string())
            .args(["-servername", "localhost", "-tls1_3", "-groups", groups])
            .arg("-CAfile")
            .arg(pki.dir.path().join("ca.pem"))
            .args(["-verify_return_error", "-brief", "-ign_eof"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        async move {
            let mut child = cmd
                .spawn()
                .expect("openssl is on PATH (the image ships it)");
            let mut stdin = child.stdin.take().expect("stdin");
            stdin
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .await
                .expect("write request");
            drop(stdin);
            let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
                .await
                .expect("openssl s_client finishes")
                .expect("openssl output");
            (
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    let (stdout, stderr) = run("P-521").await;
    assert!(
        stdout.starts_with("HTTP/1.1 200"),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stderr.contains("TLSv1.3"), "{stderr}");
    assert!(
        stderr.contains("Server Temp Key: ECDH, secp521r1"),
        "{stderr}"
    );
    let (stdout, stderr) = run("X25519").await;
    assert!(
        !stdout.contains("HTTP/1.1"),
        "an X25519-only OpenSSL client was served: {stdout}\n{stderr}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_is_offered_over_tls_unless_turned_off() {
    let pki = tokio::task::block_in_place(pki);
    let tls = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).expect("ca"))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    for (extra, want) in [
        ("", reqwest::Version::HTTP_2),
        (
            "http_server_config:\n  http2: true\n",
            reqwest::Version::HTTP_2,
        ),
        (
            "http_server_config:\n  http2: false\n",
            reqwest::Version::HTTP_11,
        ),
    ] {
        let (s, _fake) = serve(&pki, &format!("{tls}{extra}")).await;
        let base = format!("https://127.0.0.1:{}", s.addr.port());
        for path in ["/healthz", "/metrics", "/readyz"] {
            let r = client
                .get(format!("{base}{path}"))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{path} with {extra:?}: {e}"));
            assert_eq!(r.version(), want, "{path} with {extra:?}");
            assert_ne!(r.status().as_u16(), 0);
            let _ = r.bytes().await.expect("body");
        }
        s.stop().await;
    }

    // Plain HTTP is HTTP/1.1 only, as in the toolkit: no h2c.
    let (s, _fake) = serve(&pki, "").await;
    let h2c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    assert!(h2c.get(s.url_of("/healthz")).send().await.is_err());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_http2_connection_is_closed_after_the_header_read_timeout() {
    let pki = tokio::task::block_in_place(pki);
    let (s, _fake) = serve(
        &pki,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    )
    .await;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
        roots.add(cert.expect("pem")).expect("root");
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    // From before the connection exists: its idle clock cannot have started earlier.
    let t = Instant::now();
    let tcp = tokio::net::TcpStream::connect(s.addr)
        .await
        .expect("connect");
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    // Send the preface and nothing else, then read until the server lets go.
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .expect("preface");
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "still open after 15 s");
    // header_read_timeout is 2 s here: closed for being idle, not at once.
    assert!(
        t.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        t.elapsed()
    );
    s.stop().await;
}

/// Opens a TLS connection that chose `h2`, sends the preface and goes quiet.
async fn idle_h2(
    addr: std::net::SocketAddr,
    pki: &Pki,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
        roots.add(cert.expect("pem")).expect("root");
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("handshake");
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .expect("preface");
    tls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http2_connections_make_room_at_max_connections() {
    let pki = tokio::task::block_in_place(pki);
    let fake = FakeMilvus::start(FakeState::new()).await;
    let opts = ServeOptions {
        max_connections: 4,
        // Long, so what frees the places is eviction, not the idle timeout.
        header_read_timeout: Duration::from_secs(30),
        ..options(
            &pki,
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
        )
    };
    let s = Exporter::start_with(&fake_config(&fake.url()), opts).await;
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(idle_h2(s.addr, &pki).await);
    }
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).expect("ca"))
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let t = Instant::now();
    let r = client
        .get(format!("https://127.0.0.1:{}/healthz", s.addr.port()))
        .send()
        .await
        .expect("/healthz past 8 idle HTTP/2 connections");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    println!("/healthz past 8 idle HTTP/2 connections: {:?}", t.elapsed());
    // The first one was evicted long ago: the server has closed it, not just forgotten it.
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match held[0].read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "an evicted HTTP/2 connection is still open");
    drop(held);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_http2_header_list_is_refused_and_the_server_stays_up() {
    let pki = tokio::task::block_in_place(pki);
    let (s, _fake) = serve(
        &pki,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    )
    .await;
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).expect("ca"))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let url = format!("https://127.0.0.1:{}/healthz", s.addr.port());
    // Far over the 16 KiB head limit, in one header and in many.
    let big = "x".repeat(64 * 1024);
    let r = client.get(&url).header("x-big", &big).send().await;
    assert!(
        r.as_ref()
            .map(|r| r.status().as_u16() != 200)
            .unwrap_or(true),
        "one 64 KiB header: {r:?}"
    );
    let mut many = client.get(&url);
    for i in 0..400 {
        many = many.header(format!("x-h{i}"), "y".repeat(100));
    }
    let r = many.send().await;
    assert!(
        r.as_ref()
            .map(|r| r.status().as_u16() != 200)
            .unwrap_or(true),
        "400 headers of 100 bytes: {r:?}"
    );
    let ok = client.get(&url).send().await.expect("healthz after");
    assert_eq!(ok.version(), reqwest::Version::HTTP_2);
    assert_eq!(ok.status().as_u16(), 200);
    s.stop().await;
}

/// One HTTP/2 frame: the 9-byte header (length, type, flags, stream id), then the payload.
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("frame length");
    let mut f = len.to_be_bytes()[1..].to_vec();
    f.extend_from_slice(&[kind, flags]);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// What a stalling HTTP/2 client ([`stall_h2`]) has seen so far.
#[derive(Debug, Default)]
struct Stall {
    /// Response HEADERS frames: answers the server began.
    headers: usize,
    /// DATA bytes (none can come: the client grants no window).
    data: usize,
    /// RST_STREAM frames: streams the server refused.
    resets: usize,
    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS, once its SETTINGS arrived.
    max_streams: Option<u32>,
    /// How long after [`stall_h2`] was called the server closed the connection.
    closed_after: Option<Duration>,
}

/// Opens an HTTP/2 connection over TLS whose SETTINGS make every stream's initial window 0,
/// sends `streams` GETs of `path` and never sends WINDOW_UPDATE: the server can send each
/// answer's headers but not one byte of its body, and no socket write of the server's is
/// left pending. It acknowledges SETTINGS and PING as a live peer does, for at most `limit`.
async fn stall_h2(
    addr: std::net::SocketAddr,
    pki: &Pki,
    path: &str,
    streams: u32,
    limit: Duration,
) -> Arc<std::sync::Mutex<Stall>> {
    let t = Instant::now();
    let mut tls = idle_h2(addr, pki).await;
    // SETTINGS_INITIAL_WINDOW_SIZE (0x4) = 0.
    let mut hello = h2_frame(0x4, 0, 0, &[0, 4, 0, 0, 0, 0]);
    // HPACK: :method GET (static 2), :scheme https (7), then :path and :authority as literals
    // without indexing, named by their static indexes (4 and 1).
    let mut block = vec![
        0x82,
        0x87,
        0x04,
        u8::try_from(path.len()).expect("short path"),
    ];
    block.extend_from_slice(path.as_bytes());
    block.extend_from_slice(&[0x01, 9]);
    block.extend_from_slice(b"localhost");
    for i in 0..streams {
        // END_STREAM | END_HEADERS on client streams 1, 3, 5, ...
        hello.extend(h2_frame(0x1, 0x5, 1 + 2 * i, &block));
    }
    tls.write_all(&hello).await.expect("requests");
    let state = Arc::new(std::sync::Mutex::new(Stall::default()));
    let seen = Arc::clone(&state);
    tokio::spawn(async move {
        let mut buf: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        let deadline = tokio::time::Instant::now() + limit;
        let closed = |seen: &std::sync::Mutex<Stall>| {
            seen.lock().expect("stall").closed_after = Some(t.elapsed());
        };
        loop {
            let n = match tokio::time::timeout_at(deadline, tls.read(&mut chunk)).await {
                Err(_) => return,
                Ok(Ok(0)) | Ok(Err(_)) => return closed(&seen),
                Ok(Ok(n)) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            while buf.len() >= 9 {
                let len =
                    usize::from(buf[0]) << 16 | usize::from(buf[1]) << 8 | usize::from(buf[2]);
                if buf.len() < 9 + len {
                    break;
                }
                let (kind, flags) = (buf[3], buf[4]);
                let payload = buf[9..9 + len].to_vec();
                buf.drain(..9 + len);
                let reply = {
                    let mut st = seen.lock().expect("stall");
                    match kind {
                        0x4 if flags & 1 == 0 => {
                            for s in payload.chunks_exact(6) {
                                if s[..2] == [0, 3] {
                                    st.max_streams =
                                        Some(u32::from_be_bytes([s[2], s[3], s[4], s[5]]));
                                }
                            }
                            Some(h2_frame(0x4, 0x1, 0, &[]))
                        }
                        0x6 if flags & 1 == 0 => Some(h2_frame(0x6, 0x1, 0, &payload)),
                        0x1 => {
                            st.headers += 1;
                            None
                        }
                        0x0 => {
                            st.data += len;
                            None
                        }
                        0x3 => {
                            st.resets += 1;
                            None
                        }
                        _ => None,
                    }
                };
                if let Some(reply) = reply {
                    if tls.write_all(&reply).await.is_err() {
                        return closed(&seen);
                    }
                }
            }
        }
    });
    state
}

fn h2_client(pki: &Pki) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).expect("ca"))
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_client_that_grants_no_window_holds_no_metrics_permit_and_is_closed_after_the_write_timeout(
) {
    let pki = tokio::task::block_in_place(pki);
    let fake = FakeMilvus::start(FakeState::new()).await;
    let write_timeout = Duration::from_secs(3);
    let opts = ServeOptions {
        write_timeout,
        max_requests: 4,
        ..options(
            &pki,
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
        )
    };
    let s = Exporter::start_with(&fake_config(&fake.url()), opts).await;
    let url = format!("https://127.0.0.1:{}/metrics", s.addr.port());
    let client = h2_client(&pki);
    let t = Instant::now();
    // Twice max_requests: each is rendered under a permit and gives it back before it is
    // written (renders at the same instant may still be refused); no body can be sent, so
    // none of the answers finishes.
    let stall = stall_h2(s.addr, &pki, "/metrics", 8, Duration::from_secs(30)).await;
    let seen = Arc::clone(&stall);
    support::exporter::eventually(Duration::from_secs(10), "the stalled answers begun", || {
        let n = seen.lock().expect("stall").headers;
        async move { n >= 8 }
    })
    .await;
    let r = client
        .get(&url)
        .send()
        .await
        .expect("/metrics while stalled");
    // The stalled answers hold no permit: another client is answered while they stall.
    assert_eq!(r.status().as_u16(), 200, "a stalled reader holds no permit");
    let c = client.clone();
    let u = url.clone();
    let took = support::exporter::eventually(
        write_timeout + Duration::from_secs(5),
        "another client's /metrics answers 200 again after the write timeout",
        || {
            let (c, u) = (c.clone(), u.clone());
            async move {
                c.get(&u)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().as_u16() == 200)
            }
        },
    )
    .await;
    println!("/metrics 200 again after {:?}", t.elapsed());
    let _ = took;
    let seen = Arc::clone(&stall);
    support::exporter::eventually(
        Duration::from_secs(5),
        "the stalled connection closed",
        || {
            let closed = seen.lock().expect("stall").closed_after.is_some();
            async move { closed }
        },
    )
    .await;
    let st = std::mem::take(&mut *stall.lock().expect("stall"));
    let closed = st.closed_after.expect("closed");
    assert!(
        closed >= write_timeout,
        "closed before the write timeout: {closed:?}"
    );
    assert_eq!(st.data, 0, "{st:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_http2_reader_that_keeps_reading_is_served_past_the_write_timeout() {
    let pki = tokio::task::block_in_place(pki);
    // About 150 KiB of /metrics: ten pieces, each let through by one window update.
    let fake = FakeMilvus::start(FakeState::new().with(|b| {
        b.collections = (0..150)
            .map(|i| {
                support::fake_milvus::FakeCollection::loaded(
                    "default",
                    &format!("c{i:03}_{}", "x".repeat(240)),
                    7,
                )
            })
            .collect();
    }))
    .await;
    let write_timeout = Duration::from_secs(2);
    let opts = ServeOptions {
        write_timeout,
        ..options(
            &pki,
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
        )
    };
    let s = Exporter::start_with(&fake_config(&fake.url()), opts).await;
    let t = Instant::now();
    let mut tls = idle_h2(s.addr, &pki).await;
    // Stream windows start at 0; the connection's is opened wide, so only the stream's paces.
    let mut hello = h2_frame(0x4, 0, 0, &[0, 4, 0, 0, 0, 0]);
    hello.extend(h2_frame(0x8, 0, 0, &(64u32 << 20).to_be_bytes()));
    hello.extend(h2_frame(
        0x1,
        0x5,
        1,
        &[
            &[0x82, 0x87, 0x04, 8][..],
            b"/metrics",
            &[0x01, 9],
            b"localhost",
        ]
        .concat(),
    ));
    tls.write_all(&hello).await.expect("request");
    // 16 KiB of window every 500 ms, a quarter of the write timeout: slow, but never stalled.
    let mut grant = tokio::time::interval(Duration::from_millis(500));
    let (mut buf, mut chunk) = (Vec::new(), vec![0u8; 16 * 1024]);
    let (mut data, mut ended, mut grants) = (0usize, false, 0u32);
    while !ended && grants < 200 {
        tokio::select! {
            _ = grant.tick() => {
                grants += 1;
                tls.write_all(&h2_frame(0x8, 0, 1, &16_384u32.to_be_bytes()))
                    .await
                    .expect("window update");
            }
            n = tls.read(&mut chunk) => {
                let n = n.expect("read");
                assert!(n > 0, "closed after {data} bytes, {:?}", t.elapsed());
                buf.extend_from_slice(&chunk[..n]);
            }
        }
        while buf.len() >= 9 {
            let len = usize::from(buf[0]) << 16 | usize::from(buf[1]) << 8 | usize::from(buf[2]);
            if buf.len() < 9 + len {
                break;
            }
            let (kind, flags, stream) = (buf[3], buf[4], buf[8]);
            match kind {
                0x4 if flags & 1 == 0 => tls
                    .write_all(&h2_frame(0x4, 0x1, 0, &[]))
                    .await
                    .expect("settings ack"),
                0x0 if stream == 1 => {
                    data += len;
                    ended = flags & 1 == 1;
                }
                0x3 | 0x7 => panic!("reset or goaway after {data} bytes, {:?}", t.elapsed()),
                _ => {}
            }
            buf.drain(..9 + len);
        }
    }
    assert!(ended, "{data} bytes in {grants} window updates");
    assert!(data > 100 * 1024, "a /metrics body of {data} bytes");
    // Far longer than the write timeout in all, and served: the timeout is for no progress.
    assert!(t.elapsed() > write_timeout * 2, "{:?}", t.elapsed());
    println!("{data} bytes over HTTP/2 in {:?}", t.elapsed());
    s.stop().await;
}

/// SETTINGS_MAX_CONCURRENT_STREAMS, as docs/hardening.md ("Bounds") states it.
const H2_STREAMS: u32 = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_http2_connection_holds_at_most_16_answers_and_closes_when_they_stall() {
    let pki = tokio::task::block_in_place(pki);
    let fake = FakeMilvus::start(FakeState::new()).await;
    let write_timeout = Duration::from_secs(2);
    let opts = ServeOptions {
        write_timeout,
        ..options(
            &pki,
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
        )
    };
    let s = Exporter::start_with(&fake_config(&fake.url()), opts).await;
    // `/readyz` is under no max_requests permit: only the stream cap bounds how many answers
    // one connection pins.
    let stall = stall_h2(
        s.addr,
        &pki,
        "/readyz",
        H2_STREAMS + 8,
        Duration::from_secs(30),
    )
    .await;
    let seen = Arc::clone(&stall);
    support::exporter::eventually(
        write_timeout + Duration::from_secs(8),
        "the stalled connection closed",
        || {
            let closed = seen.lock().expect("stall").closed_after.is_some();
            async move { closed }
        },
    )
    .await;
    let st = std::mem::take(&mut *stall.lock().expect("stall"));
    assert_eq!(st.max_streams, Some(H2_STREAMS), "{st:?}");
    assert_eq!(st.headers, H2_STREAMS as usize, "answers begun: {st:?}");
    assert_eq!(st.resets, 8, "streams refused: {st:?}");
    let closed = st.closed_after.expect("closed");
    assert!(
        closed >= write_timeout,
        "closed before the write timeout: {closed:?}"
    );
    s.stop().await;
}

// ------------------------------------------------------------------------------------------
// Headers, rate limit, basic auth (plain HTTP: none of them is about TLS)
// ------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_headers_are_on_every_response() {
    let pki = tokio::task::block_in_place(pki);
    let hash = bcrypt::hash("pw", 4).expect("hash");
    let yaml = format!(
        "http_server_config:\n  headers:\n    X-Frame-Options: sameorigin\n    X-Content-Type-Options: nosniff\n    Strict-Transport-Security: max-age=31536000\n    Content-Security-Policy: \"default-src 'self'\"\n    X-XSS-Protection: 0\n\
         rate_limit:\n  interval: 1h\n  burst: 3\n\
         basic_auth_users:\n  prometheus: {hash}\n"
    );
    let (s, _fake) = serve(&pki, &yaml).await;
    let client = reqwest::Client::new();
    let mut seen = Vec::new();
    // 200 (open path), 401 (no password), 404, 200 (with the password), then 429.
    for (path, auth) in [
        ("/healthz", false),
        ("/metrics", false),
        ("/nope", true),
        ("/metrics", true),
        ("/metrics", true),
    ] {
        let mut req = client.get(s.url_of(path));
        if auth {
            req = req.basic_auth("prometheus", Some("pw"));
        }
        let r = req.send().await.expect("send");
        seen.push(r.status().as_u16());
        let h = r.headers();
        for (name, value) in [
            ("x-frame-options", "sameorigin"),
            ("x-content-type-options", "nosniff"),
            ("strict-transport-security", "max-age=31536000"),
            ("content-security-policy", "default-src 'self'"),
            ("x-xss-protection", "0"),
        ] {
            assert_eq!(
                h.get(name).and_then(|v| v.to_str().ok()),
                Some(value),
                "{name} on {path} ({})",
                r.status()
            );
        }
    }
    assert_eq!(seen, [200, 401, 404, 200, 429]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_rate_limit_is_429_while_the_kubelet_probes_still_answer() {
    let pki = tokio::task::block_in_place(pki);
    let (s, _fake) = serve(&pki, "rate_limit:\n  interval: 1h\n  burst: 3\n").await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = client.get(s.url_of("/metrics")).send().await.expect("send");
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429]);
    assert_eq!(
        client
            .get(s.url_of("/health"))
            .send()
            .await
            .expect("send")
            .status()
            .as_u16(),
        429,
        "/health is not a kubelet probe: limited"
    );
    for _ in 0..50 {
        let h = client.get(s.url_of("/healthz")).send().await.expect("send");
        assert_eq!(h.status().as_u16(), 200, "/healthz under the rate limit");
        let r = client.get(s.url_of("/readyz")).send().await.expect("send");
        assert_ne!(r.status().as_u16(), 429, "/readyz under the rate limit");
    }
    s.stop().await;

    // interval 0: no limit at all.
    let (s, _fake) = serve(&pki, "rate_limit:\n  interval: 0\n  burst: 0\n").await;
    for _ in 0..20 {
        let r = client.get(s.url_of("/metrics")).send().await.expect("send");
        assert_eq!(r.status().as_u16(), 200);
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_admits_each_user_with_their_own_password_whatever_the_cost() {
    let pki = tokio::task::block_in_place(pki);
    let users = [
        ("alice", "alice-pw", 4),
        ("bob", "bob-pw", 6),
        ("carol", "carol-pw", 8),
    ];
    let mut yaml = String::from("basic_auth_users:\n");
    for (user, pw, cost) in users {
        let hash = tokio::task::block_in_place(|| bcrypt::hash(pw, cost).expect("hash"));
        yaml.push_str(&format!("  {user}: {hash}\n"));
    }
    let (s, _fake) = serve(&pki, &yaml).await;
    let client = reqwest::Client::new();
    let status = |user: &'static str, pw: &'static str| {
        let req = client.get(s.url_of("/metrics")).basic_auth(user, Some(pw));
        async move { req.send().await.expect("send").status().as_u16() }
    };
    for (user, pw, _) in users {
        assert_eq!(status(user, pw).await, 200, "{user}");
        assert_eq!(status(user, pw).await, 200, "{user}, cached");
    }
    assert_eq!(
        status("alice", "bob-pw").await,
        401,
        "another user's password"
    );
    assert_eq!(
        status("carol", "alice-pw").await,
        401,
        "another user's password"
    );
    assert_eq!(status("dave", "alice-pw").await, 401, "unknown user");
    assert_eq!(status("alice", "").await, 401, "empty password");
    s.stop().await;
}

/// A setting taken with a change is said in the log of the running binary, whose logging is
/// set up only after the file has been read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_logs_what_it_left_out_of_a_preference_list() {
    let pki = tokio::task::block_in_place(pki);
    let fake = FakeMilvus::start(FakeState::new()).await;
    let web = pki.dir.path().join("web.yml");
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n",
    )
    .expect("write");
    let web_arg = web.display().to_string();
    let config = fake_config(&fake.url());
    let bin = tokio::task::block_in_place(|| {
        Binary::start(&config, &["--web.config.file", &web_arg], &[])
    });
    let logged = tokio::task::block_in_place(|| {
        bin.wait_for_log(
            "left out TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
            Duration::from_secs(10),
        )
    });
    assert!(logged, "{}", bin.stderr());
}
