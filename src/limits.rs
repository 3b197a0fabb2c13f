//! Bounds on everything the exporter reads from the network and repeats to people: a Milvus,
//! a dependency or anything between them can send any number of any bytes, and the exporter's
//! memory, its answers and its series must stay bounded whatever they send.
//!
//! The figures are stated here once, and docs/hardening.md ("Bounds") repeats them.

use std::borrow::Cow;

use tokio::time::Instant;

/// Milvus's `:9091/healthz` body. A real one is a few hundred bytes per component; a megabyte
/// holds several thousand components.
pub const MAX_COMPONENTS_BODY: usize = 1024 * 1024;
/// A dependency's body, read only when `expect_body` is set: a health check wants a verdict,
/// not a download.
pub const MAX_DEPENDENCY_BODY: usize = 256 * 1024;
/// A decoded ListDatabases or ShowCollections reply from Milvus. ShowCollections at Milvus's
/// default ceiling of 65,536 collections (`quotaAndLimits.limits.maxCollectionNum`) with
/// 255-byte names, ids, timestamps and percentages is about 20 MiB; 64 MiB leaves three times
/// that. 10,000 collections of 40-byte names is about 0.6 MiB.
pub const MAX_GRPC_LISTING: usize = 64 * 1024 * 1024;
/// Bytes one listed name may take in a ShowCollections reply: a 255-byte name with its tag
/// and length (258), its id, two timestamps, a percentage, a flag and a shard count (each a
/// varint of at most 10 bytes, 11 with a tag where unpacked): about 311, rounded up.
pub const LISTING_BYTES_PER_NAME: usize = 320;
/// What a listing reply holds besides its names (the status and its reason).
pub const LISTING_BYTES_OVERHEAD: usize = 64 * 1024;

/// The byte bound of a listing allowed `names` names: what that many real names can take,
/// and never more than [`MAX_GRPC_LISTING`]. At the default 65,536 names, 20.06 MiB.
pub fn listing_reply_bytes(names: usize) -> usize {
    names
        .saturating_mul(LISTING_BYTES_PER_NAME)
        .saturating_add(LISTING_BYTES_OVERHEAD)
        .min(MAX_GRPC_LISTING)
}

/// Any other decoded gRPC reply: tonic's own default (and so the SDK's), 4 MiB. A load state,
/// a row count, a schema or one probe row is a few kilobytes.
pub const MAX_GRPC_REPLY: usize = 4 * 1024 * 1024;
/// A label value that came from Milvus (collection, database, component, version), in bytes.
/// Milvus's own names are at most 255 bytes, so only a lying server's values are clipped.
pub const MAX_LABEL_BYTES: usize = 256;
/// Components kept from one `/healthz` answer; the unhealthy ones are kept first.
pub const MAX_COMPONENTS: usize = 1000;
/// CheckHealth reasons kept; the rest are counted in one last "(and N more)" reason.
pub const MAX_REASONS: usize = 100;
/// Characters of one reason or message from the network (one line).
pub const MAX_REASON_CHARS: usize = 300;
/// Unhealthy components named in the readiness reason; the rest are counted.
pub const MAX_NAMED_IN_REASON: usize = 10;
/// Same-origin redirects a dependency check follows.
pub const MAX_REDIRECTS: usize = 5;

/// Why a body was not read to its end.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("body larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("no more of the body before the deadline")]
    Timeout,
    #[error(transparent)]
    Read(#[from] reqwest::Error),
}

/// Reads a response body chunk by chunk, each read under `deadline`, with a running total:
/// past `limit` bytes it stops with [`BodyError::TooLarge`]. Content-Length is not consulted
/// (nothing is reserved for it); hyper itself stops at a declared length and fails a body that
/// ends short of it. At most `limit` bytes plus one chunk are ever held.
pub async fn read_body(
    resp: &mut reqwest::Response,
    limit: usize,
    deadline: Instant,
) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    loop {
        let chunk = match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Err(_) => return Err(BodyError::Timeout),
            Ok(result) => result?,
        };
        let Some(chunk) = chunk else {
            return Ok(body);
        };
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
}

/// `s` cut to at most `max` bytes at a char boundary, and whether it was cut.
pub fn clip_bytes(s: &str, max: usize) -> (&str, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (&s[..end], true)
}

/// A label value bounded at [`MAX_LABEL_BYTES`], with `…` marking a cut.
pub fn clip_label(s: &str) -> Cow<'_, str> {
    match clip_bytes(s, MAX_LABEL_BYTES) {
        (whole, false) => Cow::Borrowed(whole),
        (head, true) => Cow::Owned(format!("{head}…")),
    }
}

/// One line of at most [`MAX_REASON_CHARS`] characters (and `…` when cut): text from the
/// network is shown to people and written to logs.
pub fn one_line(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(MAX_REASON_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().nth(MAX_REASON_CHARS).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_respects_char_boundaries_and_marks_the_cut() {
        let s = "é".repeat(200); // 400 bytes
        let (head, cut) = clip_bytes(&s, 255);
        assert!(cut && head.len() == 254 && head.chars().all(|c| c == 'é'));
        assert_eq!(clip_label("short"), "short");
        let long = clip_label(&s);
        assert!(long.ends_with('…') && long.len() <= MAX_LABEL_BYTES + '…'.len_utf8());
        let line = one_line(&"a\nb".repeat(1000));
        assert!(!line.contains('\n') && line.chars().count() == MAX_REASON_CHARS + 1);
        assert_eq!(one_line("x\ty"), "x y");
    }
}
