#!/usr/bin/env python3
"""The python checks of scripts/check_stack.sh, one subcommand each (run from the repo root
with the venv's python: it needs PyYAML; `dockerfile` also BuildKit's parser, the `dockerfile`
package). Each prints what it found and exits 0 when the check passes, 1 when it fails.

    stack_checks.py rule-conventions | dashboards | dashboard-rules OUT
    stack_checks.py compose-mounts RENDERED | dockerfile | grafana-provisioning
    stack_checks.py am-inhibition PORT
(deploy/kubernetes and the Helm chart: scripts/py/k8s_checks.py, run by scripts/check_k8s.sh)
"""
import json, os, re, sys
import yaml

from promql import metric_names

from mixin_lint import UNSEEN, exported_names

# The names a rule or panel may read: the exporter's families as its real pages show them
# (captured by scripts/check_live_stack.sh), the few it serves that no capture can show
# (mixin_lint.UNSEEN, each with its reason), and Prometheus's own `up`.
FAMILIES = "tests/fixtures/exporter-metric-families.prom"
ALLOWED = {"up"} | exported_names([__import__("pathlib").Path(FAMILIES)]) | set(UNSEEN)
RULES = "prometheus/rules/milvus-alerts.yml"  # generated from mixin/ (scripts/mixin.sh)
# Every promtool test file; an alert's cases may sit in any of them.
TESTS = "prometheus/tests/*.test.yml"
DASHBOARDS = {"grafana/dashboards/milvus-health.json": "milvus-health",
              "grafana/dashboards/milvus-collections.json": "milvus-collections"}


def load_rules():
    with open(RULES) as f:
        return yaml.safe_load(f)


def recorded_names():
    return {r["record"] for g in load_rules()["groups"] for r in g["rules"] if "record" in r}


def grafana_to_promql(expr):
    e = re.sub(r'\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}', '5m', expr)
    e = re.sub(r'\$\{\w+(:\w+)?\}|\$\w+', '.*', e)
    return e


def panels_of(d):
    for p in d.get("panels", []):
        yield p
        yield from p.get("panels", [])


def dashboard_exprs(d):
    """(where, promql) for every panel target and every query variable of a dashboard."""
    for p in panels_of(d):
        for t in p.get("targets", []):
            if t.get("expr"):
                yield f'panel {p.get("id")} "{p.get("title")}" {t.get("refId")}', t["expr"]
    for v in d.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.fullmatch(r'\s*label_values\((.*),\s*(\w+)\s*\)\s*', q or "")
        if not m:
            raise ValueError(f'variable {v["name"]}: expected label_values(SELECTOR, LABEL), got {q!r}')
        yield f'variable {v["name"]}', m.group(1)


def cmd_dashboards():
    allowed = ALLOWED | recorded_names()
    errors = []
    for path, uid in DASHBOARDS.items():
        with open(path) as f:
            d = json.load(f)
        err = lambda msg: errors.append(f"{path}: {msg}")
        if d.get("uid") != uid:
            err(f"uid is {d.get('uid')!r}, want {uid!r}")
        if not 36 <= int(d.get("schemaVersion", 0)) <= 41:
            err(f"schemaVersion {d.get('schemaVersion')} not in 36..41")
        variables = {v["name"]: v for v in d.get("templating", {}).get("list", [])}
        ds = variables.get("datasource")
        if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
            err("needs a template variable `datasource` of type datasource, query prometheus")
        for name in ("job", "instance"):
            v = variables.get(name)
            if not v or v.get("type") != "query":
                err(f"needs a query template variable `{name}`")
        for v in variables.values():
            if v.get("type") == "query" and v.get("datasource") != {"type": "prometheus", "uid": "${datasource}"}:
                err(f'variable {v["name"]}: datasource must be ${{datasource}}')
        ids = [p.get("id") for p in panels_of(d)]
        dup = sorted({i for i in ids if ids.count(i) > 1}, key=str)
        if dup or None in ids:
            err(f"panel ids not unique / missing: {dup or 'missing id'}")
        for p in panels_of(d):
            where = f'panel {p.get("id")} "{p.get("title")}"'
            if p.get("type") == "row":
                # A row only groups the panels below it: no queries; an expanded row (collapsed
                # false) keeps its panels at the top level, a collapsed one in its `panels`.
                if p.get("targets"):
                    err(f"{where}: a row has no targets")
                if not p.get("title"):
                    err(f"{where}: a row needs a title")
                if not p.get("collapsed") and p.get("panels"):
                    err(f"{where}: an expanded row keeps its panels at the top level, not in `panels`")
                continue
            if p.get("type") not in ("timeseries", "stat", "table", "state-timeline"):
                err(f"{where}: type {p.get('type')!r} (want timeseries, stat, table, state-timeline, or row)")
            if p.get("datasource") != {"type": "prometheus", "uid": "${datasource}"}:
                err(f"{where}: datasource {p.get('datasource')!r} is not ${{datasource}}")
            if not p.get("targets"):
                err(f"{where}: no targets")
            for t in p.get("targets", []):
                if t.get("datasource") not in (None, {"type": "prometheus", "uid": "${datasource}"}):
                    err(f"{where} {t.get('refId')}: target datasource is not ${{datasource}}")
                expr = t.get("expr", "")
                if 'job=~"$job"' not in expr or 'instance=~"$instance"' not in expr:
                    err(f"{where} {t.get('refId')}: expression does not filter by $job and $instance: {expr}")
        for where, expr in dashboard_exprs(d):
            try:
                unknown = metric_names(expr) - allowed
            except ValueError as e:
                err(f"{where}: {e}")
                continue
            if unknown:
                err(f"{where}: unknown metric name(s) {sorted(unknown)} in {expr}")
    if errors:
        print("\n".join(errors))
        return 1
    return 0


def cmd_dashboard_rules(out):
    """Writes every dashboard expression as a recording rule, for `promtool check rules`."""
    rules = []
    for path in DASHBOARDS:
        with open(path) as f:
            d = json.load(f)
        for i, (where, expr) in enumerate(dashboard_exprs(d)):
            rules.append({"record": f"dashboard:expr_{len(rules)}", "expr": grafana_to_promql(expr),
                          "labels": {"source": f"{os.path.basename(path)} {where}"[:200]}})
    with open(out, "w") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard-expressions", "rules": rules}]}, f, sort_keys=False)
    print(f"{len(rules)} expressions")
    return 0


def cmd_rule_conventions():
    with open("docs/runbook.md") as f:
        runbook = f.read()
    anchors = {re.sub(r'[^a-z0-9 _-]', '', h.strip().lower()).replace(" ", "-")
               for h in re.findall(r'^#{1,6}\s+(.+)$', runbook, re.M)}
    import glob
    fired, quiet = set(), set()
    for path in sorted(glob.glob(TESTS)):
        with open(path) as f:
            tests = yaml.safe_load(f)
        for t in tests["tests"]:
            for a in t.get("alert_rule_test", []):
                (fired if a.get("exp_alerts") else quiet).add(a["alertname"])
    errors = []
    names = set()
    allowed = ALLOWED | recorded_names()
    for g in load_rules()["groups"]:
        for r in g["rules"]:
            unknown = metric_names(r["expr"]) - allowed
            if unknown:
                errors.append(f'{r.get("alert") or r.get("record")}: unknown metric name(s) {sorted(unknown)}')
            if "alert" not in r:
                continue
            n = r["alert"]
            names.add(n)
            # severity, summary, description and runbook_url in detail: scripts/py/mixin_lint.py
            sev = r.get("labels", {}).get("severity")
            if sev not in ("critical", "warning", "info"):
                errors.append(f"{n}: labels.severity {sev!r} is not critical/warning/info")
            ann = r.get("annotations", {})
            for k in ("summary", "description", "runbook_url"):
                if not ann.get(k):
                    errors.append(f"{n}: annotation {k} missing")
            url = ann.get("runbook_url", "")
            if not (url.startswith("https://") and url.endswith(f"/docs/runbook.md#{n.lower()}")):
                errors.append(f"{n}: runbook_url {url!r} is not an absolute link to docs/runbook.md#{n.lower()}")
            if n.lower() not in anchors:
                errors.append(f"{n}: docs/runbook.md has no section with anchor #{n.lower()}")
    for n in sorted(names):
        if n not in fired:
            errors.append(f"{n}: no test case in {TESTS} where it fires")
        if n not in quiet:
            errors.append(f"{n}: no test case in {TESTS} where it must not fire")
    required = {"MilvusDown", "MilvusNotReady", "MilvusUnhealthy", "MilvusCollectionNotLoaded",
                "MilvusCollectionLoadingStuck", "MilvusHostMemoryHigh", "MilvusHostDiskHigh",
                "MilvusExporterCheckFailing", "MilvusExporterDown", "MilvusExporterAbsent", "MilvusExporterCacheStale",
                "MilvusProbeFailing", "MilvusProbeSlow", "MilvusDependencyDown", "MilvusComponentUnhealthy",
                "MilvusNodeError", "MilvusNodeMemoryHigh", "MilvusIndexBuildFailed", "MilvusIndexPendingHigh",
                "MilvusCollectionsSkipped", "MilvusRagProbeFailing", "MilvusRagProbeSlow",
                "MilvusReadinessFlapping", "MilvusExporterProbeTargetsFull"}
    for n in sorted(required - names):
        errors.append(f"required alert {n} is missing")
    print("\n".join(errors) or f"{len(names)} alerts follow the conventions")
    return 1 if errors else 0


def cmd_compose_mounts(rendered):
    with open(rendered) as f:
        c = yaml.safe_load(f)
    errors = []
    for name, svc in c["services"].items():
        for v in svc.get("volumes", []):
            src = v.get("source") if isinstance(v, dict) else v.split(":")[0]
            typ = v.get("type") if isinstance(v, dict) else ("bind" if src.startswith(("/", ".")) else "volume")
            if typ == "bind" and not os.path.exists(src):
                errors.append(f"{name}: bind mount source {src} does not exist")
        for p in svc.get("ports", []):
            ip = p.get("host_ip") if isinstance(p, dict) else str(p).split(":")[0]
            if ip != "127.0.0.1":
                errors.append(f"{name}: port {p} is not bound to 127.0.0.1")
        for dep, cond in (svc.get("depends_on") or {}).items():
            if isinstance(cond, dict) and cond.get("condition") == "service_healthy" and "healthcheck" not in c["services"][dep]:
                errors.append(f"{name} waits for {dep} to be healthy but {dep} has no healthcheck")
    hc = c["services"].get("exporter", {}).get("healthcheck", {}).get("test")
    if hc != ["CMD", "/usr/local/bin/milvus_exporter", "probe", "http://127.0.0.1:9727/readyz"]:
        errors.append(f"exporter healthcheck is {hc}")
    print("\n".join(errors) or "bind mounts exist, ports on loopback, healthy-deps have healthchecks")
    return 1 if errors else 0



def cmd_am_inhibition(port):
    """Alerts posted to a live Alertmanager (already ready on 127.0.0.1:PORT) end up active
    or suppressed as alertmanager/alertmanager.yml's inhibition rules say."""
    import time, urllib.request
    base = f"http://127.0.0.1:{port}"
    # (labels, expected state)
    cases = [
        ({"alertname": "MilvusDown", "severity": "critical", "instance": "a"}, "active"),
        ({"alertname": "MilvusNotReady", "severity": "critical", "instance": "a"}, "suppressed"),
        ({"alertname": "MilvusUnhealthy", "severity": "critical", "instance": "a"}, "suppressed"),
        ({"alertname": "MilvusCollectionNotLoaded", "severity": "warning", "instance": "a", "check": "collections"}, "suppressed"),
        ({"alertname": "MilvusCollectionLoadingStuck", "severity": "warning", "instance": "a", "db_name": "default", "collection_name": "c"}, "suppressed"),
        ({"alertname": "MilvusNotReady", "severity": "critical", "instance": "b"}, "active"),
        ({"alertname": "MilvusExporterCacheStale", "severity": "warning", "instance": "a"}, "active"),
        ({"alertname": "MilvusHostMemoryHigh", "severity": "critical", "instance": "a"}, "active"),
        ({"alertname": "MilvusHostMemoryHigh", "severity": "warning", "instance": "a"}, "suppressed"),
        ({"alertname": "MilvusHostMemoryHigh", "severity": "warning", "instance": "b"}, "active"),
        ({"alertname": "MilvusHostDiskHigh", "severity": "critical", "instance": "a", "path": "/"}, "active"),
        ({"alertname": "MilvusHostDiskHigh", "severity": "warning", "instance": "a", "path": "/"}, "suppressed"),
        ({"alertname": "MilvusHostDiskHigh", "severity": "warning", "instance": "a", "path": "/data"}, "active"),
        # read probes: MilvusDown hides them on its instance; a failing probe hides its own slowness
        ({"alertname": "MilvusProbeFailing", "severity": "critical", "instance": "a", "db_name": "default", "collection_name": "docs", "kind": "search"}, "suppressed"),
        ({"alertname": "MilvusProbeSlow", "severity": "warning", "instance": "a", "db_name": "default", "collection_name": "faq", "kind": "search"}, "suppressed"),
        ({"alertname": "MilvusProbeFailing", "severity": "critical", "instance": "b", "db_name": "default", "collection_name": "docs", "kind": "search"}, "active"),
        ({"alertname": "MilvusProbeSlow", "severity": "warning", "instance": "b", "db_name": "default", "collection_name": "docs", "kind": "search"}, "suppressed"),
        ({"alertname": "MilvusProbeSlow", "severity": "warning", "instance": "b", "db_name": "default", "collection_name": "docs", "kind": "query"}, "active"),
        # RAG probes: MilvusDown hides them on its instance; a failing probe hides its own slowness
        ({"alertname": "MilvusRagProbeFailing", "severity": "critical", "instance": "a", "probe": "kb"}, "suppressed"),
        ({"alertname": "MilvusRagProbeFailing", "severity": "critical", "instance": "b", "probe": "kb"}, "active"),
        ({"alertname": "MilvusRagProbeSlow", "severity": "warning", "instance": "b", "probe": "kb", "stage": "total"}, "suppressed"),
        ({"alertname": "MilvusRagProbeSlow", "severity": "warning", "instance": "b", "probe": "faq", "stage": "total"}, "active"),
        # node memory: the critical level hides the warning of the same node only
        ({"alertname": "MilvusNodeMemoryHigh", "severity": "critical", "instance": "b", "role": "querynode", "node_id": "5"}, "active"),
        ({"alertname": "MilvusNodeMemoryHigh", "severity": "warning", "instance": "b", "role": "querynode", "node_id": "5"}, "suppressed"),
        ({"alertname": "MilvusNodeMemoryHigh", "severity": "warning", "instance": "b", "role": "querynode", "node_id": "6"}, "active"),
        # not consequences of MilvusDown: they say why
        ({"alertname": "MilvusNodeError", "severity": "critical", "instance": "a", "role": "querynode", "node_id": "5"}, "active"),
        ({"alertname": "MilvusDependencyDown", "severity": "warning", "instance": "a", "dependency": "embeddings"}, "active"),
        ({"alertname": "MilvusComponentUnhealthy", "severity": "critical", "instance": "a", "role": "querynode", "node_id": "5", "state": "Abnormal"}, "active"),
        # the same instance (a pod IP:port) in two namespaces, and in two clusters: MilvusDown of
        # one hides only its own consequences
        ({"alertname": "MilvusDown", "severity": "critical", "cluster": "eu", "namespace": "x", "job": "milvus-exporter", "instance": "10.0.0.7:9727"}, "active"),
        ({"alertname": "MilvusNotReady", "severity": "critical", "cluster": "eu", "namespace": "x", "job": "milvus-exporter", "instance": "10.0.0.7:9727"}, "suppressed"),
        ({"alertname": "MilvusNotReady", "severity": "critical", "cluster": "eu", "namespace": "y", "job": "milvus-exporter", "instance": "10.0.0.7:9727"}, "active"),
        ({"alertname": "MilvusNotReady", "severity": "critical", "cluster": "us", "namespace": "x", "job": "milvus-exporter", "instance": "10.0.0.7:9727"}, "active"),
        ({"alertname": "MilvusHostDiskHigh", "severity": "critical", "cluster": "eu", "namespace": "x", "job": "milvus-exporter", "instance": "10.0.0.7:9727", "path": "/"}, "active"),
        ({"alertname": "MilvusHostDiskHigh", "severity": "warning", "cluster": "eu", "namespace": "x", "job": "milvus-exporter", "instance": "10.0.0.7:9727", "path": "/"}, "suppressed"),
        ({"alertname": "MilvusHostDiskHigh", "severity": "warning", "cluster": "eu", "namespace": "y", "job": "milvus-exporter", "instance": "10.0.0.7:9727", "path": "/"}, "active"),
    ]
    req = urllib.request.Request(base + "/api/v2/alerts", method="POST", headers={"Content-Type": "application/json"},
                                 data=json.dumps([{"labels": l} for l, _ in cases]).encode())
    urllib.request.urlopen(req, timeout=5)
    key = lambda l: tuple(sorted(l.items()))
    want = {key(l): s for l, s in cases}
    for _ in range(50):
        got = {key(a["labels"]): a["status"]["state"] for a in json.load(urllib.request.urlopen(base + "/api/v2/alerts", timeout=5))}
        if got == want:
            print(f"{len(cases)} alerts: inhibition as expected")
            return 0
        time.sleep(0.2)
    for k, s in want.items():
        if got.get(k) != s:
            print(f"{dict(k)}: state {got.get(k)}, want {s}")
    return 1


def cmd_dockerfile():
    import dockerfile  # BuildKit's Dockerfile parser
    cmds = dockerfile.parse_file("Dockerfile")
    stages = [c for c in cmds if c.cmd == "FROM"]
    final = cmds[cmds.index(stages[-1]):]
    errors = []
    if len(stages) < 2 or stages[0].value[0] != "rust:1-bookworm":
        errors.append("want a multi-stage build starting FROM rust:1-bookworm")
    if not any(c.cmd == "RUN" and "cargo build --release --locked" in c.value[0] for c in cmds):
        errors.append("no RUN cargo build --release --locked")
    if stages[-1].value[0] not in ("gcr.io/distroless/cc-debian12:nonroot", "debian:bookworm-slim"):
        errors.append(f"runtime image {stages[-1].value[0]}")
    user = [c.value[0] for c in final if c.cmd == "USER"]
    if not user or user[-1].split(":")[0] in ("root", "0"):
        errors.append(f"runtime stage must set a non-root USER, has {user}")
    if not any(c.cmd == "COPY" and c.value[-1] == "/usr/local/bin/milvus_exporter" for c in final):
        errors.append("binary not copied to /usr/local/bin/milvus_exporter")
    if ("9727",) not in [c.value for c in final if c.cmd == "EXPOSE"]:
        errors.append("EXPOSE 9727 missing")
    hc = [c.value for c in final if c.cmd == "HEALTHCHECK"]
    if hc != [("CMD", "/usr/local/bin/milvus_exporter", "probe", "http://127.0.0.1:9727/healthz")]:
        errors.append(f"HEALTHCHECK is {hc}")
    ep = [c.value for c in final if c.cmd == "ENTRYPOINT"]
    if ep != [("/usr/local/bin/milvus_exporter",)] or not any(c.cmd == "ENTRYPOINT" and c.json for c in final):
        errors.append(f"ENTRYPOINT is {ep} (want exec form of the binary)")
    ignored = open(".dockerignore").read().split()
    for d in ("target/", ".venv/", ".run/"):
        if d not in ignored:
            errors.append(f".dockerignore lacks {d}")
    print("\n".join(errors) or f"{len(stages)} stages, runtime {stages[-1].value[0]}, user {user[-1]}")
    return 1 if errors else 0


def cmd_grafana_provisioning():
    ds = yaml.safe_load(open("grafana/provisioning/datasources/prometheus.yml"))
    assert ds["apiVersion"] == 1 and any(d["type"] == "prometheus" for d in ds["datasources"]), "no prometheus datasource"
    dp = yaml.safe_load(open("grafana/provisioning/dashboards/milvus.yml"))
    paths = [p["options"]["path"] for p in dp["providers"] if p.get("type") == "file"]
    assert paths == ["/var/lib/grafana/dashboards"], f"file provider paths {paths}"
    vols = yaml.safe_load(open("docker-compose.yml"))["services"]["grafana"]["volumes"]
    assert any(v.split(":")[:2] == ["./grafana/dashboards", "/var/lib/grafana/dashboards"] for v in vols), "compose does not mount grafana/dashboards"
    print("datasource and dashboard provider ok")
    return 0


if __name__ == "__main__":
    sys.exit(globals()["cmd_" + sys.argv[1].replace("-", "_")](*sys.argv[2:]))
