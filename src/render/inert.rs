//! Text from Milvus or a peer made inert for where it is shown, one function per medium: a
//! terminal ([`terminal`]: control characters, escape sequences, bidirectional controls), a
//! line-oriented answer such as `/readyz?verbose` ([`line`]: the same, so a value can neither
//! end its line nor start another) and a page ([`html`]). JSON and metric labels have their
//! own escaping (serde_json, the exposition writer) and need nothing from here.
//! Names and reasons can hold `<`, `"`, newlines and `ESC [ 2 J`; shown as they are, they
//! would redraw an operator's terminal or become markup.

use std::borrow::Cow;

/// Whether `c` changes how what follows is shown rather than showing as itself: C0 and C1
/// controls (ESC, so every ANSI and OSC sequence, CR, LF), DEL, and the Unicode bidirectional
/// embeddings, overrides and isolates and the marks (LRM, RLM, ALM).
fn is_active(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
        )
}

/// `s` for a terminal (`milvus_exporter check`): see [`inert`].
pub fn terminal(s: &str) -> Cow<'_, str> {
    inert(s)
}

/// `s` for one line of a line-oriented answer (`/readyz?verbose`): see [`inert`].
pub fn line(s: &str) -> Cow<'_, str> {
    inert(s)
}

/// `s` with every active character written as its escape (`\n`, `\u{1b}`), so it shows as
/// text on one line and changes nothing on a terminal. Borrowed when there is nothing to do.
pub fn inert(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_active) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_active(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `s` as HTML text (element content or a quoted attribute value): inert, then `& < > " '`
/// escaped, so no value can close an element or an attribute.
pub fn html(s: &str) -> String {
    let s = inert(s);
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_characters_become_escapes_and_plain_text_is_borrowed() {
        let table = [
            ("plain name", "plain name"),
            ("two\nlines", "two\\nlines"),
            (
                "\u{1b}[2J\u{1b}]0;owned\u{7}",
                "\\u{1b}[2J\\u{1b}]0;owned\\u{7}",
            ),
            ("tab\tand\rcr", "tab\\tand\\rcr"),
            ("c1 \u{9b}31m", "c1 \\u{9b}31m"),
            ("bidi \u{202e}txt.exe", "bidi \\u{202e}txt.exe"),
            ("alm \u{61c}x \u{2067}y", "alm \\u{61c}x \\u{2067}y"),
            ("del\u{7f}", "del\\u{7f}"),
            ("émoji ✓ 中文", "émoji ✓ 中文"),
        ];
        for (raw, shown) in table {
            assert_eq!(inert(raw), shown, "{raw:?}");
        }
        assert!(matches!(inert("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn html_text_can_close_neither_an_element_nor_an_attribute() {
        assert_eq!(
            html("<img src=x onerror=alert(1)>"),
            "&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(html("\"'&\n"), "&quot;&#39;&amp;\\n");
    }
}
