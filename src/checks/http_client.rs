//! The HTTP client of a configured endpoint (a `[[dependencies]]` entry, a RAG probe's
//! embeddings API): its headers marked sensitive and sent only to its origin, its extra CA,
//! its trust, and the URL as answers and logs show it. Shared by the checks that call HTTP
//! endpoints (`http`, `rag`, `components`); not a check.

use crate::config::Secret;
use crate::limits::MAX_REDIRECTS;

/// Why a redirect was not followed.
#[derive(Debug, thiserror::Error)]
enum RedirectRefused {
    #[error("redirect to another origin refused: {0}")]
    OtherOrigin(String),
    #[error("more than {0} redirects")]
    TooMany(usize),
}

/// Server certificates are checked against the system trust store (what Go's clients and the
/// Milvus gRPC client here use), not the webpki bundle compiled into reqwest: a CA an
/// operator adds to the host or image is trusted, one they remove is not.
pub(crate) fn system_trust(b: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    b.tls_built_in_webpki_certs(false)
        .tls_built_in_native_certs(true)
}

/// Redirects are followed only within the configured URL's origin (scheme, host and port),
/// at most [`MAX_REDIRECTS`] of them. The configured headers are often credentials, and
/// reqwest strips only `Authorization`, `Cookie` and their kin on a cross-host redirect: an
/// `X-Api-Key` would follow a 302 anywhere. A same-origin redirect (`/health` → `/health/`)
/// is common and harmless, so it is followed rather than refused.
fn same_origin_redirects(configured: &url::Url) -> reqwest::redirect::Policy {
    let origin = configured.origin();
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(RedirectRefused::TooMany(MAX_REDIRECTS))
        } else if attempt.url().origin() != origin {
            let to = attempt.url().origin().ascii_serialization();
            attempt.error(RedirectRefused::OtherOrigin(to))
        } else {
            attempt.follow()
        }
    })
}

/// A client for one configured endpoint (a dependency, a RAG probe's embeddings API): its
/// headers sent with every request and marked sensitive, redirects only within `url`'s
/// origin, and its trust: the configured CA bundle alone when there is one, else the system
/// trust store (see [`system_trust`]).
pub(super) fn client_for(
    url: &url::Url,
    configured: &[(String, Secret)],
    ca_pem: Option<&[u8]>,
    insecure_skip_verify: bool,
) -> Result<reqwest::Client, reqwest::Error> {
    let mut b = system_trust(reqwest::Client::builder()).redirect(same_origin_redirects(url));
    if let Some(pem) = ca_pem {
        b = b.tls_built_in_root_certs(false);
        for cert in reqwest::Certificate::from_pem_bundle(pem)? {
            b = b.add_root_certificate(cert);
        }
    }
    if insecure_skip_verify {
        b = b.danger_accept_invalid_certs(true);
    }
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in configured {
        if let (Ok(name), Ok(mut value)) = (
            k.parse::<reqwest::header::HeaderName>(),
            v.expose().parse::<reqwest::header::HeaderValue>(),
        ) {
            value.set_sensitive(true);
            headers.insert(name, value);
        }
    }
    b.default_headers(headers).build()
}

/// The URL as shown in answers and logs: no query string (tokens hide there) and no fragment.
pub(super) fn shown_url(url: &url::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}
