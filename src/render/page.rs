//! `/`: the status page, for a person with a browser. The verdict and since when it holds,
//! the failing reasons in words, every configured target with its own verdict (each one
//! click away: `/?target=NAME`), the checks' tables (collections, nodes, dependencies, RAG
//! probes, the host: whatever the results have, through [`Facts::panels`]) and the history.
//!
//! Plain HTML and CSS: it renders without JavaScript (a few lines of script only reload it),
//! fits a 375 px phone and a 1920 px screen (wide tables scroll inside their own box), and
//! follows the reader's light or dark scheme. Every value from Milvus or a peer goes through
//! [`inert::html`]: a collection named `<img src=x onerror=alert(1)>` is text. Its size is
//! bounded: each table shows at most [`PANEL_ROWS`] rows and the history [`HISTORY_ROWS`]
//! entries, and says where the rest are (`/health`). The server's handler
//! (`server/landing.rs`) hands it what the caches have; nothing here waits or does I/O.
//!
//! [`Facts::panels`]: crate::checks::Facts::panels

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::exposition::BUILD;
use super::inert::html as esc;
use crate::cache::View;
use crate::checks::{Panel, Tone};
use crate::history::{Entry, Event};
use crate::readiness::RuleStatus;

/// Rows of one table at most: 10,000 collections would be a page nobody reads and a
/// megabyte to send; the collections with a problem come first, the rest are in `/health`.
pub const PANEL_ROWS: usize = 200;
/// History entries shown at most; `/health?history=N` has more.
pub const HISTORY_ROWS: usize = 50;
/// How often the page reloads itself when scripts run.
pub const RELOAD_SECONDS: u64 = 15;

/// One configured target, as the targets table shows it.
pub struct TargetLine<'a> {
    pub name: &'a str,
    /// Its newest view, `None` before its first refresh.
    pub view: Option<Arc<View>>,
}

/// What the page is made of.
pub struct Page<'a> {
    /// The target this page is about.
    pub target: &'a str,
    /// Its newest view, `None` before its first refresh.
    pub view: Option<&'a View>,
    /// Whether `target` is the main target (`/`) or another (`/?target=NAME`).
    pub main: bool,
    /// Every configured target, the main one first.
    pub targets: Vec<TargetLine<'a>>,
    /// The request's monotonic and wall clocks, for ages.
    pub now: Instant,
    pub wall: SystemTime,
}

/// The link to a target's page: `/` for the main one, `/?target=NAME` for the others.
fn target_href(name: &str, main: bool) -> String {
    if main {
        "/".to_string()
    } else {
        let q: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
        format!("/?target={q}")
    }
}

fn ago(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

fn utc(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .replace('T', " ")
        .replace('Z', " UTC")
}

fn tone_class(t: Tone) -> &'static str {
    match t {
        Tone::Plain => "",
        Tone::Good => " class=\"ok\"",
        Tone::Warn => " class=\"warn\"",
        Tone::Bad => " class=\"bad\"",
    }
}

/// The page of `page.target`.
pub fn html(page: &Page<'_>) -> String {
    let mut body = String::with_capacity(32 * 1024);
    let title = esc(page.target);
    let _ = writeln!(
        body,
        "<header><h1>Milvus Exporter</h1><p class=\"meta\">version {} (revision {}, rustc {})</p></header>",
        esc(BUILD.version),
        esc(BUILD.revision),
        esc(BUILD.rustc)
    );
    verdict(&mut body, page);
    targets(&mut body, page);
    if let Some(view) = page.view {
        rules(&mut body, view);
        for r in view.snapshot.results.iter() {
            for p in r.panels(&view.snapshot.results, PANEL_ROWS) {
                panel(&mut body, &p);
            }
        }
        history(&mut body, view);
    }
    endpoints(&mut body, page);
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{title} · Milvus Exporter</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<style>{CSS}</style></head>
<body>
{body}<script>
// Reload now and then while the page is visible; without scripts the page is the same, only still.
setInterval(function () {{ if (!document.hidden) location.reload(); }}, {reload});
</script>
</body></html>
"#,
        reload = RELOAD_SECONDS * 1000,
    )
}

const CSS: &str = r#"
:root{--fg:#1d1f23;--muted:#5f6670;--bg:#fff;--card:#f6f7f9;--line:#dde1e6;--ok:#17692a;--okbg:#e6f4ea;--bad:#a31515;--badbg:#fdecea;--warn:#7a5a00;--warnbg:#fff6dc;--link:#0b57d0}
@media (prefers-color-scheme: dark){:root{--fg:#e6e8eb;--muted:#a0a7b0;--bg:#121417;--card:#1b1e23;--line:#30353c;--ok:#7ad191;--okbg:#15291b;--bad:#ff8a80;--badbg:#3a1614;--warn:#f2c84b;--warnbg:#33290c;--link:#8ab4f8}}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;padding:1rem;max-width:110rem;color:var(--fg);background:var(--bg)}
a{color:var(--link)}
h1{font-size:1.4rem;margin:.2rem 0}
h2{font-size:1.1rem;margin:1.4rem 0 .4rem}
.meta,.note{color:var(--muted);margin:.2rem 0}
.verdict{border-radius:.5rem;padding:.8rem 1rem;margin:.8rem 0}
.verdict.ok{background:var(--okbg)} .verdict.bad{background:var(--badbg)} .verdict.pending{background:var(--warnbg)}
.verdict strong{font-size:1.3rem}
.ok{color:var(--ok)} .bad{color:var(--bad)} .warn{color:var(--warn)} .off{color:var(--muted)}
.scroll{overflow-x:auto;max-width:100%;border:1px solid var(--line);border-radius:.4rem;background:var(--card)}
table{border-collapse:collapse;width:100%}
th,td{padding:.3rem .6rem;text-align:left;vertical-align:top;border-bottom:1px solid var(--line)}
#history td:nth-child(4),#rules td:nth-child(3){min-width:16rem}
.scroll table{min-width:34rem}
th{font-weight:600;color:var(--muted);white-space:nowrap}
td.when{white-space:nowrap}
code{background:var(--card);padding:0 .2rem;overflow-wrap:anywhere}
ul{padding-left:1.2rem}
nav ul{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.4rem}
nav a{display:inline-block;padding:.15rem .6rem;border:1px solid var(--line);border-radius:1rem;text-decoration:none;overflow-wrap:anywhere}
nav a[aria-current]{background:var(--card);font-weight:600}
@media (max-width:40rem){body{padding:.5rem;font-size:14px}th,td{padding:.25rem .35rem}}
"#;

fn verdict(out: &mut String, page: &Page<'_>) {
    let Some(view) = page.view else {
        let _ = writeln!(
            out,
            "<section id=\"verdict\" class=\"verdict pending\"><strong>no data yet</strong> for target <code>{}</code>: no refresh has completed.{}</section>",
            esc(page.target),
            if page.main {
                ""
            } else {
                " It is refreshed when <code>/probe?target=</code> or this page asks for it."
            }
        );
        return;
    };
    let ready = view.verdict.ready;
    let age = view.snapshot.age(page.now).as_secs_f64();
    let since = match view.history.status_since {
        Some(t) => format!(
            " since <time>{}</time> ({} ago)",
            utc(t),
            ago(page.wall.duration_since(t).unwrap_or_default())
        ),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "<section id=\"verdict\" class=\"verdict {}\"><strong id=\"status\">{}</strong>{since}<br>Milvus at <code>{}</code>, target <code>{}</code>; data {age:.1}s old.",
        if ready { "ok" } else { "bad" },
        if ready { "Ready" } else { "Not ready" },
        esc(&view.snapshot.address),
        esc(page.target),
    );
    let reasons = view.verdict.reasons();
    if !reasons.is_empty() {
        out.push_str("<ul id=\"reasons\">");
        for r in &reasons {
            let _ = write!(out, "<li>{}</li>", esc(r));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
}

fn targets(out: &mut String, page: &Page<'_>) {
    out.push_str("<nav aria-label=\"targets\"><h2>Targets</h2><ul id=\"targets\">");
    for (i, t) in page.targets.iter().enumerate() {
        let (class, word) = match &t.view {
            None => ("off", "no data"),
            Some(v) if v.verdict.ready => ("ok", "ready"),
            Some(_) => ("bad", "not ready"),
        };
        let current = if t.name == page.target {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<li><a href=\"{}\"{current}>{} <span class=\"{class}\">{word}</span></a></li>",
            esc(&target_href(t.name, i == 0)),
            esc(t.name),
        );
    }
    out.push_str("</ul></nav>\n");
}

fn rules(out: &mut String, view: &View) {
    out.push_str("<section><h2>Rules</h2><div class=\"scroll\"><table id=\"rules\"><thead><tr><th>Rule</th><th>Result</th><th>Reason</th></tr></thead><tbody>\n");
    for r in &view.verdict.rules {
        let (mark, class, detail) = match &r.status {
            RuleStatus::Pass => ("pass", "ok", String::new()),
            RuleStatus::Excluded => ("excluded", "off", String::new()),
            RuleStatus::Fail(reason) => ("fail", "bad", esc(reason)),
        };
        let _ = writeln!(
            out,
            "<tr class=\"{class}\"><td>{}</td><td>{mark}</td><td>{detail}</td></tr>",
            esc(&r.name)
        );
    }
    out.push_str("</tbody></table></div></section>\n");
}

fn panel(out: &mut String, p: &Panel) {
    let _ = write!(
        out,
        "<section id=\"{}\"><h2>{}</h2>",
        esc(p.id),
        esc(p.title)
    );
    if let Some(note) = &p.note {
        let _ = write!(out, "<p class=\"note\">{}</p>", esc(note));
    }
    if p.rows.is_empty() && p.more == 0 {
        if p.note.is_none() {
            out.push_str("<p class=\"note\">none</p>");
        }
        out.push_str("</section>\n");
        return;
    }
    let _ = write!(
        out,
        "<div class=\"scroll\"><table id=\"{}-table\"><thead><tr>",
        esc(p.id)
    );
    for c in p.columns {
        let _ = write!(out, "<th>{}</th>", esc(c));
    }
    out.push_str("</tr></thead><tbody>\n");
    for row in &p.rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td{}>{}</td>", tone_class(cell.tone), esc(&cell.text));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>");
    if p.more > 0 {
        let _ = write!(
            out,
            "<p class=\"note more\">{} shown, {} more: every one is in <a href=\"/health\">/health</a>.</p>",
            p.rows.len(),
            p.more
        );
    }
    out.push_str("</section>\n");
}

fn event_words(e: &Entry) -> &'static str {
    match (e.event, e.ready) {
        (Event::First, true) => "first verdict: ready",
        (Event::First, false) => "first verdict: not ready",
        (Event::Transition, true) => "became ready",
        (Event::Transition, false) => "not ready",
        (Event::FailedRefresh, _) => "failed refresh",
    }
}

fn history(out: &mut String, view: &View) {
    let h = &view.history;
    let _ = write!(
        out,
        "<section id=\"history-section\"><h2>History</h2><p class=\"note\">Transitions since the exporter started: <span id=\"transitions\">{}</span>. Kept in memory only; newest first.</p>",
        h.transitions
    );
    if h.entries.is_empty() {
        out.push_str("<p class=\"note\">nothing recorded yet</p></section>\n");
        return;
    }
    out.push_str("<div class=\"scroll\"><table id=\"history\"><thead><tr><th>When (UTC)</th><th>Event</th><th>Rules</th><th>Reasons</th><th>Refreshes</th></tr></thead><tbody>\n");
    for e in h.entries.iter().take(HISTORY_ROWS) {
        let count = if e.count > 1 {
            format!("{}, last at {}", e.count, utc(e.last_at))
        } else {
            "1".to_string()
        };
        let reasons: Vec<String> = e.reasons.iter().map(|r| esc(r)).collect();
        let errors: Vec<String> = e
            .checks
            .iter()
            .filter_map(|c| {
                c.error
                    .as_ref()
                    .map(|err| format!("check {}: {}", esc(c.name), esc(err)))
            })
            .collect();
        let detail = reasons
            .into_iter()
            .chain(errors)
            .collect::<Vec<_>>()
            .join("<br>");
        let _ = writeln!(
            out,
            "<tr><td class=\"when\"><time>{}</time></td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            utc(e.at),
            if e.ready { "ok" } else { "bad" },
            event_words(e),
            esc(&e.rules.join(", ")),
            detail,
            esc(&count),
        );
    }
    out.push_str("</tbody></table></div>");
    if h.entries.len() > HISTORY_ROWS || h.dropped > 0 {
        let _ = write!(
            out,
            "<p class=\"note more\">{} shown; <a href=\"/health?history=1000\">/health?history=N</a> has up to the ring's size.</p>",
            h.entries.len().min(HISTORY_ROWS)
        );
    }
    out.push_str("</section>\n");
}

fn endpoints(out: &mut String, page: &Page<'_>) {
    let probes: String = page
        .targets
        .iter()
        .map(|t| {
            let q: String = url::form_urlencoded::byte_serialize(t.name.as_bytes()).collect();
            format!(
                "<li><a href=\"/probe?target={q}\">/probe?target={}</a>: the metrics of target {}</li>\n",
                esc(t.name),
                esc(t.name)
            )
        })
        .collect();
    let _ = write!(
        out,
        r#"<section><h2>Endpoints</h2><ul id="endpoints">
<li><a href="/metrics">/metrics</a>: Prometheus metrics for Milvus and this host</li>
<li><a href="/readyz">/readyz</a> (<a href="/readyz?verbose">?verbose</a>): readiness, 200 or 503</li>
<li><a href="/healthz">/healthz</a>: liveness of the exporter itself</li>
<li><a href="/health">/health</a>: everything, as JSON (<a href="/health?history=100">?history=N</a>)</li>
{probes}</ul></section>
"#
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::collections::CollectionFacts;
    use crate::history::{History, Limits};
    use crate::model::LoadState;
    use crate::readiness::tests::{cfg, collections, healthy, milvus};
    use crate::readiness::{evaluate, Scope};

    fn view_of(
        mut s: crate::snapshot::Snapshot,
        edit: impl FnOnce(&mut crate::snapshot::Snapshot),
    ) -> Arc<View> {
        edit(&mut s);
        let verdict = evaluate(&s, &cfg(), Scope::Main);
        let mut h = History::new(Limits::default());
        h.record(s.checked_at, &verdict, &s.checks());
        Arc::new(View::new(s, verdict.clone()).with_history(h.recent()))
    }

    fn page_of<'a>(view: &'a View, targets: Vec<TargetLine<'a>>) -> String {
        html(&Page {
            target: "default",
            view: Some(view),
            main: true,
            targets,
            now: Instant::now(),
            wall: SystemTime::now(),
        })
    }

    #[test]
    fn the_page_shows_the_verdict_reasons_rules_panels_and_history_with_every_value_escaped() {
        let hostile = "<img src=x onerror=alert(1)>\"\n\u{1b}[2J";
        let view = view_of(healthy(), |s| {
            if let Ok(facts) = &mut milvus(s).outcome {
                facts.healthy = false;
                facts.reasons = vec![format!("<script>x</script> {hostile}")];
            }
            if let Ok(c) = &mut collections(s).outcome {
                c.collections[0].name = hostile.into();
            }
        });
        let other = view_of(healthy(), |_| {});
        let page = page_of(
            &view,
            vec![
                TargetLine {
                    name: "default",
                    view: Some(Arc::clone(&view)),
                },
                TargetLine {
                    name: "a b\"<",
                    view: Some(other),
                },
                TargetLine {
                    name: "never",
                    view: None,
                },
            ],
        );
        assert!(
            page.contains("<strong id=\"status\">Not ready</strong>"),
            "{page}"
        );
        assert!(page.contains("<ul id=\"reasons\">"), "{page}");
        for needle in [
            "id=\"rules\"",
            "id=\"collections-table\"",
            "id=\"milvus-table\"",
            "id=\"history\"",
            "id=\"targets\"",
        ] {
            assert!(page.contains(needle), "{needle}");
        }
        assert!(!page.contains("<script>x"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(
            !page.contains('\u{1b}'),
            "no terminal escape reaches the page"
        );
        assert!(
            page.contains("&lt;img src=x onerror=alert(1)&gt;&quot;\\n\\u{1b}[2J"),
            "{page}"
        );
        assert!(page.contains("href=\"/?target=a+b%22%3C\""), "{page}");
        assert!(page.contains("href=\"/probe?target=a+b%22%3C\""), "{page}");
        assert!(page.contains("href=\"/probe?target=default\""), "{page}");
        assert!(page.contains("href=\"/\" aria-current=\"page\""), "{page}");
        assert!(
            page.contains("never <span class=\"off\">no data</span>"),
            "{page}"
        );
        for r in &view.verdict.rules {
            assert!(page.contains(&format!("<td>{}</td>", r.name)), "{}", r.name);
        }
    }

    #[test]
    fn ten_thousand_collections_make_a_bounded_page_that_links_to_health_for_the_rest() {
        let view = view_of(healthy(), |s| {
            if let Ok(c) = &mut collections(s).outcome {
                c.collections = (0..10_000)
                    .map(|i| CollectionFacts {
                        db_name: "default".into(),
                        name: format!("c_{i:05}_{}", "n".repeat(200)),
                        id: Some(i),
                        load_state: if i == 9_999 {
                            LoadState::Loading
                        } else {
                            LoadState::Loaded
                        },
                        loading_progress: Some(100),
                        rows: Some(7),
                        replicas: None,
                        indexes: Vec::new(),
                        query_service_available: None,
                        error: None,
                    })
                    .collect();
            }
        });
        let page = page_of(
            &view,
            vec![TargetLine {
                name: "default",
                view: None,
            }],
        );
        let rows = page.matches("<tr><td>default</td><td>c_").count();
        assert_eq!(rows, PANEL_ROWS);
        assert!(
            page.contains("200 shown, 9800 more"),
            "bounded with a pointer to the rest"
        );
        assert!(
            page.contains("c_09999_"),
            "the collection still loading comes first"
        );
        println!("status page at 10,000 collections: {} bytes", page.len());
        assert!(page.len() < 256 * 1024, "{} bytes", page.len());
    }

    #[test]
    fn before_the_first_refresh_the_page_says_so() {
        let page = html(&Page {
            target: "default",
            view: None,
            main: true,
            targets: vec![TargetLine {
                name: "default",
                view: None,
            }],
            now: Instant::now(),
            wall: SystemTime::now(),
        });
        assert!(page.contains("no data yet"), "{page}");
    }
}
