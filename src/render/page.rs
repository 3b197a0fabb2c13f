//! `/`: what this is, where everything is, and the current verdict, for a person with a browser.
//! The server's handler (`server/landing.rs`) hands it what the cache has; nothing here waits
//! or does I/O.

use std::time::Instant;

use super::exposition::BUILD;
use crate::cache::View;
use crate::readiness::RuleStatus;

/// The page for the main target's newest view (`None` before the first refresh), the main
/// target's name and the names of the `/probe` targets.
pub fn html(view: Option<&View>, main_name: &str, targets: &[String]) -> String {
    let mut rules = String::new();
    let verdict = match &view {
        None => "<p class=\"pending\">No refresh has completed yet.</p>".to_string(),
        Some(v) => {
            for r in &v.verdict.rules {
                let (mark, class, detail) = match &r.status {
                    RuleStatus::Pass => ("pass", "ok", String::new()),
                    RuleStatus::Excluded => ("excluded", "off", String::new()),
                    RuleStatus::Fail(reason) => ("fail", "bad", escape(reason)),
                };
                rules.push_str(&format!(
                    "<tr class=\"{class}\"><td>{}</td><td>{mark}</td><td>{detail}</td></tr>\n",
                    escape(&r.name)
                ));
            }
            let age = v.snapshot.age(Instant::now()).as_secs_f64();
            format!(
                "<p id=\"verdict\" class=\"{}\">Milvus at <code>{}</code> is <strong>{}</strong> (data {:.1}s old).</p>",
                if v.verdict.ready { "ok" } else { "bad" },
                escape(&v.snapshot.address),
                if v.verdict.ready { "ready" } else { "not ready" },
                age
            )
        }
    };
    let probe_links: String = targets
        .iter()
        .map(|t| {
            let q: String = url::form_urlencoded::byte_serialize(t.as_bytes()).collect();
            format!(
                "<li><a href=\"/probe?target={q}\">/probe?target={}</a></li>",
                escape(t)
            )
        })
        .collect();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Milvus Exporter</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem;color:#222}}
.ok{{color:#17692a}} .bad{{color:#a31515}} .off{{color:#777}} .pending{{color:#8a6d00}}
table{{border-collapse:collapse}} td{{padding:.2rem .8rem;border-bottom:1px solid #ddd}}
code{{background:#f3f3f3;padding:0 .2rem}}
</style></head>
<body>
<h1>Milvus Exporter</h1>
<p>Version {version} (revision {revision}, rustc {rustc})</p>
{verdict}
<table id="rules">{rules}</table>
<h2>Endpoints</h2>
<ul>
<li><a href="/metrics">/metrics</a>: Prometheus metrics for Milvus and this host</li>
<li><a href="/readyz">/readyz</a> (<a href="/readyz?verbose">?verbose</a>): readiness, 200 or 503</li>
<li><a href="/healthz">/healthz</a>: liveness of the exporter itself</li>
<li><a href="/health">/health</a>: everything, as JSON</li>
<li><a href="/probe?target={main_q}">/probe?target={main}</a>: one configured target's metrics</li>
{probe_links}
</ul>
</body></html>
"#,
        version = BUILD.version,
        revision = BUILD.revision,
        rustc = BUILD.rustc,
        main = escape(main_name),
        main_q = url::form_urlencoded::byte_serialize(main_name.as_bytes()).collect::<String>(),
    )
}

/// Reasons come from Milvus and the network; they are text, never markup.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
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
    use crate::readiness::tests::{cfg, healthy, milvus};
    use crate::readiness::{evaluate, Scope};

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(super::escape("<b a='x'>&"), "&lt;b a=&#39;x&#39;&gt;&amp;");
    }

    #[test]
    fn the_page_shows_the_verdict_each_rule_and_a_link_per_target_with_reasons_escaped() {
        let mut s = healthy();
        if let Ok(facts) = &mut milvus(&mut s).outcome {
            facts.healthy = false;
            facts.reasons = vec!["<script>x</script>".into()];
        }
        let verdict = evaluate(&s, &cfg(), Scope::Main);
        let view = View::new(s, verdict);
        let page = html(Some(&view), "main", &["a b".to_string()]);
        assert!(page.contains("<strong>not ready</strong>"), "{page}");
        assert!(page.contains("&lt;script&gt;"), "{page}");
        assert!(!page.contains("<script>"), "{page}");
        for r in &view.verdict.rules {
            assert!(page.contains(&format!("<td>{}</td>", r.name)), "{}", r.name);
        }
        assert!(page.contains("href=\"/probe?target=main\""), "{page}");
        assert!(page.contains("href=\"/probe?target=a+b\""), "{page}");
        let pending = html(None, "main", &[]);
        assert!(
            pending.contains("No refresh has completed yet."),
            "{pending}"
        );
    }
}
