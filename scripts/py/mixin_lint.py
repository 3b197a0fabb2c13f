#!/usr/bin/env python3
"""Lint of the monitoring mixin (mixin/), standing in for mixtool lint and jsonnet-lint, which
cannot be installed here. It lints what the mixin renders (scripts/py/mixin.py), which
`scripts/mixin.sh check` proves equal to the committed files.

    mixin_lint.py --metrics PAGE...
    mixin_lint.py --self-test       each rule of the lint fails on a broken copy of the mixin

Alerts: severity critical|warning|info; summary a sentence; description names labels;
runbook_url absolute under _config.runbookURLPattern, one per alert name, its anchor a heading
of docs/runbook.md. Rules: every selector carries _config.milvusExporterSelector and no other
job matcher (no hard-coded job name); every aggregation and join keeps the cluster label and
namespace (`by`/`on` list them, `without`/`ignoring` do not); absent() only in
MilvusExporterAbsent, which has nothing to keep. Dashboards: uids unique and the pinned ones;
editable false; variables datasource, cluster (hidden unless showMultiCluster), namespace, job,
instance; All is `.+`, never `.*`; every panel has a unit and the datasource variable; every
selector filters by the selector and every variable; every range is [$__rate_interval]. Every
metric a rule or panel reads is one of the exporter's (from real exposition pages, --metrics),
a recording rule of the mixin, or Prometheus's `up`.

Prints one line per problem and a summary; exits 1 on any problem.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import promql  # noqa: E402  (the scripts' one metric-name extractor)

RUNBOOK = ROOT / "docs" / "runbook.md"
# The uids bookmarks and links use. Changing one breaks every saved link: this pin makes that
# a decision, not an accident.
PINNED_UIDS = {"milvus-health.json": "milvus-health", "milvus-collections.json": "milvus-collections"}
SEVERITIES = {"critical", "warning", "info"}
VARIABLES = ["datasource", "cluster", "namespace", "job", "instance"]
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PROMETHEUS_OWN = {"up"}
# Families the exporter serves that the captured pages (tests/fixtures/
# exporter-metric-families.prom, from scripts/check_live_stack.sh) cannot show, with the
# reason. A gauge family with no sample is left out of the page, so these need a Milvus the
# live stack does not have. The lint fails when one of them does appear (then drop it here).
UNSEEN = {
    "milvus_component_state": "needs milvus.metrics_address (Milvus's :9091/healthz), which neither "
                              "Milvus Lite nor the fake cluster serves (src/checks/components.rs)",
    "milvus_quota_state": "only while Milvus reports a quota state (CheckHealth quota_states on 2.3, "
                          "the quota center's page from 2.4), which a healthy Milvus does not "
                          "(src/checks/milvus/mod.rs)",
    "milvus_node_missing": "only while a node an earlier system_info listed is gone, which the live "
                           "stack's fake cluster never does (src/checks/nodes/memory.rs)",
}
# An alert whose expression is one absent(): there is no series, so no label to keep.
ABSENT_ALERTS = {"MilvusExporterAbsent"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_SELECTOR = re.compile(r'([A-Za-z_:][\w:]*)?\s*\{((?:[^{}"]|"(?:[^"\\]|\\.)*")*)\}')
_MATCHER = re.compile(r'\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*")\s*,?')
_AGG = re.compile(r'\b(sum|min|max|avg|count|group|stddev|stdvar|topk|bottomk|quantile|count_values)\s*'
                  r'(?:(by|without)\s*\(([^()]*)\)\s*)?\(')
_AGG_SUFFIX = re.compile(r'\)\s*(by|without)\s*\(([^()]*)\)')
_JOIN = re.compile(r'\b(on|ignoring)\s*\(([^()]*)\)')
_RANGE = re.compile(r'\[([^\[\]]*)\]')
_RATE = re.compile(r'\b(rate|irate|increase)\s*\(')


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives headings: lower case, punctuation dropped, spaces to dashes."""
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
            for h in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", markdown, re.M)}


def exported_names(pages: list[Path]) -> set[str]:
    """Metric names an exposition page serves: every sample's name and every TYPE'd family
    (a counter family `x` serves `x_total`)."""
    names: set[str] = set()
    for page in pages:
        for line in page.read_text().splitlines():
            if line.startswith("# TYPE "):
                parts = line.split()
                if len(parts) >= 4:
                    names.add(parts[2])
                    if parts[3] == "counter" and not parts[2].endswith("_total"):
                        names.add(parts[2] + "_total")
            elif line and not line.startswith("#"):
                m = re.match(r"([A-Za-z_:][\w:]*)", line)
                if m:
                    names.add(m.group(1))
    return names


def matchers(body: str) -> list[tuple[str, str, str]]:
    out, pos = [], 0
    while pos < len(body):
        m = _MATCHER.match(body, pos)
        if not m:
            if body[pos:].strip():
                raise ValueError(f"cannot read matchers {body!r}")
            break
        out.append((m.group(1), m.group(2), json.loads(m.group(3))))
        pos = m.end()
    return out


def selectors(expr: str) -> tuple[list[tuple[str, list]], set[str]]:
    """(name, matchers) of every braced selector, and the metric names selected bare (no
    braces: no filter at all)."""
    found = [(m.group(1) or "", matchers(m.group(2))) for m in _SELECTOR.finditer(expr)]
    rest = _SELECTOR.sub(lambda m: " __SEL__ ", expr)
    bare = {n for n in promql.metric_names(rest) if n != "__SEL__"}
    return found, bare


def group_lists(expr: str) -> list[tuple[str, list[str]]]:
    """(keyword, labels) of every by/without/on/ignoring list, and ('none', []) for an
    aggregation without one."""
    e = _STRING.sub('""', expr)
    out = []
    for m in _AGG.finditer(e):
        if m.group(2):
            out.append((m.group(2), [x.strip() for x in m.group(3).split(",") if x.strip()]))
        else:
            # sum(...) by (...) puts the list after the closing parenthesis
            depth, i = 1, m.end()
            while i < len(e) and depth:
                depth += {"(": 1, ")": -1}.get(e[i], 0)
                i += 1
            s = _AGG_SUFFIX.match(e, i - 1)
            out.append((s.group(1), [x.strip() for x in s.group(2).split(",") if x.strip()]) if s else ("none", []))
    for m in _JOIN.finditer(e):
        out.append((m.group(1), [x.strip() for x in m.group(2).split(",") if x.strip()]))
    return out


def selector_matchers(cfg: dict) -> list[tuple[str, str, str]]:
    return matchers(cfg["milvusExporterSelector"])


class Lint:
    def __init__(self, out: dict, exported: set[str] | None, allow_missing: dict[str, str]):
        self.out = out
        self.cfg = out["_config"]
        self.exported = exported
        self.allow_missing = allow_missing
        self.problems: list[str] = []
        self.used_allow: set[str] = set()
        self.counts = {"alerts": 0, "records": 0, "dashboards": 0, "panels": 0, "queries": 0}

    def err(self, msg: str) -> None:
        self.problems.append(msg)

    # ------------------------------------------------------------------ shared
    def known(self) -> set[str]:
        recorded = {r["record"] for g in self.out["prometheusRules"]["groups"] for r in g["rules"]}
        return PROMETHEUS_OWN | recorded | (self.exported or set())

    def check_names(self, where: str, expr: str) -> None:
        if self.exported is None:
            return
        try:
            names = promql.metric_names(expr)
        except ValueError as e:
            self.err(f"{where}: {e}")
            return
        for n in sorted(names - self.known()):
            if n in self.allow_missing:
                self.used_allow.add(n)
                continue
            self.err(f"{where}: metric {n} is not served by the exporter (not in the --metrics pages) nor recorded by the mixin")

    def check_selectors(self, where: str, expr: str, extra: list[tuple[str, str, str]]) -> None:
        """Every selector carries the job selector (+ `extra`) and no other job matcher."""
        want = selector_matchers(self.cfg)
        try:
            found, bare = selectors(expr)
        except ValueError as e:
            self.err(f"{where}: {e}")
            return
        for n in sorted(bare):
            self.err(f"{where}: {n} is selected without any matcher (no job selector, no variables)")
        for name, ms in found:
            for w in want + extra:
                if w not in ms:
                    op = f'{w[0]}{w[1]}"{w[2]}"'
                    self.err(f"{where}: selector {name}{{...}} lacks {op}")
            for m in ms:
                if m[0] == "job" and m not in want + extra and m != ("job", "=~", "$job"):
                    self.err(f'{where}: selector {name}{{...}} hard-codes {m[0]}{m[1]}"{m[2]}"')

    # ------------------------------------------------------------------ rules
    def lint_rules(self) -> None:
        anchors = github_anchors(RUNBOOK.read_text())
        keep = [self.cfg["clusterLabel"], "namespace"]
        pattern = self.cfg["runbookURLPattern"]
        if not re.match(r"https://[^/\s]+/", pattern) or pattern.count("%s") != 1:
            self.err(f"_config.runbookURLPattern {pattern!r}: want an absolute https URL with one %s")
        runbooks: dict[str, str] = {}
        groups = self.out["prometheusRules"]["groups"] + self.out["prometheusAlerts"]["groups"]
        for g in groups:
            for r in g["rules"]:
                name = r.get("alert") or r.get("record")
                where = f"{'alert' if 'alert' in r else 'record'} {name}"
                expr = r["expr"]
                self.counts["alerts" if "alert" in r else "records"] += 1
                self.check_names(where, expr)
                self.check_selectors(where, expr, [])
                for kw, labels in group_lists(expr):
                    if kw in ("by", "on") and not set(keep) <= set(labels):
                        self.err(f"{where}: `{kw} ({', '.join(labels)})` drops {sorted(set(keep) - set(labels))}")
                    if kw in ("without", "ignoring") and set(keep) & set(labels):
                        self.err(f"{where}: `{kw} ({', '.join(labels)})` drops {sorted(set(keep) & set(labels))}")
                    if kw == "none":
                        self.err(f"{where}: an aggregation without `by` drops every label, namespace and cluster included")
                if "absent(" in _STRING.sub('""', expr) and name not in ABSENT_ALERTS:
                    self.err(f"{where}: absent() drops every label; only {sorted(ABSENT_ALERTS)} may use it")
                for m in _RANGE.finditer(expr):
                    if "$" in m.group(1):
                        self.err(f"{where}: range [{m.group(1)}] is a Grafana variable, not a Prometheus duration")
                if "alert" not in r:
                    if not re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", name):
                        self.err(f"{where}: record name is not level:metric:operations")
                    continue
                labels = r.get("labels", {})
                ann = r.get("annotations", {})
                if labels.get("severity") not in SEVERITIES:
                    self.err(f"{where}: severity {labels.get('severity')!r} is not one of {sorted(SEVERITIES)}")
                summary = ann.get("summary", "")
                if not re.match(r"^[A-Z]", summary) or not summary.rstrip().endswith("."):
                    self.err(f"{where}: summary {summary!r} is not a sentence (capital first, full stop last)")
                desc = ann.get("description", "")
                if ("{{ $labels." not in desc and name not in ABSENT_ALERTS) or not desc.rstrip().endswith("."):
                    self.err(f"{where}: description must name the alert's labels ({{{{ $labels.x }}}}) and end with a full stop")
                url = ann.get("runbook_url", "")
                anchor = name.lower()
                if url != pattern % anchor:
                    self.err(f"{where}: runbook_url {url!r}, want {pattern % anchor!r}")
                if anchor not in anchors:
                    self.err(f"{where}: docs/runbook.md has no heading with anchor #{anchor}")
                if runbooks.setdefault(name, url) != url:
                    self.err(f"{where}: two runbook_urls for one alert name")
                if "for" not in r and "offset" not in expr:
                    self.err(f"{where}: no `for`: one bad sample pages someone")

    # ------------------------------------------------------------------ dashboards
    def lint_dashboards(self) -> None:
        cfg = self.cfg
        cl = cfg["clusterLabel"]
        var_matchers = [(cl, "=", "$cluster"), ("namespace", "=~", "$namespace"),
                        ("job", "=~", "$job"), ("instance", "=~", "$instance")]
        uids: dict[str, str] = {}
        dashboards = self.out["grafanaDashboards"]
        if set(dashboards) != set(PINNED_UIDS):
            self.err(f"dashboards {sorted(dashboards)} != pinned {sorted(PINNED_UIDS)} (a new dashboard needs a pinned uid here)")
        for file, d in sorted(dashboards.items()):
            self.counts["dashboards"] += 1
            uid = d.get("uid")
            if uid in uids.values():
                self.err(f"{file}: uid {uid!r} is also {[f for f, u in uids.items() if u == uid]}'s")
            uids[file] = uid
            if PINNED_UIDS.get(file) != uid or cfg["grafanaDashboardIDs"].get(file) != uid:
                self.err(f"{file}: uid {uid!r} is not the pinned {PINNED_UIDS.get(file)!r} / _config {cfg['grafanaDashboardIDs'].get(file)!r}")
            if d.get("editable") is not False:
                self.err(f"{file}: editable is {d.get('editable')!r}, want false (provisioned from the mixin)")
            tv = d.get("templating", {}).get("list", [])
            names = [v.get("name") for v in tv]
            if names[:len(VARIABLES)] != VARIABLES:
                self.err(f"{file}: variables {names}, want {VARIABLES} first")
            for v in tv:
                vw = f"{file} variable {v.get('name')}"
                if v.get("allValue") == ".*" or (v.get("includeAll") and v.get("allValue") != ".+"):
                    self.err(f"{vw}: All is {v.get('allValue')!r}, want '.+'")
                if v.get("type") == "query":
                    if v.get("datasource") != DATASOURCE:
                        self.err(f"{vw}: datasource {v.get('datasource')!r}")
                    q = v.get("query", {})
                    q = q.get("query") if isinstance(q, dict) else q
                    m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", q or "")
                    if not m:
                        self.err(f"{vw}: query {q!r} is not label_values(SELECTOR, LABEL)")
                    else:
                        self.check_selectors(vw, m.group(1), [])
                        self.check_names(vw, m.group(1))
                if v.get("name") == "cluster":
                    want = 0 if cfg["showMultiCluster"] else 2
                    if v.get("hide") != want:
                        self.err(f"{vw}: hide {v.get('hide')!r}, want {want} (showMultiCluster {cfg['showMultiCluster']})")
            panels = []
            for p in d.get("panels", []):
                panels.append(p)
                panels.extend(p.get("panels", []))
            for p in panels:
                pw = f"{file} panel {p.get('id')} {p.get('title')!r}"
                if p.get("datasource") != DATASOURCE:
                    self.err(f"{pw}: datasource {p.get('datasource')!r}, want the datasource variable")
                if p.get("type") == "row":
                    continue
                self.counts["panels"] += 1
                if not p.get("fieldConfig", {}).get("defaults", {}).get("unit"):
                    self.err(f"{pw}: no unit (fieldConfig.defaults.unit)")
                if not p.get("targets"):
                    self.err(f"{pw}: no targets")
                for t in p.get("targets", []):
                    self.counts["queries"] += 1
                    tw = f"{pw} {t.get('refId')}"
                    expr = t.get("expr", "")
                    if t.get("datasource", DATASOURCE) != DATASOURCE:
                        self.err(f"{tw}: target datasource {t.get('datasource')!r}")
                    self.check_names(tw, expr)
                    self.check_selectors(tw, expr, var_matchers)
                    for m in _RANGE.finditer(expr):
                        if m.group(1) != "$__rate_interval":
                            self.err(f"{tw}: range [{m.group(1)}], want [$__rate_interval]")
                    for m in _RATE.finditer(expr):
                        if "[$__rate_interval]" not in expr[m.end():]:
                            self.err(f"{tw}: {m.group(1)}() without [$__rate_interval]")

    def run(self) -> int:
        self.lint_rules()
        self.lint_dashboards()
        for n in sorted(set(self.allow_missing) - self.used_allow):
            if self.exported is not None and n in self.exported:
                self.err(f"{n} is listed as unseen but the --metrics pages serve it (remove it from UNSEEN)")
            else:
                self.err(f"unseen family {n}: no rule or panel reads it (remove it from UNSEEN)")
        for p in self.problems:
            print(p)
        c = self.counts
        for n in sorted(self.used_allow):
            print(f"note: {n} is read but not in the --metrics pages: {self.allow_missing[n]}")
        print(f"mixin lint: {c['alerts']} alerts, {c['records']} recording rules, {c['dashboards']} dashboards "
              f"({c['panels']} panels, {c['queries']} queries): {len(self.problems)} problems")
        return 1 if self.problems else 0


def render() -> dict:
    import mixin  # scripts/py/mixin.py: the one place that evaluates the mixin

    return mixin.evaluate()


# ---------------------------------------------------------------------------- self-test
def self_test() -> int:
    """Each lint rule must fire on a copy of the mixin broken in exactly that way."""
    good = render()
    exported = {"milvus_up", "milvus_readiness"}  # unused by the cases below (names unchecked)

    def alert(o, name):
        return next(r for g in o["prometheusAlerts"]["groups"] for r in g["rules"] if r.get("alert") == name)

    def record(o, i=0):
        return o["prometheusRules"]["groups"][0]["rules"][i]

    def health(o):
        return o["grafanaDashboards"]["milvus-health.json"]

    def panel(o, i=0):
        return health(o)["panels"][i]

    def ranged(o):
        """The first panel of the health dashboard whose first query has a range."""
        return next(p for p in health(o)["panels"]
                    if "$__rate_interval" in (p.get("targets") or [{}])[0].get("expr", ""))

    def var(o, name):
        return next(v for v in health(o)["templating"]["list"] if v["name"] == name)

    sel = good["_config"]["milvusExporterSelector"]
    cases = [
        ("severity", lambda o: alert(o, "MilvusDown")["labels"].update(severity="page"), "is not one of"),
        ("summary", lambda o: alert(o, "MilvusDown")["annotations"].update(summary="milvus down"), "not a sentence"),
        ("description", lambda o: alert(o, "MilvusDown")["annotations"].update(description="Down."), "must name the alert's labels"),
        ("relative runbook", lambda o: alert(o, "MilvusDown")["annotations"].update(runbook_url="docs/runbook.md#milvusdown"), "runbook_url"),
        ("runbook anchor", lambda o: alert(o, "MilvusDown").update(alert="MilvusGone"), "no heading with anchor #milvusgone"),
        ("hard-coded job", lambda o: alert(o, "MilvusDown").update(expr='milvus_up{job="milvus_exporter"} == 0'), "lacks"),
        ("extra job", lambda o: alert(o, "MilvusDown").update(expr='milvus_up{%s, job="x"} == 0' % sel), 'hard-codes job="x"'),
        ("bare selector", lambda o: alert(o, "MilvusDown").update(expr="milvus_up == 0"), "without any matcher"),
        ("by drops namespace", lambda o: record(o).update(expr=record(o)["expr"].replace("namespace, ", "")), "drops ['namespace']"),
        ("on drops cluster", lambda o: alert(o, "MilvusUnhealthy").update(expr=alert(o, "MilvusUnhealthy")["expr"].replace("on (cluster, ", "on (")), "drops ['cluster']"),
        ("without drops namespace", lambda o: record(o).update(expr='sum without (namespace) (milvus_up{%s})' % sel), "`without (namespace)`"),
        ("aggregation without by", lambda o: record(o).update(expr='sum(milvus_up{%s})' % sel), "without `by`"),
        ("suffix by", lambda o: record(o).update(expr='sum(milvus_up{%s}) by (job, instance)' % sel), "drops"),
        ("absent elsewhere", lambda o: alert(o, "MilvusDown").update(expr='absent(milvus_up{%s})' % sel), "absent() drops"),
        ("unknown metric", lambda o: alert(o, "MilvusDown").update(expr='milvus_upp{%s} == 0' % sel), "milvus_upp is not served"),
        ("uid", lambda o: health(o).update(uid="abc"), "not the pinned"),
        ("duplicate uid", lambda o: health(o).update(uid="milvus-collections"), "is also"),
        ("editable", lambda o: health(o).update(editable=True), "editable"),
        ("missing variable", lambda o: health(o)["templating"].update(list=[v for v in health(o)["templating"]["list"] if v["name"] != "namespace"]), "want ['datasource'"),
        ("All .*", lambda o: var(o, "job").update(allValue=".*"), "want '.+'"),
        ("cluster shown", lambda o: var(o, "cluster").update(hide=0), "hide 0, want 2"),
        ("unit", lambda o: panel(o)["fieldConfig"]["defaults"].pop("unit"), "no unit"),
        ("panel datasource", lambda o: panel(o).update(datasource={"type": "prometheus", "uid": "prometheus"}), "want the datasource variable"),
        ("unfiltered panel", lambda o: panel(o)["targets"][0].update(expr=panel(o)["targets"][0]["expr"].replace(', namespace=~"$namespace"', "")), 'lacks namespace=~"$namespace"'),
        ("fixed range", lambda o: ranged(o)["targets"][0].update(expr=ranged(o)["targets"][0]["expr"].replace("$__rate_interval", "5m")), "want [$__rate_interval]"),
    ]
    failed = 0
    # the unbroken mixin passes (names unchecked: no pages in the self-test)
    clean = Lint(copy.deepcopy(good), None, {})
    if clean.run_quiet():
        print(f"FAIL the unbroken mixin has problems: {clean.problems}")
        failed += 1
    for name, breaker, want in cases:
        o = copy.deepcopy(good)
        breaker(o)
        lint = Lint(o, exported | {"up"} if name == "unknown metric" else None, {})
        if name == "unknown metric":
            lint.exported = Lint(good, None, {}).known() | {"milvus_up"}
        lint.run_quiet()
        if not any(want in p for p in lint.problems):
            failed += 1
            print(f"FAIL {name}: no problem containing {want!r}; got {lint.problems[:3]}")
    print(f"{len(cases) + 1 - failed} of {len(cases) + 1} lint self-test cases behave")
    return 1 if failed else 0


def _run_quiet(self) -> int:
    self.lint_rules()
    self.lint_dashboards()
    return len(self.problems)


Lint.run_quiet = _run_quiet


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--metrics", nargs="+", type=Path, help="exposition pages of the exporter")
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    if a.self_test:
        return self_test()
    if not a.metrics:
        ap.error("--metrics PAGE... is required (the exporter's real /metrics and /probe pages)")
    return Lint(render(), exported_names(a.metrics), UNSEEN).run()


if __name__ == "__main__":
    sys.exit(main())
