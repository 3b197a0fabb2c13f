#!/usr/bin/env python3
"""Validates Grafana dashboards against Grafana's dashboard JSON schema (made by
scripts/grafana_schema.sh from the npm package @grafana/schema). Needs `jsonschema`
(scripts/tools_venv.sh mixin).

    dashboard_schema.py SCHEMA DASHBOARD.json...

Before the dashboards, it shows the schema rejects what it must: each dashboard broken in one
way (an unknown key, a wrong type, a bad enum value, a missing required key) has to fail,
else the schema proves nothing. Prints one line per problem and a summary; exits 1 on any.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path


def errors(validator, d) -> list[str]:
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message[:300]}"
            for e in sorted(validator.iter_errors(d), key=lambda e: list(e.absolute_path))]


BREAKERS = [
    ("unknown dashboard key", lambda d: d.update(editabel=False)),
    ("editable not a boolean", lambda d: d.update(editable="no")),
    ("unknown panel key", lambda d: d["panels"][0].update(unitt="s")),
    ("bad thresholds mode", lambda d: d["panels"][0]["fieldConfig"]["defaults"]["thresholds"].update(mode="relative-ish")),
    ("panel without type", lambda d: d["panels"][0].pop("type")),
    ("bad variable type", lambda d: d["templating"]["list"][0].update(type="dropdown")),
    ("gridPos width not a number", lambda d: d["panels"][0]["gridPos"].update(w="six")),
]


def main(argv: list[str]) -> int:
    import jsonschema

    if len(argv) < 2:
        sys.exit(__doc__)
    schema = json.loads(Path(argv[0]).read_text())
    validator = jsonschema.Draft7Validator(schema)
    problems = 0
    for path in argv[1:]:
        d = json.loads(Path(path).read_text())
        rejected = 0
        for name, breaker in BREAKERS:
            broken = copy.deepcopy(d)
            breaker(broken)
            if errors(validator, broken):
                rejected += 1
            else:
                problems += 1
                print(f"{path}: the schema accepts a dashboard with a {name}: it checks nothing there")
        errs = errors(validator, d)
        for e in errs:
            print(f"{path}: {e}")
        problems += len(errs)
        panels = sum(1 + len(p.get("panels", [])) for p in d.get("panels", []))
        print(f"{path}: {'valid' if not errs else f'{len(errs)} schema errors'} ({panels} panels, "
              f"{len(d.get('templating', {}).get('list', []))} variables; "
              f"{rejected} of {len(BREAKERS)} broken copies rejected)")
    n_defs = len(schema.get("definitions", {}))
    print(f"dashboard schema ({n_defs} definitions): {len(argv) - 1} dashboards, {problems} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
