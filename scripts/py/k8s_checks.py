#!/usr/bin/env python3
"""Offline checks of the Kubernetes artifacts (deploy/helm/milvus-exporter, deploy/kubernetes).

Each subcommand prints one summary line (or the findings) and exits 1 on a finding. They run in
the `k8s` tools venv (scripts/tools_venv.sh k8s): helm-python-sdk (Helm's Go SDK as a C
library), kubernetes-validate (the Kubernetes OpenAPI schemas), PyYAML. scripts/check_k8s.sh
calls them one by one.

  render CHART VALUES OUT RELEASE NAMESPACE   helm lint --strict + schema + template, like helm
  k8s-schemas KUBE_VERSION FILE...           core kinds against the Kubernetes schemas (strict)
  crd-strict NODE_MODULES FILE...            unknown fields in operator objects (CRD models)
  crd-self-test NODE_MODULES                 crd-strict catches misspelt fields
  pss FILE...                                the restricted Pod Security Standard, per pod spec
  policy FILE...                             this project's pod rules beyond it
  release-label RELEASE FILE [KIND...]       release: RELEASE on every operator object
  release-label-values VALUES FILE           the same, with the release a values file names
  wiring FILE                                selectors, port names, config volume, probes
  exporter-config BIN FILE OUT [FALLBACK]    the real binary's `check` accepts the config
  component-config BASE COMPONENT            a kustomize component's config.toml extends the base's
  prometheusrule-render HEADER RULES...      deploy/kubernetes PrometheusRule from the rules
  operator-scrape-config FILE                the scrape_configs the operator makes of FILE's ServiceMonitors
  scrape-config DOC FILE OUT                 docs/helm.md's scrape_configs vs the ServiceMonitors
  self-test                                  pss, policy, release-label, wiring catch bad objects
"""

import json
import os
import re
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:  # prometheusrule-render (scripts/sync_chart.sh) needs nothing beyond Python
    yaml = None

OPERATOR_GROUP = "monitoring.coreos.com/"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod"}


def load_docs(paths):
    docs = []
    for path in paths:
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc:
                    docs.append(doc)
    return docs


def name_of(doc):
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def is_operator(doc):
    return str(doc.get("apiVersion", "")).startswith(OPERATOR_GROUP)


def pod_spec(doc):
    kind = doc.get("kind")
    if kind == "Pod":
        return doc.get("spec", {})
    if kind == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if kind in WORKLOAD_KINDS:
        return doc["spec"]["template"]["spec"]
    return None


def pod_labels(doc):
    if doc.get("kind") == "Pod":
        return doc.get("metadata", {}).get("labels", {})
    return doc["spec"]["template"]["metadata"].get("labels", {})


def all_containers(spec):
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or []:
            yield key, c


# ------------------------------------------------------------------------------ render (Helm)
def cmd_render(chart, values_file, out, release, namespace):
    import helm_python as helm

    with open(values_file) as f:
        values = helm.values_from_yaml(f.read())
    report = helm.lint(chart, values, strict=True, namespace=namespace)
    problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    infos = [m for m in report.get("messages", []) if m.get("severity", 0) < 2]
    for m in problems:
        print(f"lint: {m.get('path')}: {m.get('error')}")
    for e in report.get("errors", []):
        print(f"lint: {e}")
    try:
        with helm.Chart.load(chart) as c:
            c.validate_schema(values)
            rendered = c.render(values=values, name=release, namespace=namespace, is_install=True)
    except helm.HelmError as e:
        print(f"helm template: {e}")
        return 1
    objects = []
    notes = ""
    for path in sorted(rendered):
        text = rendered[path]
        if path.endswith("NOTES.txt"):
            notes = text
            continue
        try:
            docs = list(yaml.safe_load_all(text))
        except yaml.YAMLError as e:
            print(f"{path}: not YAML: {str(e).splitlines()[0]} ({str(e).splitlines()[-1].strip()})")
            return 1
        for doc in docs:
            if doc:
                doc.setdefault("metadata", {})
                objects.append(doc)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "manifests.yaml"), "w") as f:
        yaml.safe_dump_all(objects, f, sort_keys=False)
    with open(os.path.join(out, "NOTES.txt"), "w") as f:
        f.write(notes)
    kinds = {}
    for d in objects:
        kinds[d["kind"]] = kinds.get(d["kind"], 0) + 1
    summary = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
    print(f"helm lint --strict: {len(problems) + len(report.get('errors', []))} findings "
          f"({len(infos)} info); rendered {len(objects)} objects: {summary}")
    return 1 if problems or report.get("errors") or not objects or not notes.strip() else 0


# ------------------------------------------------------------------------------ Kubernetes schemas
def cmd_k8s_schemas(version, paths):
    import kubernetes_validate

    errors = []
    n = 0
    for doc in load_docs(paths):
        if is_operator(doc) or doc.get("apiVersion", "").startswith("kustomize.config.k8s.io"):
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
            n += 1
        except kubernetes_validate.ValidationError as e:
            path = "/".join(str(p) for p in e.path)
            errors.append(f"{name_of(doc)}: {path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            errors.append(f"{name_of(doc)}: {e.message}")
    print("\n".join(errors) or f"{n} core objects valid against the Kubernetes {version} schemas (strict)")
    return 1 if errors else 0


# ------------------------------------------------------------------------------ CRD unknown fields
# @kubernetes-models/prometheus-operator's validators (run by scripts/node/k8s-crds/validate_crds.mjs) check
# types, enums, patterns and required fields but, like the CRDs' OpenAPI schemas, let unknown
# fields through; the API server prunes them silently (kubectl only warns). A typo such as
# `relabeling:` would then drop a relabel rule without a word. The same package's TypeScript
# declarations list every field of every type ("declare class X { "field"?: Type; }"), so the
# field names are read from there.
DECL_IMPORT = re.compile(r'import \{ ([^}]+) \} from "([^"]+)";')
DECL_FIELD = re.compile(r'^\s{4}"([^"]+)"\??: (.+?);?$')


class Decls:
    def __init__(self, node_modules):
        self.root = node_modules
        self.cache = {}

    def _file(self, spec, base_dir):
        if spec.startswith("."):
            path = os.path.normpath(os.path.join(base_dir, spec))
        else:
            path = os.path.join(self.root, spec)
        path = re.sub(r"\.js$", "", path)
        return path + ".d.ts"

    def fields(self, dts):
        """{field: type-expression} of the class declared in a .d.ts, or None (a leaf type)."""
        if dts in self.cache:
            return self.cache[dts]
        result = None
        if os.path.exists(dts):
            text = open(dts).read()
            imports = {}
            for names, spec in DECL_IMPORT.findall(text):
                for name in names.split(","):
                    imports[name.strip()] = self._file(spec, os.path.dirname(dts))
            m = re.search(r"^export declare class \w+ .*?\{\n(.*?)^\}", text, re.S | re.M)
            if m:
                result = {}
                lines = m.group(1).split("\n")
                i = 0
                while i < len(lines):
                    fm = DECL_FIELD.match(lines[i])
                    if fm:
                        field, typ = fm.group(1), fm.group(2)
                        if typ.rstrip() == "{":
                            # inline object: a map (index signature) or a nested record
                            block = []
                            i += 1
                            while i < len(lines) and not lines[i].startswith("    }"):
                                block.append(lines[i])
                                i += 1
                            typ = "MAP" if any("[key: string]" in b for b in block) else "ANY"
                        result[field] = (typ, imports)
                    i += 1
        self.cache[dts] = result
        return result

    def check(self, value, dts, where, errors):
        fields = self.fields(dts)
        if fields is None or not isinstance(value, dict):
            return
        for key, sub in value.items():
            if key not in fields:
                errors.append(f"{where}.{key}: unknown field (known: {', '.join(sorted(fields))})")
                continue
            typ, imports = fields[key]
            m = re.fullmatch(r"Array<(\w+)>", typ)
            name = m.group(1) if m else typ
            target = imports.get(name)
            if target is None:
                continue
            if m and isinstance(sub, list):
                for i, item in enumerate(sub):
                    self.check(item, target, f"{where}.{key}[{i}]", errors)
            elif not m:
                self.check(sub, target, f"{where}.{key}", errors)


def operator_dts(node_modules, doc):
    version = doc["apiVersion"].split("/")[1]
    return os.path.join(node_modules, "@kubernetes-models/prometheus-operator",
                        "monitoring.coreos.com", version, doc["kind"] + ".d.ts")


def cmd_crd_strict(node_modules, paths):
    decls = Decls(node_modules)
    errors = []
    n = 0
    for doc in load_docs(paths):
        if not is_operator(doc):
            continue
        dts = operator_dts(node_modules, doc)
        if decls.fields(dts) is None:
            errors.append(f"{name_of(doc)}: no declaration {dts}")
            continue
        decls.check(doc, dts, name_of(doc), errors)
        n += 1
    print("\n".join(errors) or f"{n} operator objects have no field the prometheus-operator CRDs lack")
    return 1 if errors else 0


# ------------------------------------------------------------------------------ Pod Security
# The "restricted" level of the Pod Security Standards
# (kubernetes.io/docs/concepts/security/pod-security-standards), which includes "baseline".
# Rule by rule as the page lists them, for the fields a pod template can carry.
BASELINE_CAPS = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                 "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
                "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                      "persistentVolumeClaim", "projected", "secret"}


def pss_findings(doc):
    spec = pod_spec(doc)
    if spec is None:
        return None
    out = []
    psc = spec.get("securityContext") or {}
    who = name_of(doc)
    # --- baseline
    for f in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(f):
            out.append(f"{who}: baseline: {f} must be unset or false")
    if (psc.get("windowsOptions") or {}).get("hostProcess"):
        out.append(f"{who}: baseline: windowsOptions.hostProcess")
    for v in spec.get("volumes") or []:
        kinds = [k for k in v if k != "name"]
        if "hostPath" in kinds:
            out.append(f"{who}: baseline: hostPath volume {v['name']}")
        bad = [k for k in kinds if k not in RESTRICTED_VOLUMES]
        if bad:
            out.append(f"{who}: restricted: volume {v['name']} of type {bad[0]} (allowed: {', '.join(sorted(RESTRICTED_VOLUMES))})")
    for s in psc.get("sysctls") or []:
        if s.get("name") not in SAFE_SYSCTLS:
            out.append(f"{who}: baseline: sysctl {s.get('name')} is not in the safe set")
    annotations = doc.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations", {}) or {}
    for k, v in annotations.items():
        if k.startswith("container.apparmor.security.beta.kubernetes.io/") and not (
                v == "runtime/default" or v.startswith("localhost/")):
            out.append(f"{who}: baseline: AppArmor {k}={v}")

    def selinux_ok(ctx, where):
        se = (ctx or {}).get("seLinuxOptions") or {}
        if se.get("type", "") not in SELINUX_TYPES or se.get("user") or se.get("role"):
            out.append(f"{who}: baseline: {where} seLinuxOptions {se}")

    def apparmor_ok(ctx, where):
        ap = (ctx or {}).get("appArmorProfile") or {}
        if ap and ap.get("type") not in ("RuntimeDefault", "Localhost"):
            out.append(f"{who}: baseline: {where} appArmorProfile {ap}")

    selinux_ok(psc, "pod")
    apparmor_ok(psc, "pod")
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
    pod_nonroot = psc.get("runAsNonRoot") is True
    if psc.get("runAsUser") == 0:
        out.append(f"{who}: restricted: pod runAsUser 0")
    if pod_seccomp == "Unconfined":
        out.append(f"{who}: baseline: pod seccompProfile Unconfined")
    for key, c in all_containers(spec):
        where = f"{key} {c.get('name')}"
        sc = c.get("securityContext") or {}
        if sc.get("privileged"):
            out.append(f"{who}: baseline: {where} privileged")
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            out.append(f"{who}: baseline: {where} windowsOptions.hostProcess")
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                out.append(f"{who}: baseline: {where} hostPort {p['hostPort']}")
        if sc.get("procMount", "Default") != "Default":
            out.append(f"{who}: baseline: {where} procMount {sc['procMount']}")
        selinux_ok(sc, where)
        apparmor_ok(sc, where)
        caps = sc.get("capabilities") or {}
        # --- restricted
        for cap in caps.get("add") or []:
            if cap != "NET_BIND_SERVICE":
                out.append(f"{who}: restricted: {where} adds capability {cap}")
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{who}: restricted: {where} must drop ALL capabilities")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{who}: restricted: {where} allowPrivilegeEscalation must be false")
        nonroot = sc.get("runAsNonRoot")
        if nonroot is False or (nonroot is None and not pod_nonroot):
            out.append(f"{who}: restricted: {where} runAsNonRoot must be true (container or pod)")
        if sc.get("runAsUser") == 0:
            out.append(f"{who}: restricted: {where} runAsUser 0")
        seccomp = (sc.get("seccompProfile") or {}).get("type")
        if seccomp == "Unconfined":
            out.append(f"{who}: baseline: {where} seccompProfile Unconfined")
        if seccomp is None and pod_seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{who}: restricted: {where} seccompProfile must be RuntimeDefault or Localhost (container or pod)")
    return out


def cmd_pss(paths):
    findings = []
    pods = 0
    for doc in load_docs(paths):
        f = pss_findings(doc)
        if f is None:
            continue
        pods += 1
        findings += f
    if pods == 0:
        findings.append("no pod spec found")
    print("\n".join(findings) or f"{pods} pod specs meet the restricted Pod Security Standard")
    return 1 if findings else 0


def policy_findings(doc, docs):
    """Beyond the standard: what the issue asks of every pod of this project."""
    spec = pod_spec(doc)
    if spec is None:
        return None
    who = name_of(doc)
    out = []
    sa_name = spec.get("serviceAccountName") or "default"
    if sa_name == "default":
        out.append(f"{who}: runs as the namespace's default ServiceAccount, not one of its own")
    sa = next((d for d in docs if d.get("kind") == "ServiceAccount"
               and d["metadata"]["name"] == sa_name), None)
    token = spec.get("automountServiceAccountToken")
    if token is None and sa is not None:
        token = sa.get("automountServiceAccountToken")
    if token is not False:
        out.append(f"{who}: automountServiceAccountToken must be false (pod or its ServiceAccount)")
    for key, c in all_containers(spec):
        where = f"{key} {c.get('name')}"
        if "milvus_exporter" not in str(c.get("image", "")):
            # Another project's container (Milvus in the sidecar manifests): the Pod Security
            # level covers it; how it uses its own filesystem is its business.
            continue
        sc = c.get("securityContext") or {}
        if sc.get("readOnlyRootFilesystem") is not True:
            out.append(f"{who}: {where} readOnlyRootFilesystem must be true")
        res = c.get("resources") or {}
        if not (res.get("requests") or {}).get("memory") or not (res.get("limits") or {}).get("memory"):
            out.append(f"{who}: {where} needs memory requests and limits")
    return out


def cmd_policy(paths):
    docs = load_docs(paths)
    findings = []
    pods = 0
    for doc in docs:
        f = policy_findings(doc, docs)
        if f is None:
            continue
        pods += 1
        findings += f
    print("\n".join(findings) or f"{pods} pod specs: own ServiceAccount, no token; the exporter read-only and memory bounded")
    return 1 if findings else 0


# ------------------------------------------------------------------------------ release label
def release_findings(release, docs):
    ops = [d for d in docs if is_operator(d)]
    out = [f"{name_of(d)}: labels.release is {d['metadata'].get('labels', {}).get('release')!r}, want {release!r}"
           for d in ops if (d["metadata"].get("labels") or {}).get("release") != release]
    return ops, out


def cmd_release_label_values(values_file, path):
    """With kubePrometheusStack.release set in VALUES, every operator object carries it, and
    each monitor the values switch on was rendered."""
    with open(values_file) as f:
        values = yaml.safe_load(f) or {}
    release = (values.get("kubePrometheusStack") or {}).get("release")
    if not release:
        print("kubePrometheusStack.release not set: no label to check")
        return 0
    require = [kind for key, kind in (("serviceMonitor", "ServiceMonitor"), ("podMonitor", "PodMonitor"),
                                      ("prometheusRule", "PrometheusRule"))
               if (values.get(key) or {}).get("enabled")]
    return cmd_release_label(release, path, require)


def cmd_release_label(release, path, require):
    ops, out = release_findings(release, load_docs([path]))
    kinds = sorted({d["kind"] for d in ops})
    for k in require:
        if k not in kinds:
            out.append(f"no {k} rendered")
    print("\n".join(out) or f"release: {release} on all {len(ops)} operator objects ({', '.join(kinds)})")
    return 1 if out else 0


# ------------------------------------------------------------------------------ wiring
def selects(selector, labels):
    return bool(selector) and selector.items() <= (labels or {}).items()


def wiring_findings(docs):
    out = []
    workloads = [d for d in docs if pod_spec(d) is not None]
    services = [d for d in docs if d.get("kind") == "Service"]
    by_kind_name = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for svc in services:
        sel = svc["spec"].get("selector") or {}
        pods = [w for w in workloads if selects(sel, pod_labels(w))]
        if not pods:
            out.append(f"{name_of(svc)}: selector {sel} selects no pod template")
        names = {p.get("name") for w in pods for _, c in all_containers(pod_spec(w)) for p in c.get("ports") or []}
        for p in svc["spec"]["ports"]:
            tp = p.get("targetPort")
            if isinstance(tp, str) and tp not in names:
                out.append(f"{name_of(svc)}: targetPort {tp} is no container port name")
    for w in workloads:
        spec = pod_spec(w)
        sel = w["spec"].get("selector", {}).get("matchLabels", {})
        if w.get("kind") != "Pod" and not selects(sel, pod_labels(w)):
            out.append(f"{name_of(w)}: selector does not match its pod template")
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        for _, c in all_containers(spec):
            ports = {p.get("name") for p in c.get("ports") or []}
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                port = ((c.get(probe) or {}).get("httpGet") or {}).get("port")
                if isinstance(port, str) and port not in ports:
                    out.append(f"{name_of(w)}: {c['name']} {probe} port {port} is no port name")
            for m in c.get("volumeMounts") or []:
                if m["name"] not in volumes:
                    out.append(f"{name_of(w)}: {c['name']} mounts unknown volume {m['name']}")
        for v in volumes.values():
            ref = ("ConfigMap", (v.get("configMap") or {}).get("name")) if "configMap" in v else \
                  ("Secret", (v.get("secret") or {}).get("secretName")) if "secret" in v else None
            if ref and ref not in by_kind_name:
                print(f"note: {name_of(w)} volume {v['name']} uses {ref[0]} {ref[1]}, "
                      f"which is not among these objects")
    for sm in [d for d in docs if d.get("kind") == "ServiceMonitor"]:
        sel = sm["spec"]["selector"].get("matchLabels", {})
        targets = [s for s in services if selects(sel, s["metadata"].get("labels"))]
        if not targets:
            out.append(f"{name_of(sm)}: selector {sel} selects no Service")
        ports = {p.get("name") for s in targets for p in s["spec"]["ports"]}
        for ep in sm["spec"]["endpoints"]:
            if ep.get("port") not in ports:
                out.append(f"{name_of(sm)}: endpoint port {ep.get('port')} is no Service port name")
        ns = (sm["spec"].get("namespaceSelector") or {}).get("matchNames")
        for s in targets:
            if ns and s["metadata"].get("namespace") and s["metadata"]["namespace"] not in ns:
                out.append(f"{name_of(sm)}: namespaceSelector {ns} misses {name_of(s)}'s namespace")
    for pm in [d for d in docs if d.get("kind") == "PodMonitor"]:
        sel = pm["spec"]["selector"].get("matchLabels", {})
        pods = [w for w in workloads if selects(sel, pod_labels(w))]
        if not pods:
            out.append(f"{name_of(pm)}: selector {sel} selects no pod template")
        names = {p.get("name") for w in pods for _, c in all_containers(pod_spec(w)) for p in c.get("ports") or []}
        for ep in pm["spec"]["podMetricsEndpoints"]:
            if ep.get("port") not in names:
                out.append(f"{name_of(pm)}: endpoint port {ep.get('port')} is no container port name")
    for np in [d for d in docs if d.get("kind") == "NetworkPolicy"]:
        sel = np["spec"]["podSelector"].get("matchLabels", {})
        if not any(selects(sel, pod_labels(w)) for w in workloads):
            out.append(f"{name_of(np)}: podSelector selects no pod template")
    for pdb in [d for d in docs if d.get("kind") == "PodDisruptionBudget"]:
        sel = pdb["spec"]["selector"].get("matchLabels", {})
        pods = [w for w in workloads if selects(sel, pod_labels(w))]
        if not pods:
            out.append(f"{name_of(pdb)}: selector selects no pod template")
        for w in pods:
            if pdb["spec"].get("minAvailable", 0) and pdb["spec"]["minAvailable"] >= w["spec"].get("replicas", 1):
                out.append(f"{name_of(pdb)}: minAvailable {pdb['spec']['minAvailable']} >= replicas of {name_of(w)}: no pod could ever be evicted")
    return out


def cmd_wiring(path):
    docs = load_docs([path])
    out = wiring_findings(docs)
    print("\n".join(out) or f"{len(docs)} objects: Services, monitors, policies and volumes point at what exists")
    return 1 if out else 0


# ------------------------------------------------------------------------------ exporter config
def cmd_exporter_config(binary, path, out, fallback=None):
    docs = load_docs([path])
    errors = []
    deps = [d for d in docs if d.get("kind") == "Deployment"]
    container = None
    for d in deps:
        for _, c in all_containers(pod_spec(d)):
            if any(str(a).startswith("--config") for a in c.get("args") or []):
                container, dep = c, d
    if container is None:
        print("no container runs the exporter with --config")
        return 1
    spec = pod_spec(dep)
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    by_ref = {(d["kind"], d["metadata"]["name"]): d for d in docs if d.get("kind") in ("ConfigMap", "Secret")}
    root = tempfile.mkdtemp(dir=out)
    args = list(container["args"])
    config_path = None
    for m in container.get("volumeMounts") or []:
        v = volumes[m["name"]]
        mount = m["mountPath"]
        if not mount.startswith("/"):
            errors.append(f"mount {mount} is not absolute")
            continue
        dest = root + mount
        os.makedirs(dest, exist_ok=True)
        if "configMap" in v:
            obj = by_ref.get(("ConfigMap", v["configMap"]["name"]))
            data = (obj or {}).get("data") or {}
        elif "secret" in v:
            obj = by_ref.get(("Secret", v["secret"]["secretName"]))
            data = dict((obj or {}).get("stringData") or {})
        else:
            continue
        if obj is None:
            # A Secret the user creates: stand-ins of the keys the config reads from it.
            data = {}
        for key, text in data.items():
            with open(os.path.join(dest, key), "w") as f:
                f.write(text)
    for i, a in enumerate(args):
        if a.startswith("--config="):
            config_path = a.split("=", 1)[1]
            args[i] = "--config=" + root + config_path
        elif a == "--config" and i + 1 < len(args):
            config_path = args[i + 1]
            args[i + 1] = root + config_path
    if config_path is None:
        print("exporter args lack --config=PATH")
        return 1
    local = root + config_path
    if not os.path.exists(local):
        if fallback is None:
            print(f"{config_path} comes from a ConfigMap/Secret not rendered here; give a stand-in file")
            return 1
        with open(fallback) as f:
            text = f.read()
        with open(local, "w") as f:
            f.write(text)
        print(f"note: {config_path} is the user's; checked with {fallback} in its place")
    text = open(local).read()
    mounts = sorted({m["mountPath"].rstrip("/") + "/" for m in container.get("volumeMounts") or []}, key=len, reverse=True)
    for mount in mounts:
        text = re.sub(r'(["\'])' + re.escape(mount), lambda m: m.group(1) + root + mount, text)
    with open(local, "w") as f:
        f.write(text)
    # Every file the configuration names under a mount gets a stand-in unless the rendered
    # ConfigMap/Secret provided it: a password, a token, or a real PEM certificate/key made by
    # openssl, so the binary reads the kind of file it would read in the pod.
    for mount in mounts:
        for ref in sorted(set(re.findall(re.escape(root + mount) + r'[^"\']+', text))):
            if os.path.exists(ref):
                continue
            os.makedirs(os.path.dirname(ref), exist_ok=True)
            if ref.endswith((".crt", ".pem", ".key")):
                make_pem(ref)
            else:
                with open(ref, "w") as f:
                    f.write("stand-in-secret\n")
    # An empty network namespace: the binary resolves and dials nothing outside this process, so
    # `check` fails to reach Milvus at once (exit 1) and only a configuration error gives exit 2.
    cmd = ["unshare", "--net", binary] + args + ["check"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        print(f"timeout: {' '.join(cmd)}")
        return 1
    shown = " ".join(a.replace(root, "") for a in args)
    if p.returncode != 1:
        print(f"milvus_exporter {shown} check: exit {p.returncode}, want 1 (config accepted, Milvus unreachable)")
        print(p.stderr.strip()[-2000:])
        print(p.stdout.strip()[-2000:])
        return 1
    verdict = next((l.strip() for l in p.stdout.splitlines() if "milvus" in l.lower()), "")
    print(f"milvus_exporter {shown} check: exit 1 (config accepted; Milvus unreachable in an empty network namespace: {verdict})")
    return 0


def make_pem(path):
    base = os.path.splitext(path)[0]
    key = base + ".key"
    crt = base + ".crt"
    if not os.path.exists(key) or not os.path.exists(crt):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-keyout", key, "-out", crt, "-days", "1", "-subj", "/CN=milvus.internal"],
                       check=True, capture_output=True)
    if not os.path.exists(path):
        with open(crt) as src, open(path, "w") as dst:
            dst.write(src.read())


def cmd_component_config(base, component):
    """The component's config.toml replaces the base's whole: it must start with it."""
    def toml_of(path):
        for doc in load_docs([path]):
            if doc.get("kind") == "ConfigMap" and "config.toml" in (doc.get("data") or {}):
                return doc["data"]["config.toml"]
        raise SystemExit(f"{path}: no ConfigMap with config.toml")
    a, b = toml_of(base), toml_of(component)
    if not b.startswith(a):
        print(f"{component}'s config.toml does not start with {base}'s: copy the base's again, then its [[targets]]")
        return 1
    print(f"the component's config.toml is the base's plus {len(b) - len(a)} bytes of [[targets]]")
    return 0


# ------------------------------------------------------------------------------ PrometheusRule
def cmd_prometheusrule_render(header_file, rules):
    """The header of HEADER_FILE up to `spec:`, then the groups of each rules file, indented,
    with their comments (a YAML dump would drop them)."""
    head = []
    for line in open(header_file).read().split("\n"):
        head.append(line)
        if line.rstrip() == "spec:":
            break
    else:
        print(f"{header_file}: no 'spec:' line", file=sys.stderr)
        return 1
    body = []
    for i, path in enumerate(rules):
        lines = open(path).read().rstrip("\n").split("\n")
        start = next(n for n, l in enumerate(lines) if l.startswith("groups:"))
        lines = lines[start + (0 if i == 0 else 1):]
        body += ["  " + l if l.strip() else l for l in lines]
    print("\n".join(head + body))
    return 0


# ------------------------------------------------------------------------------ scrape config
if yaml is not None:
    class NoAliasDumper(yaml.SafeDumper):
        """Writes repeated lists out in full, as the operator does (no &id001 anchors)."""
        def ignore_aliases(self, data):
            return True


def operator_scrape_config(sm, ep_index, namespace):
    """The scrape_config the Prometheus Operator generates for one ServiceMonitor endpoint
    (pkg/prometheus/promcfg.go, generateServiceMonitorConfig: role endpoints, the default
    "Relabel" selector mechanism, no scrape class), less its three sharding rules (__tmp_hash),
    which keep every target when Prometheus runs one shard."""
    ep = sm["spec"]["endpoints"][ep_index]
    meta = sm["metadata"]
    job = {
        "job_name": f"serviceMonitor/{meta.get('namespace', namespace)}/{meta['name']}/{ep_index}",
        "honor_labels": ep.get("honorLabels", False),
        "kubernetes_sd_configs": [{"role": "endpoints",
                                   "namespaces": {"names": sm["spec"]["namespaceSelector"]["matchNames"]}}],
    }
    for src, dst in (("interval", "scrape_interval"), ("scrapeTimeout", "scrape_timeout"),
                     ("path", "metrics_path"), ("params", "params"), ("scheme", "scheme")):
        if ep.get(src):
            job[dst] = ep[src]
    target = ["__meta_kubernetes_endpoint_address_target_kind", "__meta_kubernetes_endpoint_address_target_name"]
    relabel = [{"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"}]
    for k, v in sorted(sm["spec"]["selector"].get("matchLabels", {}).items()):
        name = re.sub(r"[^a-zA-Z0-9_]", "_", k)
        relabel.append({"action": "keep",
                        "source_labels": [f"__meta_kubernetes_service_label_{name}", f"__meta_kubernetes_service_labelpresent_{name}"],
                        "regex": f"({v});true"})
    relabel += [
        {"action": "keep", "source_labels": ["__meta_kubernetes_endpoint_port_name"], "regex": ep["port"]},
        {"source_labels": target, "separator": ";", "regex": "Node;(.*)", "replacement": "${1}", "target_label": "node"},
        {"source_labels": target, "separator": ";", "regex": "Pod;(.*)", "replacement": "${1}", "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
    ]
    if ep.get("filterRunning", True):
        relabel.append({"action": "drop", "source_labels": ["__meta_kubernetes_pod_phase"], "regex": "(Failed|Succeeded)"})
    relabel.append({"source_labels": ["__meta_kubernetes_service_name"], "target_label": "job", "replacement": "${1}"})
    if sm["spec"].get("jobLabel"):
        name = re.sub(r"[^a-zA-Z0-9_]", "_", sm["spec"]["jobLabel"])
        relabel.append({"source_labels": [f"__meta_kubernetes_service_label_{name}"], "target_label": "job",
                        "regex": "(.+)", "replacement": "${1}"})
    relabel.append({"target_label": "endpoint", "replacement": ep["port"]})
    for r in ep.get("relabelings") or []:
        out = {}
        for a, b in (("sourceLabels", "source_labels"), ("separator", "separator"), ("targetLabel", "target_label"),
                     ("regex", "regex"), ("modulus", "modulus"), ("replacement", "replacement")):
            if r.get(a) not in (None, "", []):
                out[b] = r[a]
        if r.get("action"):
            out["action"] = r["action"].lower()
        relabel.append(out)
    job["relabel_configs"] = relabel
    if ep.get("metricRelabelings"):
        job["metric_relabel_configs"] = ep["metricRelabelings"]
    return job


def cmd_operator_scrape_config(manifests):
    """Prints the scrape_configs the operator would make of every rendered ServiceMonitor."""
    sms = [d for d in load_docs([manifests]) if d.get("kind") == "ServiceMonitor"]
    jobs = [operator_scrape_config(sm, i, sm["metadata"].get("namespace"))
            for sm in sms for i in range(len(sm["spec"]["endpoints"]))]
    print(yaml.dump({"scrape_configs": jobs}, Dumper=NoAliasDumper, sort_keys=False, width=120), end="")
    return 0


def cmd_scrape_config(doc_path, manifests, out):
    """docs/helm.md's documented scrape_configs must equal what the operator makes of the
    rendered ServiceMonitors (same jobs, params, relabelings), and pass promtool."""
    text = open(doc_path).read()
    m = re.search(r"<!-- scrape-config -->\s*```yaml\n(.*?)```", text, re.S)
    if not m:
        print(f"{doc_path}: no ```yaml block after <!-- scrape-config -->")
        return 1
    documented = yaml.safe_load(m.group(1))
    sms = [d for d in load_docs([manifests]) if d.get("kind") == "ServiceMonitor"]
    generated = []
    for sm in sms:
        for i in range(len(sm["spec"]["endpoints"])):
            generated.append(operator_scrape_config(sm, i, sm["metadata"].get("namespace")))
    # For promtool: Debian's Prometheus is built without Kubernetes service discovery, so the
    # copy it checks discovers one static target instead; everything else is as documented.
    import copy
    static = copy.deepcopy(documented["scrape_configs"])
    for j in static:
        j.pop("kubernetes_sd_configs", None)
        j["static_configs"] = [{"targets": ["exporter:9727"]}]
    with open(out, "w") as f:
        yaml.safe_dump({"scrape_configs": static}, f, sort_keys=False)
    doc_jobs = {j["job_name"]: j for j in documented["scrape_configs"]}
    errors = []
    for g in generated:
        d = doc_jobs.get(g["job_name"])
        if d is None:
            errors.append(f"{g['job_name']}: not documented")
            continue
        for key in g:
            if d.get(key) != g[key]:
                errors.append(f"{g['job_name']}: {key}: documented {json.dumps(d.get(key))}, operator makes {json.dumps(g[key])}")
    for name in doc_jobs.keys() - {g["job_name"] for g in generated}:
        errors.append(f"{name}: documented but not rendered")
    print("\n".join(errors) or f"{len(generated)} scrape jobs documented as the operator generates them")
    return 1 if errors else 0


# ------------------------------------------------------------------------------ self-test
def cmd_self_test():
    """Each checker must fail on a known-bad object; otherwise a green run would mean nothing."""
    good = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "labels": {"a": "b"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}}, "template": {
            "metadata": {"labels": {"a": "b"}},
            "spec": {"serviceAccountName": "x", "automountServiceAccountToken": False,
                     "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [{"name": "c", "image": "milvus_exporter:0.1.0", "ports": [{"name": "metrics", "containerPort": 1}],
                                     "resources": {"requests": {"memory": "1Mi"}, "limits": {"memory": "1Mi"}},
                                     "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                                         "capabilities": {"drop": ["ALL"]}}}]}}}}
    import copy
    failures = []
    if pss_findings(good):
        failures.append(f"pss: good pod has findings {pss_findings(good)}")
    bads = {
        "seccomp unset": lambda s: s["securityContext"].pop("seccompProfile"),
        "runAsNonRoot unset": lambda s: s["securityContext"].pop("runAsNonRoot"),
        "escalation allowed": lambda s: s["containers"][0]["securityContext"].pop("allowPrivilegeEscalation"),
        "caps not dropped": lambda s: s["containers"][0]["securityContext"].pop("capabilities"),
        "cap added": lambda s: s["containers"][0]["securityContext"]["capabilities"].update(add=["NET_ADMIN"]),
        "hostPath": lambda s: s.update(volumes=[{"name": "h", "hostPath": {"path": "/"}}]),
        "hostNetwork": lambda s: s.update(hostNetwork=True),
        "privileged": lambda s: s["containers"][0]["securityContext"].update(privileged=True),
        "root user": lambda s: s["containers"][0]["securityContext"].update(runAsUser=0),
        "init container unconfined": lambda s: s.update(initContainers=[{"name": "i", "image": "i"}]),
    }
    for what, mutate in bads.items():
        bad = copy.deepcopy(good)
        mutate(bad["spec"]["template"]["spec"])
        if not pss_findings(bad):
            failures.append(f"pss: {what} not caught")
    if policy_findings(good, [good]):
        failures.append(f"policy: good pod has findings {policy_findings(good, [good])}")
    for what, mutate in {
        "token mounted": lambda s: s.pop("automountServiceAccountToken"),
        "default SA": lambda s: s.pop("serviceAccountName"),
        "writable root": lambda s: s["containers"][0]["securityContext"].pop("readOnlyRootFilesystem"),
        "no memory limit": lambda s: s["containers"][0]["resources"].pop("limits"),
    }.items():
        bad = copy.deepcopy(good)
        mutate(bad["spec"]["template"]["spec"])
        if not policy_findings(bad, [bad]):
            failures.append(f"policy: {what} not caught")
    sm = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
          "metadata": {"name": "s", "labels": {"release": "other"}},
          "spec": {"selector": {"matchLabels": {"a": "b"}}, "endpoints": [{"port": "nope"}]}}
    if not release_findings("kps", [sm])[1]:
        failures.append("release-label: a wrong release label not caught")
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "labels": {"a": "b"}},
           "spec": {"selector": {"a": "c"}, "ports": [{"name": "metrics", "port": 1, "targetPort": "metrics"}]}}
    found = wiring_findings([good, svc, sm])
    if not any("selects no pod" in f for f in found) or not any("no Service port" in f for f in found):
        failures.append(f"wiring: a Service selecting nothing / a wrong port not caught: {found}")
    print("\n".join(failures) or "self-test: pss, policy, release-label and wiring each catch their bad objects")
    return 1 if failures else 0


def cmd_crd_self_test(node_modules):
    decls = Decls(node_modules)
    sm = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "s"},
          "spec": {"selector": {"matchLabels": {"a": "b"}},
                   "endpoints": [{"port": "m", "relabeling": [], "relabelings": [{"targetLabel": "job", "replacment": "x"}]}]}}
    errors = []
    decls.check(sm, operator_dts(node_modules, sm), "ServiceMonitor/s", errors)
    want = {"ServiceMonitor/s.spec.endpoints[0].relabeling", "ServiceMonitor/s.spec.endpoints[0].relabelings[0].replacment"}
    got = {e.split(":")[0] for e in errors}
    if got != want:
        print(f"crd-strict self-test: want findings {sorted(want)}, got {sorted(got)}")
        return 1
    print("crd-strict self-test: both misspelt fields caught")
    return 0


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    cmd, args = argv[1], argv[2:]
    table = {
        "render": lambda: cmd_render(*args),
        "k8s-schemas": lambda: cmd_k8s_schemas(args[0], args[1:]),
        "crd-strict": lambda: cmd_crd_strict(args[0], args[1:]),
        "crd-self-test": lambda: cmd_crd_self_test(args[0]),
        "pss": lambda: cmd_pss(args),
        "policy": lambda: cmd_policy(args),
        "release-label": lambda: cmd_release_label(args[0], args[1], args[2:]),
        "release-label-values": lambda: cmd_release_label_values(args[0], args[1]),
        "component-config": lambda: cmd_component_config(args[0], args[1]),
        "wiring": lambda: cmd_wiring(args[0]),
        "exporter-config": lambda: cmd_exporter_config(*args),
        "prometheusrule-render": lambda: cmd_prometheusrule_render(args[0], args[1:]),
        "scrape-config": lambda: cmd_scrape_config(*args),
        "operator-scrape-config": lambda: cmd_operator_scrape_config(args[0]),
        "self-test": cmd_self_test,
    }
    if cmd not in table:
        print(f"unknown subcommand {cmd}\n{__doc__}")
        return 2
    return table[cmd]()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
