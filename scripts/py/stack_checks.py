#!/usr/bin/env python3
"""The python checks of scripts/check_stack.sh, one subcommand each (run from the repo root
with the venv's python: it needs PyYAML; `dockerfile` also BuildKit's parser, the `dockerfile`
package). Each prints what it found and exits 0 when the check passes, 1 when it fails.

    stack_checks.py rule-conventions | dashboards | dashboard-rules OUT | k8s-core OUT
    stack_checks.py kustomization | prometheusrule OUT | same-groups FILE | servicemonitor
    stack_checks.py exporter-config | compose-mounts RENDERED | dockerfile | grafana-provisioning
    stack_checks.py am-inhibition PORT
"""
import difflib, glob, json, os, re, sys, tomllib
import yaml

from promql import metric_names

ALLOWED = {
    "up",
    "milvus_up", "milvus_healthy", "milvus_readiness", "milvus_readiness_check",
    "milvus_server_info", "milvus_quota_state", "milvus_collections",
    "milvus_collection_loaded", "milvus_collection_loading_progress_percent",
    "milvus_collection_rows", "milvus_host_memory_percent", "milvus_host_memory_available_bytes",
    "milvus_host_cpu_percent", "milvus_host_disk_percent", "milvus_host_disk_free_bytes",
    "milvus_exporter_check_success", "milvus_exporter_check_duration_seconds",
    "milvus_exporter_check_errors_total", "milvus_exporter_refreshes_total",
    "milvus_exporter_cache_age_seconds", "milvus_exporter_build_info",
    "milvus_probe_success", "milvus_probe_duration_seconds",
    "milvus_dependency_up", "milvus_dependency_duration_seconds", "milvus_component_state",
    # per-node facts from GetMetrics(system_info), index progress, binlog size and the
    # cardinality controls
    "milvus_node_has_error", "milvus_node_memory_bytes", "milvus_node_memory_used_bytes",
    "milvus_node_cpu_usage_percent", "milvus_node_disk_bytes", "milvus_node_disk_used_bytes",
    "milvus_node_info", "milvus_collection_binlog_bytes", "milvus_collection_indexed_rows",
    "milvus_collection_index_pending_rows", "milvus_collection_index_state",
    "milvus_exporter_collections_skipped", "milvus_exporter_inventory_age_seconds",
    # RAG probes
    "milvus_rag_probe_success", "milvus_rag_probe_duration_seconds", "milvus_rag_embedding_dimensions",
}
RULES = "prometheus/rules/milvus-alerts.yml"
TESTS = "prometheus/tests/milvus-alerts.test.yml"
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
            if p.get("type") not in ("timeseries", "stat", "table"):
                err(f"{where}: type {p.get('type')!r} (want timeseries, stat, table, or row)")
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
    with open(TESTS) as f:
        tests = yaml.safe_load(f)
    fired, quiet = set(), set()
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
            sev = r.get("labels", {}).get("severity")
            if sev not in ("critical", "warning"):
                errors.append(f"{n}: labels.severity {sev!r} is not critical/warning")
            ann = r.get("annotations", {})
            for k in ("summary", "description", "runbook_url"):
                if not ann.get(k):
                    errors.append(f"{n}: annotation {k} missing")
            want = f"docs/runbook.md#{n.lower()}"
            if ann.get("runbook_url") != want:
                errors.append(f"{n}: runbook_url {ann.get('runbook_url')!r}, want {want!r}")
            if n.lower() not in anchors:
                errors.append(f"{n}: docs/runbook.md has no section with anchor #{n.lower()}")
    for n in sorted(names):
        if n not in fired:
            errors.append(f"{n}: no test case in {TESTS} where it fires")
        if n not in quiet:
            errors.append(f"{n}: no test case in {TESTS} where it must not fire")
    required = {"MilvusDown", "MilvusNotReady", "MilvusUnhealthy", "MilvusCollectionNotLoaded",
                "MilvusCollectionLoadingStuck", "MilvusHostMemoryHigh", "MilvusHostDiskHigh",
                "MilvusExporterCheckFailing", "MilvusExporterAbsent", "MilvusExporterCacheStale",
                "MilvusProbeFailing", "MilvusProbeSlow", "MilvusDependencyDown", "MilvusComponentUnhealthy",
                "MilvusNodeError", "MilvusNodeMemoryHigh", "MilvusIndexBuildFailed", "MilvusIndexPendingHigh",
                "MilvusCollectionsSkipped", "MilvusRagProbeFailing", "MilvusRagProbeSlow"}
    for n in sorted(required - names):
        errors.append(f"required alert {n} is missing")
    print("\n".join(errors) or f"{len(names)} alerts follow the conventions")
    return 1 if errors else 0


def k8s_docs():
    docs = []
    for path in sorted(glob.glob("deploy/kubernetes/*.yaml")):
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc:
                    docs.append((path, doc))
    return docs


CRD_KINDS = {"ServiceMonitor", "PrometheusRule", "Kustomization"}


def cmd_k8s_core(out):
    core = [doc for _, doc in k8s_docs() if doc.get("kind") not in CRD_KINDS]
    kinds = sorted({d["kind"] for d in core})
    for need in ("Deployment", "Service", "ConfigMap", "Secret"):
        if need not in kinds:
            print(f"no {need} in deploy/kubernetes")
            return 1
    for path, doc in k8s_docs():
        if doc.get("metadata", {}).get("namespace"):
            print(f"{path}: {doc['kind']} names a namespace; the manifests must be namespace-agnostic")
            return 1
    with open(out, "w") as f:
        yaml.safe_dump_all(core, f, sort_keys=False)
    print(f"{len(core)} core objects: {', '.join(kinds)}")
    return 0


def cmd_kustomization():
    with open("deploy/kubernetes/kustomization.yaml") as f:
        k = yaml.safe_load(f)
    listed = set(k.get("resources", []))
    present = {os.path.basename(p) for p in glob.glob("deploy/kubernetes/*.yaml")} - {"kustomization.yaml"}
    errors = [f"listed but missing: {sorted(listed - present)}"] if listed - present else []
    if present - listed:
        errors.append(f"not listed in kustomization.yaml: {sorted(present - listed)}")
    print("\n".join(errors) or f"{len(listed)} resources listed")
    return 1 if errors else 0


def cmd_prometheusrule(out):
    rules = [doc for _, doc in k8s_docs() if doc.get("kind") == "PrometheusRule"]
    if len(rules) != 1:
        print(f"want exactly one PrometheusRule, found {len(rules)}")
        return 1
    pr = rules[0]
    if pr.get("apiVersion") != "monitoring.coreos.com/v1":
        print(f"PrometheusRule apiVersion {pr.get('apiVersion')!r}")
        return 1
    with open(out, "w") as f:
        yaml.safe_dump({"groups": pr["spec"]["groups"]}, f, sort_keys=False)
    return 0


def cmd_same_groups(extracted):
    with open(extracted) as f:
        a = yaml.safe_load(f)["groups"]
    b = load_rules()["groups"]
    if a == b:
        print(f"{len(b)} groups identical")
        return 0
    da = yaml.safe_dump(a, sort_keys=True).splitlines()
    db = yaml.safe_dump(b, sort_keys=True).splitlines()
    print("\n".join(difflib.unified_diff(db, da, RULES, "deploy/kubernetes PrometheusRule spec.groups", lineterm="")))
    return 1


def cmd_servicemonitor():
    docs = k8s_docs()
    sms = [d for _, d in docs if d.get("kind") == "ServiceMonitor"]
    svcs = [d for _, d in docs if d.get("kind") == "Service"]
    errors = []
    if len(sms) != 1 or sms[0].get("apiVersion") != "monitoring.coreos.com/v1":
        return print("want one ServiceMonitor monitoring.coreos.com/v1") or 1
    sm = sms[0]["spec"]
    sel = sm["selector"]["matchLabels"]
    svc = next((s for s in svcs if sel.items() <= s["metadata"].get("labels", {}).items()), None)
    if svc is None:
        return print(f"no Service carries the ServiceMonitor's selector {sel}") or 1
    ports = {p.get("name"): p for p in svc["spec"]["ports"]}
    for want, port in (("metrics", 9727),):
        if ports.get(want, {}).get("port") != port:
            errors.append(f"Service port {want} is not {port}")
    for port in (19530, 9091, 9727):
        if port not in {p["port"] for p in svc["spec"]["ports"]}:
            errors.append(f"Service lacks port {port}")
    for ep in sm["endpoints"]:
        if ep.get("port") not in ports:
            errors.append(f"ServiceMonitor endpoint port {ep.get('port')!r} is not a Service port name")
    jl = sm.get("jobLabel")
    if jl and svc["metadata"]["labels"].get(jl) != "milvus_exporter":
        errors.append(f"Service label {jl} (the jobLabel) must be milvus_exporter, the job the rules expect")
    dep = next(d for _, d in docs if d.get("kind") == "Deployment")
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    if not svc["spec"]["selector"].items() <= pod_labels.items():
        errors.append("Service selector does not select the Deployment's pods")
    print("\n".join(errors) or "ServiceMonitor -> Service -> Deployment wiring consistent")
    return 1 if errors else 0


TOML_KEYS = {
    "web": {"listen_address"},
    "milvus": {"address", "username", "timeout", "max_concurrency"},
    "cache": {"ttl", "refresh_interval"},
    "readiness": {"memory_percent_max", "disk_percent_max", "required_collections", "disabled_rules"},
    "system": {"disk_paths"},
}


def cmd_exporter_config():
    docs = k8s_docs()
    cms = [d for _, d in docs if d.get("kind") == "ConfigMap" and "config.toml" in d.get("data", {})]
    if len(cms) != 1:
        return print("want one ConfigMap with data config.toml") or 1
    cfg = tomllib.loads(cms[0]["data"]["config.toml"])
    errors = []
    for section, keys in cfg.items():
        if section not in TOML_KEYS:
            errors.append(f"unknown section [{section}]")
            continue
        for k in keys:
            if k not in TOML_KEYS[section]:
                errors.append(f"unknown key {section}.{k}")
    for section, keys in TOML_KEYS.items():
        for k in keys:
            if k not in cfg.get(section, {}):
                errors.append(f"missing key {section}.{k}")
    if "password" in cfg.get("milvus", {}):
        errors.append("the password must come from the Secret, not the ConfigMap")
    dep = next(d for _, d in docs if d.get("kind") == "Deployment")
    secrets = {d["metadata"]["name"]: d for _, d in docs if d.get("kind") == "Secret"}
    found = False
    for c in dep["spec"]["template"]["spec"]["containers"]:
        for e in c.get("env", []):
            if e["name"] == "MILVUS_EXPORTER_MILVUS__PASSWORD":
                ref = e.get("valueFrom", {}).get("secretKeyRef", {})
                s = secrets.get(ref.get("name"))
                key = ref.get("key")
                found = bool(s) and key in {**s.get("stringData", {}), **s.get("data", {})}
        if c["name"] != "milvus":
            probes = {k: c.get(k, {}).get("httpGet", {}).get("path") for k in ("livenessProbe", "readinessProbe", "startupProbe")}
            if probes != {"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/healthz"}:
                errors.append(f"exporter probes {probes}: want liveness/startup /healthz, readiness /readyz")
    if not found:
        errors.append("MILVUS_EXPORTER_MILVUS__PASSWORD must come from a secretKeyRef to a key of a Secret in deploy/kubernetes")
    print("\n".join(errors) or "exporter TOML keys and password Secret wiring ok")
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
