#!/usr/bin/env python3
"""JSON/HTTP helper of scripts/check_live_stack.sh (run it with the repo venv's python).
Free ports and readiness waits are scripts/lib.sh's; metric names come from scripts/py/promql.py.

    live_stack.py write-prom     --exporter HOST:PORT --probe-target NAME... --sm-probe-target NAME
                                 --rules-out FILE --config-out FILE
    live_stack.py wait-scrapes   --prom URL [--probe-instance NAME...] [--timeout S]
    live_stack.py expect         --prom URL --expr PROMQL [--min N] [--timeout S]
    live_stack.py dashboards     --prom URL --exporter-instance HOST:PORT --probe-instance NAME
                                 --cluster-instance NAME
    live_stack.py families       --pages FILE... [--update]   (tests/fixtures/exporter-metric-families.prom)
    live_stack.py alerts-quiet   --prom URL --alert NAME...
    live_stack.py wait-alert     --prom URL --alert NAME [--timeout S]

`dashboards` prints its own `ok NAME` / `FAIL NAME` / `allow NAME: reason` lines (details
indented below a FAIL); the shell script counts them. Every other command prints what it saw
and exits 0 on success, 1 on failure. Every wait is bounded.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "grafana" / "dashboards"
REPO_PROM_CONFIG = ROOT / "prometheus" / "prometheus.yml"
REPO_RULES = ROOT / "prometheus" / "rules" / "milvus-alerts.yml"  # generated from mixin/

sys.path.insert(0, str(ROOT / "scripts" / "py"))
import promql  # noqa: E402  (the one PromQL metric-name extractor of the scripts)

JOBS = ("milvus_exporter", "milvus_probe")
SCRAPE_INTERVAL = "1s"

# Grafana's built-in variables, with the values Grafana would send for this setup: a Prometheus
# data source whose scrape interval is set to the real 1 s, a 5 minute time range.
# $__rate_interval = max($__interval + scrape interval, 4 * scrape interval) = 4s.
BUILTINS = {
    "__rate_interval": "4s",
    "__rate_interval_ms": "4000",
    "__interval": "1s",
    "__interval_ms": "1000",
    "__range": "5m",
    "__range_s": "300",
    "__range_ms": "300000",
    "__auto": "1s",
}

# Panels that are empty by design on the live stack (a healthy, ready Milvus Lite and a healthy
# fake cluster): (dashboard uid, panel title) -> reason. Printed as `allow ...` lines; the query
# must still parse. They are not allowed to be empty for an unknown reason: the list is the
# whole list. The node, binlog and RAG panels are not here: the fake cluster (target
# "cluster") reports nodes and binlog sizes, and the exporter has a [[rag_probes]] entry on
# "docs" with scripts/py/fake_embeddings.py as its embeddings API.
EMPTY_BY_DESIGN = {
    ("milvus-health", "Failing readiness rules/table"): "lists milvus_readiness_check == 0: every readiness rule passes on the seeded, ready Milvus Lite and on the healthy fake cluster",
    ("milvus-health", "Quota states"): "lists milvus_quota_state == 1: neither Milvus Lite nor the fake cluster reports a quota state (no DenyTo*/memory/disk protection active)",
    ("milvus-health", "Nodes stopped reporting"): "lists milvus_node_missing == 1: every node the fake cluster listed is still listed",
    ("milvus-health", "Milvus components"): "lists milvus_component_state == 1: no metrics_address is configured for any target (Milvus Lite and the fake cluster have no metrics port /healthz), so the exporter exports no component state",
}

# Metric families that only the exporter's own /metrics serves (exporter process and host
# state, and the main target's read probes, RAG dependencies and RAG probes), never
# /probe?target=NAME: panels built only on them are empty for the probe job's instances.
EXPORTER_ONLY = {
    "milvus_host_memory_percent",
    "milvus_host_cpu_percent",
    "milvus_host_disk_percent",
    "milvus_host_memory_available_bytes",
    "milvus_host_disk_free_bytes",
    "milvus_exporter_cache_age_seconds",
    "milvus_exporter_refreshes_total",
    "milvus_exporter_build_info",
    # The discovered /probe targets this exporter holds: a fact of the exporter, not of a target.
    "milvus_exporter_probe_targets",
    "milvus_exporter_probe_targets_evicted_total",
    "milvus_exporter_probe_targets_refused_full_total",
    "milvus_probe_success",
    "milvus_probe_duration_seconds",
    "milvus_dependency_up",
    "milvus_dependency_duration_seconds",
    # [[rag_probes]] run against the main target only, like the read probes.
    "milvus_rag_probe_success",
    "milvus_rag_probe_duration_seconds",
    "milvus_rag_embedding_dimensions",
}

# Metric families that only the fake cluster (the `cluster` /probe target) serves: they come
# from GetMetrics(system_info), which Milvus Lite (the exporter's main target and `lite`)
# answers with Unimplemented. Panels built only on them are empty for those two instances and
# must have data for the cluster (and so for "All").
CLUSTER_ONLY = {
    "milvus_node_info",
    "milvus_node_has_error",
    "milvus_node_memory_bytes",
    "milvus_node_memory_used_bytes",
    "milvus_node_cpu_usage_percent",
    "milvus_node_disk_bytes",
    "milvus_node_disk_used_bytes",
    "milvus_collection_binlog_bytes",
}
# The variants (see cmd_dashboards) whose instance is served from /probe, and those whose
# Milvus is Milvus Lite.
PROBE_VARIANTS = ("probe", "cluster", "sm-probe")
LITE_VARIANTS = ("exporter", "probe", "sm-exporter")


# ------------------------------------------------------------------------------ http / prom
def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def prom_api(prom: str, path: str, params: dict | list) -> dict:
    url = f"{prom}{path}?{urllib.parse.urlencode(params)}"
    try:
        _status, body = http_get(url, timeout=10)
    except Exception as exc:  # connection refused, timeout
        return {"status": "error", "errorType": "http", "error": f"{type(exc).__name__}: {exc}"}
    try:
        return json.loads(body)
    except ValueError:
        return {"status": "error", "errorType": "json", "error": body[:300]}


def query(prom: str, expr: str) -> dict:
    return prom_api(prom, "/api/v1/query", {"query": expr})


def query_range(prom: str, expr: str, seconds: int = 30) -> dict:
    end = time.time()
    return prom_api(
        prom,
        "/api/v1/query_range",
        {"query": expr, "start": f"{end - seconds:.3f}", "end": f"{end:.3f}", "step": "1"},
    )


def result_len(res: dict) -> int:
    data = res.get("data") or {}
    r = data.get("result")
    if data.get("resultType") in ("scalar", "string"):
        return 1
    return len(r or [])


# ----------------------------------------------------------- ServiceMonitor-equivalent scrape
# The Kubernetes objects the scrape stands for: a Service `milvus-exporter` (label
# app.kubernetes.io/name=milvus-exporter, port `metrics`) in namespace `milvus-live` of
# cluster `live`, selecting one exporter pod, and a ServiceMonitor with two endpoints: the
# exporter's own /metrics, and /probe?target=NAME for one [[targets]] entry with `instance`
# rewritten to the target name (the blackbox-exporter chart's per-target endpoints), both
# relabelled with `cluster: live`.
SM = {
    "namespace": "milvus-live",
    "service": "milvus-exporter",
    "pod": "milvus-exporter-6d4b9c7f5-x2k8p",
    "container": "exporter",
    "port": "metrics",
    "app_label": "milvus-exporter",
    "cluster_label": "cluster",
    "cluster": "live",
}


def servicemonitor_jobs(exporter: str, probe_target: str) -> list[dict]:
    """The scrape_configs prometheus-operator generates from that ServiceMonitor, with one
    change: Kubernetes service discovery (role endpoints) is replaced by a static target that
    carries the __meta_kubernetes_* labels the discovery would give. The relabelling is the
    operator's own, rule for rule, as in its generator's golden file
    prometheus-operator/prometheus-operator pkg/prometheus/testdata/
    NoEnforcedNamespaceLabelServiceMonitor_Expected.golden (commit 39bdf1c03f8c), with the
    shard placeholder $(SHARD) at 0 (one shard). docs/mixin.md shows the same jobs with
    kubernetes_sd_configs, as they run in a cluster."""
    meta = {
        "__meta_kubernetes_namespace": SM["namespace"],
        "__meta_kubernetes_service_name": SM["service"],
        "__meta_kubernetes_service_label_app_kubernetes_io_name": SM["app_label"],
        "__meta_kubernetes_service_labelpresent_app_kubernetes_io_name": "true",
        "__meta_kubernetes_endpoints_name": SM["service"],
        "__meta_kubernetes_endpoint_port_name": SM["port"],
        "__meta_kubernetes_endpoint_ready": "true",
        "__meta_kubernetes_endpoint_address_target_kind": "Pod",
        "__meta_kubernetes_endpoint_address_target_name": SM["pod"],
        "__meta_kubernetes_pod_name": SM["pod"],
        "__meta_kubernetes_pod_container_name": SM["container"],
        "__meta_kubernetes_pod_phase": "Running",
    }

    def relabel(extra: list[dict]) -> list[dict]:
        return [
            {"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"},
            {"action": "keep",
             "source_labels": ["__meta_kubernetes_service_label_app_kubernetes_io_name",
                               "__meta_kubernetes_service_labelpresent_app_kubernetes_io_name"],
             "regex": f"({SM['app_label']});true"},
            {"action": "keep", "source_labels": ["__meta_kubernetes_endpoint_port_name"], "regex": SM["port"]},
            {"source_labels": ["__meta_kubernetes_endpoint_address_target_kind",
                               "__meta_kubernetes_endpoint_address_target_name"],
             "separator": ";", "regex": "Node;(.*)", "replacement": "${1}", "target_label": "node"},
            {"source_labels": ["__meta_kubernetes_endpoint_address_target_kind",
                               "__meta_kubernetes_endpoint_address_target_name"],
             "separator": ";", "regex": "Pod;(.*)", "replacement": "${1}", "target_label": "pod"},
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
            {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
            {"action": "drop", "source_labels": ["__meta_kubernetes_pod_phase"], "regex": "(Failed|Succeeded)"},
            {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "job", "replacement": "${1}"},
            {"target_label": "endpoint", "replacement": SM["port"]},
            # the endpoint's own `relabelings`, which the operator appends here
            *extra,
            {"source_labels": ["__address__"], "target_label": "__tmp_hash", "modulus": 1, "action": "hashmod"},
            {"source_labels": ["__tmp_hash"], "regex": "0", "action": "keep"},
        ]

    cluster = {"target_label": SM["cluster_label"], "replacement": SM["cluster"], "action": "replace"}
    base = f"serviceMonitor/{SM['namespace']}/{SM['service']}"
    statics = [{"targets": [exporter], "labels": meta}]
    return [
        {"job_name": f"{base}/0", "honor_labels": False, "honor_timestamps": True,
         "metrics_path": "/metrics", "scheme": "http", "static_configs": statics,
         "relabel_configs": relabel([cluster])},
        {"job_name": f"{base}/1", "honor_labels": False, "honor_timestamps": True,
         "metrics_path": "/probe", "params": {"target": [probe_target]}, "scheme": "http",
         "static_configs": statics,
         "relabel_configs": relabel([cluster, {"source_labels": ["__param_target"],
                                               "target_label": "instance", "action": "replace"}])},
    ]


# ------------------------------------------------------------------------------ commands
def cmd_write_prom(args) -> int:
    import yaml

    # Rules: the repo's file with every `for:` at 0s and every group evaluated each second.
    rules = yaml.safe_load(REPO_RULES.read_text())
    changed_for = 0
    for group in rules["groups"]:
        if "interval" in group:
            group["interval"] = SCRAPE_INTERVAL
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "0s"
                changed_for += 1
    Path(args.rules_out).write_text(yaml.safe_dump(rules, sort_keys=False, width=1000))

    # Scrape config: the repo's two exporter jobs, pointed at the running exporter.
    repo = yaml.safe_load(REPO_PROM_CONFIG.read_text())
    jobs = {j["job_name"]: j for j in repo["scrape_configs"]}
    missing = [j for j in JOBS if j not in jobs]
    if missing:
        print(f"prometheus/prometheus.yml has no job {missing}")
        return 1
    # The repo's static_configs carry labels (namespace): keep them, change only the targets.
    def pointed_at(job, targets):
        statics = job.get("static_configs") or [{}]
        return [{**statics[0], "targets": targets}]

    exp = dict(jobs["milvus_exporter"])
    exp["static_configs"] = pointed_at(exp, [args.exporter])
    probe = dict(jobs["milvus_probe"])
    probe["static_configs"] = pointed_at(probe, list(args.probe_target))
    relabels = [dict(r) for r in probe.get("relabel_configs", [])]
    pointed = 0
    for r in relabels:
        if r.get("target_label") == "__address__":
            r["replacement"] = args.exporter
            pointed += 1
    if pointed != 1:
        print(f"milvus_probe: expected one relabelling to __address__, found {pointed}")
        return 1
    probe["relabel_configs"] = relabels
    sm_jobs = servicemonitor_jobs(args.exporter, args.sm_probe_target)
    for job in [exp, probe] + sm_jobs:
        job["scrape_interval"] = SCRAPE_INTERVAL
        job["scrape_timeout"] = SCRAPE_INTERVAL
    config = {
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            "scrape_timeout": SCRAPE_INTERVAL,
            "evaluation_interval": SCRAPE_INTERVAL,
        },
        "rule_files": [str(Path(args.rules_out).resolve())],
        "scrape_configs": [exp, probe] + sm_jobs,
    }
    # What kube-prometheus-stack's prometheus.prometheusSpec.externalLabels would add: on
    # alerts sent out and on remote-written series, not on local queries (the target label of
    # the ServiceMonitor relabelling gives the dashboards their cluster).
    config["global"]["external_labels"] = {SM["cluster_label"]: SM["cluster"]}
    Path(args.config_out).write_text(yaml.safe_dump(config, sort_keys=False))
    print(
        f"wrote {args.config_out} (jobs {', '.join(JOBS)} -> {args.exporter}, probe targets "
        f"{', '.join(args.probe_target)}; ServiceMonitor-equivalent jobs "
        f"{', '.join(j['job_name'] for j in sm_jobs)}) and "
        f"{args.rules_out} ({changed_for} `for:` set to 0s)"
    )
    return 0


def cmd_wait_scrapes(args) -> int:
    """`up` is 1 for both jobs and the exporter's metrics arrived through both; for
    milvus_probe, through every --probe-instance."""
    deadline = time.monotonic() + args.timeout
    want = {
        "up": "up == 1",
        "milvus_up": "milvus_up == 1",
    }
    need = {(j, None) for j in JOBS} | {("milvus_probe", i) for i in args.probe_instance}
    last = {}
    while True:
        ok = True
        for name, expr in want.items():
            res = query(args.prom, expr)
            rows = (res.get("data") or {}).get("result") or []
            seen = {(r["metric"].get("job", ""), r["metric"].get("instance", "")) for r in rows}
            seen_jobs = {j for j, _ in seen}
            last[name] = sorted(f"{j}/{i}" for j, i in seen) if res.get("status") == "success" else res.get("error")
            if res.get("status") != "success" or not all(
                (j in seen_jobs) if i is None else ((j, i) in seen) for j, i in need
            ):
                ok = False
        if ok:
            for name in want:
                print(f"{want[name]}: {last[name]}")
            return 0
        if time.monotonic() >= deadline:
            print(
                f"not every job {JOBS} (milvus_probe: instances {args.probe_instance}) scraped "
                f"within {args.timeout:g}s: {last}"
            )
            return 1
        time.sleep(0.5)


def cmd_expect(args) -> int:
    """Waits until PROMQL returns at least --min series; prints them."""
    deadline = time.monotonic() + args.timeout
    while True:
        res = query(args.prom, args.expr)
        rows = ((res.get("data") or {}).get("result") or []) if res.get("status") == "success" else []
        if len(rows) >= args.min:
            for r in rows[:8]:
                print(f"{r.get('metric')} = {(r.get('value') or [None, None])[1]}")
            if len(rows) > 8:
                print(f"... {len(rows)} series")
            return 0
        if time.monotonic() >= deadline:
            why = res.get("error") if res.get("status") != "success" else f"{len(rows)} series"
            print(f"{args.expr}: fewer than {args.min} series within {args.timeout:g}s ({why})")
            return 1
        time.sleep(0.5)


# ---------------------------------------------------------------------------- dashboards
VAR_RE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)|\[\[(\w+)(?::(\w+))?\]\]")


def regex_escape(value: str) -> str:
    """Grafana's prometheusRegularEscape for values inside a =~ string literal."""
    return re.sub(r"([\\$^*+?.()|{}\[\]])", r"\\\\\1", value)


def substitute(expr: str, values: dict[str, str]) -> tuple[str, list[str]]:
    unknown: list[str] = []

    def rep(m: re.Match) -> str:
        name = m.group(1) or m.group(3) or m.group(4)
        if name in BUILTINS:
            return BUILTINS[name]
        if name in values:
            return values[name]
        unknown.append(name)
        return m.group(0)

    return VAR_RE.sub(rep, expr), unknown


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels") or [])


def metric_names(expr: str) -> set[str]:
    """Metric names the expression selects; none when a __name__ matcher hides them."""
    try:
        return promql.metric_names(expr)
    except ValueError:
        return set()


def panel_key(uid: str, panel: dict, titles: dict) -> str:
    title = panel.get("title") or f"id {panel.get('id')}"
    if titles.get(title, 0) > 1:
        title = f"{title}/{panel.get('type')}"
    return title


def cmd_dashboards(args) -> int:
    # Every variant names the cluster: the dashboards' cluster variable is single-valued and
    # hidden (showMultiCluster false), so Grafana sends the one cluster there is, or "" where
    # no series has the label (docker-compose, the repo's jobs: `cluster=""` matches them).
    # The repo's jobs carry namespace="milvus" (prometheus/prometheus.yml).
    ns = "milvus"
    coll = {"db_name": ["default"], "collection_name": ["docs", "archive"]}
    variants = {
        # What Grafana sends with every variable at its default, All (its allValue `.+`), on a
        # Prometheus without a cluster label (the docker-compose stack's jobs).
        "all": {"cluster": ""},
        # A concrete selection of the exporter's own target.
        # Collections: a multi-value selection of a loaded and a released one.
        "exporter": {"cluster": "", "namespace": [ns], "job": ["milvus_exporter"],
                     "instance": [args.exporter_instance], **coll},
        # A concrete selection of the /probe target on Milvus Lite.
        "probe": {"cluster": "", "namespace": [ns], "job": ["milvus_probe"],
                  "instance": [args.probe_instance], **coll},
        # A concrete selection of the /probe target on the fake cluster (same collection
        # names as the seeded Lite, so the same selection).
        "cluster": {"cluster": "", "namespace": [ns], "job": ["milvus_probe"],
                    "instance": [args.cluster_instance], **coll},
        # Through the ServiceMonitor-equivalent scrape (servicemonitor_jobs): All, as Grafana
        # sends it when the only cluster is the one the relabelling names...
        "sm-all": {"cluster": SM["cluster"]},
        # ...the exporter pod's own /metrics endpoint (job = the Service's name, instance = the
        # pod's address, the same as the repo job's: only namespace and cluster tell them
        # apart)...
        "sm-exporter": {"cluster": SM["cluster"], "namespace": [SM["namespace"]], "job": [SM["service"]],
                        "instance": [args.exporter_instance], **coll},
        # ...and its per-target /probe endpoint, instance rewritten to the target name.
        "sm-probe": {"cluster": SM["cluster"], "namespace": [SM["namespace"]], "job": [SM["service"]],
                     "instance": [args.cluster_instance], **coll},
    }
    # Variants whose every labelled result series must carry cluster and namespace.
    labelled_variants = {"sm-all", "sm-exporter", "sm-probe"}
    ddir = Path(args.dir)
    files = sorted(ddir.glob("*.json"))
    if not files:
        print(f"FAIL dashboards: no {ddir}/*.json")
        return 1

    # (check name, variant, kind, expr, must_have_data, label) for every target and variant.
    items = []
    var_checks = []
    allowed_lines = []
    for f in files:
        dash = json.loads(f.read_text())
        uid = dash.get("uid") or f.stem
        tvars = (dash.get("templating") or {}).get("list") or []
        panels = list(walk_panels(dash.get("panels") or []))
        titles: dict[str, int] = {}
        for p in panels:
            t = p.get("title") or ""
            titles[t] = titles.get(t, 0) + 1
        all_values = {}
        for v in tvars:
            if v.get("type") == "datasource":
                all_values[v["name"]] = "prometheus"
            elif v.get("includeAll"):
                all_values[v["name"]] = v.get("allValue") or ".*"
            else:
                cur = (v.get("current") or {}).get("value")
                all_values[v["name"]] = cur if isinstance(cur, str) else ".*"
        # Template variable queries: label_values(selector, label) must list values.
        for v in tvars:
            q = v.get("query")
            if isinstance(q, dict):
                q = q.get("query")
            if v.get("type") != "query" or not isinstance(q, str):
                continue
            m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\)\s*", q)
            if not m:
                var_checks.append((f"{uid} variable ${v['name']}", None, None, f"unsupported variable query {q!r}"))
                continue
            # Both settings of the hidden cluster variable: no cluster label (the repo's jobs)
            # and the ServiceMonitor scrape's cluster.
            for setting, cl in (("no cluster", ""), (f"cluster {SM['cluster']}", SM["cluster"])):
                sel, unknown = substitute(m.group(1), {**all_values, "cluster": cl})
                var_checks.append((f"{uid} variable ${v['name']} ({setting})", sel, m.group(2),
                                   f"unknown variables {unknown}" if unknown else None))
        for p in panels:
            targets = [t for t in (p.get("targets") or []) if t.get("expr")]
            if not targets:
                continue
            key = panel_key(uid, p, titles)
            name = f"{uid} panel {p.get('id')} {key!r}"
            reason = EMPTY_BY_DESIGN.get((uid, key)) or EMPTY_BY_DESIGN.get((uid, p.get("title")))
            if reason:
                allowed_lines.append(f"allow {name}: empty by design: {reason}")
            for vname, sel in variants.items():
                values = dict(all_values)
                for k, vals in sel.items():
                    if k not in values:
                        continue
                    if isinstance(vals, str):
                        # a single-valued variable (cluster): sent as is
                        values[k] = vals
                    else:
                        # multi-valued: one value regex-escaped, several as (a|b)
                        esc = [regex_escape(v) for v in vals]
                        values[k] = esc[0] if len(esc) == 1 else "(" + "|".join(esc) + ")"
                for t in targets:
                    expr, unknown = substitute(t["expr"], values)
                    need = reason is None
                    names = metric_names(t["expr"])
                    # Empty by the instance chosen, not by the panel: "exporter_only" (a /probe
                    # instance, exporter-only families) or "cluster_only" (a Milvus Lite
                    # instance, GetMetrics families).
                    only = None
                    if vname in PROBE_VARIANTS and names and names <= EXPORTER_ONLY:
                        only = "exporter_only"
                    elif vname in LITE_VARIANTS and names and names <= CLUSTER_ONLY:
                        only = "cluster_only"
                    if only:
                        need = False
                    kinds = ["instant"]
                    if t.get("range") or (p.get("type") == "timeseries" and not t.get("instant")):
                        kinds.append("range")
                    for kind in kinds:
                        items.append(
                            {
                                "check": name,
                                "uid": uid,
                                "pid": p.get("id"),
                                "variant": vname,
                                "ref": t.get("refId", "?"),
                                "kind": kind,
                                "expr": expr,
                                "unknown": unknown,
                                "need": need,
                                "only": only,
                                "legend": t.get("legendFormat") or "",
                            }
                        )

    # Query everything; re-query empty ones for a while (rate() needs two samples, the CPU
    # sampler its first sample, recording rules their first evaluation).
    deadline = time.monotonic() + args.settle
    pending = list(items)
    while True:
        retry = []
        for it in pending:
            if it["unknown"]:
                it["error"] = f"unknown variables {it['unknown']}"
                continue
            res = query(args.prom, it["expr"]) if it["kind"] == "instant" else query_range(args.prom, it["expr"])
            it["error"] = None if res.get("status") == "success" else f"{res.get('errorType')}: {res.get('error')}"
            it["rows"] = result_len(res) if it["error"] is None else 0
            it["labels"] = [
                set(r.get("metric", {}))
                for r in ((res.get("data") or {}).get("result") or [])
                if isinstance(r, dict)
            ]
            if it["error"] is None and it["need"] and it["rows"] == 0:
                retry.append(it)
        if not retry or time.monotonic() >= deadline:
            break
        pending = retry
        time.sleep(1)

    failed = 0
    for line in allowed_lines:
        print(line)
    by_instance_empty = {
        kind: sorted(
            {(it["uid"], it["pid"]) for it in items if it["only"] == kind and it.get("rows", 0) == 0},
            key=lambda x: (x[0], x[1] or 0),
        )
        for kind in ("exporter_only", "cluster_only")
    }
    by_check: dict[str, list] = {}
    for it in items:
        by_check.setdefault(it["check"], []).append(it)
    for check, its in by_check.items():
        problems = []
        for it in its:
            where = f"[{it['variant']} {it['ref']} {it['kind']}]"
            if it["error"]:
                problems.append(f"{where} query error: {it['error']}\n        expr: {it['expr']}")
            elif it["need"] and it["rows"] == 0:
                problems.append(f"{where} no data within {args.settle:g}s\n        expr: {it['expr']}")
            else:
                # Every {{label}} of the legend must be a label of every series (else blank).
                wanted = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", it["legend"]))
                lacking = sorted({w for labels in it.get("labels", []) for w in wanted if w not in labels})
                if lacking:
                    problems.append(
                        f"{where} legend {it['legend']!r} uses {lacking}, not labels of the result\n        expr: {it['expr']}"
                    )
                # Through the ServiceMonitor scrape, every labelled series keeps cluster and
                # namespace (a one-number total, sum() or count(), has no labels at all).
                if it["variant"] in labelled_variants:
                    bad = [sorted(lb) for lb in it.get("labels", []) if lb and not {"cluster", "namespace"} <= lb]
                    if bad:
                        problems.append(f"{where} series without cluster/namespace: {bad[:2]}\n        expr: {it['expr']}")
        if problems:
            failed += 1
            print(f"FAIL {check}")
            for pr in problems:
                print(f"    {pr}")
        else:
            n = len(its)
            empty = all(it.get("rows", 0) == 0 for it in its)
            allowed = any(not it["need"] and not it["only"] for it in its)
            note = ", empty by design" if allowed and empty else (", allowlisted but has data" if allowed else "")
            print(f"ok {check} ({n} queries{note})")
    notes = {
        "exporter_only": "empty for job milvus_probe by design (host, exporter-process, read-probe, "
        "dependency and RAG-probe metrics are only on /metrics, not /probe)",
        "cluster_only": "empty for the Milvus Lite instances by design (node and binlog metrics "
        "come from GetMetrics, which Lite answers with Unimplemented; they are required for "
        f"instance {args.cluster_instance} and for All)",
    }
    for kind, empty in by_instance_empty.items():
        if not empty:
            continue
        groups: dict[str, list] = {}
        for uid, pid in empty:
            groups.setdefault(uid, []).append(str(pid))
        print(f"note: {notes[kind]}: " + "; ".join(f"{uid} panels {', '.join(ids)}" for uid, ids in groups.items()))

    sm = [it for it in items if it["variant"] in labelled_variants and not it["error"]]
    sm_data = [it for it in sm if it.get("rows", 0) > 0]
    sm_labelled = [it for it in sm_data if any(it.get("labels", []))]
    sm_need = [it for it in sm if it["need"]]
    line = (f"servicemonitor scrape (cluster={SM['cluster']}, namespace={SM['namespace']}, job={SM['service']}): "
            f"{len(sm_data)} of {len(sm)} queries have data ({len(sm_need)} must), {len(sm_labelled)} return "
            f"labelled series, every one with cluster and namespace; the other {len(sm_data) - len(sm_labelled)} "
            "are one-number totals")
    if sm and all(it.get("rows", 0) > 0 for it in sm_need):
        print(f"ok {line}")
    else:
        print(f"FAIL {line}")
        failed += 1

    for name, sel, label, err in var_checks:
        if err:
            print(f"FAIL {name}: {err}")
            failed += 1
            continue
        end = time.time()
        res = prom_api(args.prom, "/api/v1/series", [("match[]", sel), ("start", f"{end - 60:.3f}"), ("end", f"{end:.3f}")])
        vals = sorted({s.get(label) for s in res.get("data") or [] if s.get(label)})
        if res.get("status") != "success" or not vals:
            print(f"FAIL {name}: label_values({sel}, {label}) -> {res.get('error') or 'no values'}")
            failed += 1
        else:
            print(f"ok {name} = {vals}")
    return 1 if failed else 0


# ------------------------------------------------------------------- metric families fixture
FAMILIES_FIXTURE = ROOT / "tests" / "fixtures" / "exporter-metric-families.prom"
FAMILIES_NOTE = """\
# The metric families milvus_exporter serves: the HELP and TYPE lines of its real /metrics and
# /probe?target=NAME pages, as scripts/check_live_stack.sh captures them (Milvus Lite 3.2.2
# with a search probe, a RAG probe and a tcp dependency; examples/fake_milvus_server
# --system-info --indexes as a cluster target). The families come from this repository's
# src/checks/*.rs. scripts/check_stack.sh lints the mixin's queries against this list;
# check_live_stack.sh fails when it differs from the live pages (UPDATE_FIXTURES=1 rewrites it).
"""


def descriptors(pages: list[Path]) -> list[str]:
    out = set()
    for page in pages:
        for line in page.read_text().splitlines():
            if line.startswith(("# HELP ", "# TYPE ")):
                out.add(line)
    # by family name, HELP before TYPE
    return sorted(out, key=lambda l: (l.split()[2], l.split()[1]))


def cmd_families(args) -> int:
    live = descriptors([Path(p) for p in args.pages])
    names = sorted({l.split()[2] for l in live})
    text = FAMILIES_NOTE + "\n".join(live) + "\n"
    if args.update:
        FAMILIES_FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        FAMILIES_FIXTURE.write_text(text)
        print(f"wrote {FAMILIES_FIXTURE.relative_to(ROOT)}: {len(names)} families")
        return 0
    old = FAMILIES_FIXTURE.read_text() if FAMILIES_FIXTURE.exists() else ""
    fixed = [l for l in old.splitlines() if l.startswith(("# HELP ", "# TYPE "))]
    if fixed == live:
        print(f"{len(names)} families, the same as {FAMILIES_FIXTURE.relative_to(ROOT)}")
        return 0
    for l in sorted(set(fixed) - set(live)):
        print(f"only in the fixture: {l}")
    for l in sorted(set(live) - set(fixed)):
        print(f"only in the live pages: {l}")
    print("rerun with UPDATE_FIXTURES=1 when the exporter's families changed on purpose")
    return 1


# --------------------------------------------------------------------------------- alerts
def alerts(prom: str) -> tuple[list, str | None]:
    res = prom_api(prom, "/api/v1/alerts", {})
    if res.get("status") != "success":
        return [], str(res.get("error"))
    return res["data"]["alerts"], None


def cmd_alerts_quiet(args) -> int:
    active, err = alerts(args.prom)
    if err:
        print(f"/api/v1/alerts: {err}")
        return 1
    bad = [a for a in active if a["labels"].get("alertname") in args.alert]
    for a in active:
        print(f"active: {a['labels'].get('alertname')} {a['state']} {a['labels']}")
    if bad:
        print(f"expected none of {args.alert} active before the kill")
        return 1
    print(f"none of {args.alert} active ({len(active)} other alerts active)")
    return 0


def cmd_wait_alert(args) -> int:
    # elapsed times count from --since (the kill, epoch seconds) when given
    start = time.monotonic() - (max(0.0, time.time() - args.since) if args.since else 0.0)
    deadline = start + args.timeout
    seen = "nothing"
    while True:
        active, err = alerts(args.prom)
        mine = [a for a in active if a["labels"].get("alertname") == args.alert]
        seen = err or (", ".join(f"{a['state']} {a['labels'].get('job')}/{a['labels'].get('instance')}" for a in mine) or "not active")
        firing = [a for a in mine if a["state"] == "firing"]
        jobs = {a["labels"].get("job") for a in firing}
        if all(j in jobs for j in JOBS):
            for a in firing:
                print(
                    f"{args.alert} firing {time.monotonic() - start:.1f}s after the kill: {a['labels']} "
                    f"summary={a['annotations'].get('summary')!r}"
                )
            return 0
        if time.monotonic() >= deadline:
            print(f"{args.alert} not firing for both jobs {JOBS} within {args.timeout:g}s; last seen: {seen}")
            return 1
        time.sleep(0.5)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="live_stack.py", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("write-prom")
    c.add_argument("--exporter", required=True)
    c.add_argument("--probe-target", nargs="+", required=True, help="[[targets]] names")
    c.add_argument("--sm-probe-target", required=True,
                   help="the [[targets]] name of the ServiceMonitor-equivalent probe endpoint")
    c.add_argument("--rules-out", required=True)
    c.add_argument("--config-out", required=True)
    c.set_defaults(func=cmd_write_prom)
    s = sub.add_parser("wait-scrapes")
    s.add_argument("--prom", required=True)
    s.add_argument("--probe-instance", nargs="*", default=[], help="milvus_probe instances that must be up")
    s.add_argument("--timeout", type=float, default=60)
    s.set_defaults(func=cmd_wait_scrapes)
    e = sub.add_parser("expect")
    e.add_argument("--prom", required=True)
    e.add_argument("--expr", required=True)
    e.add_argument("--min", type=int, default=1, help="series the answer must have")
    e.add_argument("--timeout", type=float, default=30)
    e.set_defaults(func=cmd_expect)
    d = sub.add_parser("dashboards")
    d.add_argument("--prom", required=True)
    d.add_argument("--exporter-instance", required=True)
    d.add_argument("--probe-instance", required=True)
    d.add_argument("--cluster-instance", required=True)
    d.add_argument("--settle", type=float, default=20, help="seconds to wait for data")
    d.add_argument("--dir", default=str(DASHBOARDS), help="dashboards directory")
    d.set_defaults(func=cmd_dashboards)
    fm = sub.add_parser("families")
    fm.add_argument("--pages", nargs="+", required=True)
    fm.add_argument("--update", action="store_true")
    fm.set_defaults(func=cmd_families)
    q = sub.add_parser("alerts-quiet")
    q.add_argument("--prom", required=True)
    q.add_argument("--alert", nargs="+", required=True)
    q.set_defaults(func=cmd_alerts_quiet)
    a = sub.add_parser("wait-alert")
    a.add_argument("--prom", required=True)
    a.add_argument("--alert", required=True)
    a.add_argument("--timeout", type=float, default=60, help="seconds, counted from --since")
    a.add_argument("--since", type=float, help="epoch seconds of the event (the kill)")
    a.set_defaults(func=cmd_wait_alert)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
