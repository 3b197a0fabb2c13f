//! The scrubbing of secrets out of what the embeddings API sends back.

use crate::config::Secret;
use crate::limits;

/// Replaces every configured header value, and each long word of one (the key without its
/// `Bearer ` prefix), with `***` in text that came back from the API: an API may quote the
/// key it was sent in its error message, and a parse error may quote the body.
pub(super) struct Scrubber(Vec<String>);

impl Scrubber {
    /// Words shorter than this are not scrubbed on their own: `Bearer` is not a secret, and
    /// a key is far longer.
    const MIN_WORD: usize = 8;

    pub(super) fn new(headers: &[(String, Secret)]) -> Self {
        let mut secrets: Vec<String> = Vec::new();
        for (_, v) in headers {
            let v = v.expose();
            secrets.push(v.to_string());
            secrets.extend(
                v.split_whitespace()
                    .filter(|w| w.len() >= Self::MIN_WORD)
                    .map(str::to_string),
            );
        }
        secrets.retain(|s| !s.trim().is_empty());
        // Longest first, so a value is replaced whole before its words are looked for.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Scrubber(secrets)
    }

    /// `text` with the secrets replaced, on one bounded line.
    pub(super) fn clean(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.0 {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        limits::one_line(&out)
    }
}
