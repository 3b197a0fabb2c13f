#!/usr/bin/env python3
"""Renders the monitoring mixin (mixin/mixin.libsonnet) into the files the repository ships,
or checks that the committed files are what the mixin renders.

    mixin.py build     writes prometheus/rules/milvus-alerts.yml and grafana/dashboards/*.json
    mixin.py check     exits 1 and prints a diff when a committed file differs from the mixin,
                       or when grafana/dashboards/ holds a dashboard the mixin does not make
    mixin.py render    prints the mixin's three outputs as one JSON object (for other scripts)

Needs the `jsonnet` and `PyYAML` packages (scripts/tools_venv.sh mixin; scripts/mixin.sh runs
this with that venv). Run from anywhere: paths are relative to the repository root.
"""

from __future__ import annotations

import difflib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "prometheus" / "rules" / "milvus-alerts.yml"
DASHBOARDS = ROOT / "grafana" / "dashboards"
HEADER = """\
# GENERATED from mixin/ by `scripts/mixin.sh build`: edit mixin/*.libsonnet, not this file
# (`scripts/mixin.sh check`, part of scripts/check_stack.sh, fails when the two differ).
#
# Recording rules (group milvus.recording, the mixin's prometheusRules) and alerting rules
# (milvus.alerts, its prometheusAlerts), with the mixin's default _config. Tests:
# prometheus/tests/milvus-alerts.test.yml; runbook: docs/runbook.md; how to build your own
# with another job selector or thresholds: docs/mixin.md.
"""

# Prometheus's own order of rule keys, for a file people read.
RULE_KEYS = ["record", "alert", "expr", "for", "labels", "annotations"]
ANNOTATION_KEYS = ["summary", "description", "runbook_url"]
GROUP_KEYS = ["name", "interval", "rules"]


def evaluate() -> dict:
    import _jsonnet

    snippet = (
        "local m = import 'mixin/mixin.libsonnet';\n"
        "{ prometheusAlerts: m.prometheusAlerts, prometheusRules: m.prometheusRules,"
        " grafanaDashboards: m.grafanaDashboards, _config: m._config }"
    )
    return json.loads(_jsonnet.evaluate_snippet("render", snippet, jpathdir=[str(ROOT)]))


def ordered(d: dict, keys: list[str]) -> dict:
    unknown = sorted(set(d) - set(keys))
    if unknown:
        raise ValueError(f"unexpected keys {unknown} in {d}")
    return {k: d[k] for k in keys if k in d}


def rules_yaml(out: dict) -> str:
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def str_rep(dumper, s):
        style = "|" if "\n" in s else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", s, style=style)

    Dumper.add_representer(str, str_rep)
    groups = []
    for g in out["prometheusRules"]["groups"] + out["prometheusAlerts"]["groups"]:
        rules = []
        for r in g["rules"]:
            r = ordered(r, RULE_KEYS)
            if "annotations" in r:
                r["annotations"] = ordered(r["annotations"], ANNOTATION_KEYS)
            rules.append(r)
        groups.append(ordered({**g, "rules": rules}, GROUP_KEYS))
    body = yaml.dump({"groups": groups}, Dumper=Dumper, sort_keys=False, width=100000,
                     default_flow_style=False, allow_unicode=True)
    return HEADER + body


def dashboard_json(d: dict) -> str:
    return json.dumps(d, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def wanted(out: dict) -> dict[Path, str]:
    files = {RULES: rules_yaml(out)}
    for name, d in out["grafanaDashboards"].items():
        files[DASHBOARDS / name] = dashboard_json(d)
    return files


def cmd_build() -> int:
    files = wanted(evaluate())
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        old = path.read_text() if path.exists() else None
        if old != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
        else:
            print(f"unchanged {path.relative_to(ROOT)}")
    for extra in sorted(set(DASHBOARDS.glob("*.json")) - set(files)):
        print(f"note: {extra.relative_to(ROOT)} is not made by the mixin (remove it or add it to mixin/)")
    return 0


def cmd_check() -> int:
    files = wanted(evaluate())
    bad = 0
    for path, text in files.items():
        rel = str(path.relative_to(ROOT))
        if not path.exists():
            print(f"{rel}: missing (run scripts/mixin.sh build)")
            bad += 1
            continue
        old = path.read_text()
        if old != text:
            bad += 1
            print(f"{rel}: differs from what the mixin renders (run scripts/mixin.sh build):")
            diff = list(difflib.unified_diff(old.splitlines(), text.splitlines(),
                                             f"{rel} (committed)", f"{rel} (mixin)", lineterm="", n=1))
            print("\n".join(diff[:60]) + ("\n    ..." if len(diff) > 60 else ""))
    for extra in sorted(set(DASHBOARDS.glob("*.json")) - set(files)):
        bad += 1
        print(f"{extra.relative_to(ROOT)}: a dashboard the mixin does not make")
    if bad:
        return 1
    print(f"{len(files)} generated files match mixin/ "
          f"({', '.join(str(p.relative_to(ROOT)) for p in files)})")
    return 0


def cmd_render() -> int:
    print(json.dumps(evaluate(), indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    cmds = {"build": cmd_build, "check": cmd_check, "render": cmd_render}
    if len(sys.argv) != 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    try:
        sys.exit(cmds[sys.argv[1]]())
    except RuntimeError as e:  # _jsonnet reports evaluation errors as RuntimeError
        sys.exit(f"mixin: jsonnet: {e}")
