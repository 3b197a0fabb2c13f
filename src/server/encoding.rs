//! `Accept-Encoding` negotiation for `/metrics` and `/probe` (RFC 9110 §12.5.3), modelled on
//! Go's promhttp (client_golang `negotiateEncodingWriter`): gzip when the client accepts it,
//! identity otherwise, and identity when nothing offered is acceptable.
//!
//! The rules, in the order they decide:
//! - no `Accept-Encoding` (or none readable) → identity, as promhttp does (RFC 9110 would let
//!   the server pick any coding; a client that sent no header may not decode one);
//! - an explicit entry for a coding beats `*`; `x-gzip` is `gzip` (RFC 9110 §8.4.1.3);
//! - gzip when its weight is above zero and not below identity's. Identity that is neither
//!   named nor covered by `*` is the fallback with no weight of its own, so `gzip;q=0.5` alone
//!   is gzip (as in promhttp). A tie goes to gzip when the client named gzip, to identity when
//!   only `*` covered it (promhttp offers identity first, and `*` is no evidence that a client
//!   decodes gzip);
//! - identity refused (`identity;q=0`, or `*;q=0` without an identity entry) and gzip not
//!   acceptable → **identity all the same, not 406**. RFC 9110 §15.5.7 lets a server send an
//!   unnegotiated answer rather than 406; promhttp does exactly that "for compatibility", and
//!   for a scrape a 406 is `up 0` for a target that is fine, which is worse than bytes the
//!   client said it would rather not have.
//!
//! Hostile headers: a weight that is not an RFC qvalue (`q=1.5`, `q=-1`, `q=0.0001`, `q=abc`)
//! drops its entry, as if it were not there; a value that is not visible ASCII (non-UTF-8)
//! is skipped; at most [`MAX_ENTRIES`] entries are read over all `Accept-Encoding` lines, the
//! rest ignored (the request head itself is bounded by `MAX_HEADER_BYTES`).

use axum::http::{header, HeaderMap};

use crate::render::exposition::Coding;

/// The most `Accept-Encoding` entries read per request. Real clients send under ten.
pub const MAX_ENTRIES: usize = 32;

/// The coding of the answer to a request with these headers.
pub fn negotiate(headers: &HeaderMap) -> Coding {
    let mut seen = false;
    // The weight of an explicit entry for each coding, and of `*`; the last one given wins.
    let (mut gzip, mut identity, mut any) = (None, None, None);
    let entries = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .take(MAX_ENTRIES);
    for entry in entries {
        seen = true;
        let Some((coding, q)) = parse_entry(entry) else {
            continue;
        };
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(q);
        } else if coding.eq_ignore_ascii_case("identity") {
            identity = Some(q);
        } else if coding == "*" {
            any = Some(q);
        }
    }
    if !seen {
        return Coding::Identity;
    }
    // An explicit entry beats the wildcard. Identity not named (nor `*`) is still acceptable,
    // but only as the fallback: it has no weight to set against gzip's.
    let (gzip_q, named) = match gzip {
        Some(q) => (q, true),
        None => (any.unwrap_or(Weight::ZERO), false),
    };
    let preferred = match identity.or(any) {
        None => true,
        Some(Weight::ZERO) => true,
        Some(identity_q) => gzip_q > identity_q || (gzip_q == identity_q && named),
    };
    if gzip_q > Weight::ZERO && preferred {
        Coding::Gzip
    } else {
        Coding::Identity
    }
}

/// An RFC 9110 qvalue in thousandths: `0` to `1000`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Weight(u16);

impl Weight {
    const ZERO: Weight = Weight(0);
    const ONE: Weight = Weight(1000);

    /// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`; anything else is `None`.
    fn parse(s: &str) -> Option<Weight> {
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s, ""),
        };
        if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let thousandths = frac
            .bytes()
            .chain(std::iter::repeat(b'0'))
            .take(3)
            .fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'));
        match int {
            "0" => Some(Weight(thousandths)),
            "1" if thousandths == 0 => Some(Weight::ONE),
            _ => None,
        }
    }
}

/// `coding *( OWS ";" OWS name "=" value )`: the coding and its weight (1 when not given), or
/// `None` when the entry is malformed and is to be ignored.
fn parse_entry(entry: &str) -> Option<(&str, Weight)> {
    let mut parts = entry.split(';').map(str::trim);
    let coding = parts.next().filter(|c| is_token(c))?;
    let mut weight = Weight::ONE;
    for param in parts {
        let (name, value) = param.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("q") {
            weight = Weight::parse(value.trim())?;
        }
    }
    Some((coding, weight))
}

/// RFC 9110 `token` (or `*`, which is one).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(values: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(
                header::ACCEPT_ENCODING,
                HeaderValue::from_bytes(v).expect("a header value"),
            );
        }
        h
    }

    #[test]
    fn the_negotiation_table() {
        use Coding::{Gzip, Identity};
        let table: &[(&str, Coding)] = &[
            // What Prometheus, curl --compressed and browsers send.
            ("gzip", Gzip),
            ("gzip, deflate, br", Gzip),
            ("deflate, gzip", Gzip),
            ("GZIP", Gzip),
            ("x-gzip", Gzip),
            ("br, zstd", Identity),
            ("identity", Identity),
            // Weights.
            ("gzip;q=0", Identity),
            ("gzip; q=0.000", Identity),
            ("gzip;q=0.5", Gzip),
            ("gzip;Q=0.5", Gzip),
            ("gzip;q=0.5, identity", Identity),
            ("gzip;q=0.5, identity;q=0.5", Gzip),
            ("gzip;q=1, identity;q=0.999", Gzip),
            ("gzip;q=1.0", Gzip),
            ("gzip;q=1.000", Gzip),
            ("gzip;q=0, gzip;q=1", Gzip),
            ("gzip;q=1, gzip;q=0", Identity),
            // The wildcard.
            ("*", Identity),
            ("*;q=0.5, identity;q=0.1", Gzip),
            ("*;q=0", Identity),
            ("gzip;q=0, *", Identity),
            ("*, identity;q=0", Gzip),
            ("*;q=0, gzip", Gzip),
            ("*;q=0, identity", Identity),
            // Identity refused: gzip if it is acceptable at all, else identity anyway (not 406).
            ("identity;q=0", Identity),
            ("identity;q=0, gzip;q=0.001", Gzip),
            ("identity;q=0, gzip;q=0", Identity),
            ("identity;q=0, *;q=0", Identity),
            // Malformed weights drop their entry and nothing else.
            ("gzip;q=1.5", Identity),
            ("gzip;q=-1", Identity),
            ("gzip;q=0.0001", Identity),
            ("gzip;q=abc", Identity),
            ("gzip;q=", Identity),
            ("gzip;q=1.001", Identity),
            ("gzip;q=.5", Identity),
            ("gzip;q=1.5, gzip", Gzip),
            ("gzip;q", Identity),
            ("gzip;level=9", Gzip),
            ("identity;q=2, gzip;q=0.1", Gzip),
            // Garbage.
            ("", Identity),
            (",,, ,", Identity),
            ("g zip", Identity),
            ("\"gzip\"", Identity),
            (";q=1", Identity),
            ("gzip;;q=1", Identity),
        ];
        for (value, want) in table {
            assert_eq!(negotiate(&with(&[value.as_bytes()])), *want, "{value:?}");
        }
    }

    #[test]
    fn absent_unreadable_repeated_and_huge_headers() {
        assert_eq!(negotiate(&HeaderMap::new()), Coding::Identity);
        // Non-UTF-8 (obs-text) is not read; the readable line beside it is.
        assert_eq!(negotiate(&with(&[b"gzip\xff"])), Coding::Identity);
        assert_eq!(negotiate(&with(&[b"\xc3\xa9", b"gzip"])), Coding::Gzip);
        // Several lines are one list (RFC 9110 §5.3).
        assert_eq!(negotiate(&with(&[b"br", b"gzip"])), Coding::Gzip);
        assert_eq!(negotiate(&with(&[b"gzip", b"gzip;q=0"])), Coding::Identity);
        // Entries past the bound are not read: gzip after 32 others is not seen.
        let many = "br, ".repeat(MAX_ENTRIES) + "gzip";
        assert_eq!(negotiate(&with(&[many.as_bytes()])), Coding::Identity);
        let lines: Vec<&[u8]> = std::iter::repeat_n(&b"deflate"[..], MAX_ENTRIES)
            .chain([&b"gzip"[..]])
            .collect();
        assert_eq!(negotiate(&with(&lines)), Coding::Identity);
        let early = "gzip, ".to_string() + &"br;q=0.1, ".repeat(10_000);
        assert_eq!(negotiate(&with(&[early.as_bytes()])), Coding::Gzip);
        let huge = "x".repeat(60_000);
        assert_eq!(negotiate(&with(&[huge.as_bytes()])), Coding::Identity);
    }

    #[test]
    fn qvalues_follow_the_grammar() {
        for (s, w) in [
            ("0", 0),
            ("0.", 0),
            ("0.5", 500),
            ("0.05", 50),
            ("0.123", 123),
        ] {
            assert_eq!(Weight::parse(s), Some(Weight(w)), "{s}");
        }
        for s in ["1", "1.", "1.0", "1.00", "1.000"] {
            assert_eq!(Weight::parse(s), Some(Weight::ONE), "{s}");
        }
        for s in [
            "", "2", "1.5", "-1", "-0", "0.1234", "+1", "1e0", "0x1", ".5", "0.a",
        ] {
            assert_eq!(Weight::parse(s), None, "{s}");
        }
    }
}
