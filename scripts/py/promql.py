#!/usr/bin/env python3
"""The metric names a PromQL expression selects: the one extractor of the scripts.

Imported by scripts/py/stack_checks.py (scripts/check_stack.sh: rule and dashboard metric names
against the exporter's families) and scripts/live_stack.py (scripts/check_live_stack.sh: which
panels only the exporter's own /metrics can fill). Standard library only.

    python3 scripts/py/promql.py --self-test     checks the extractor on known expressions
    python3 scripts/py/promql.py 'EXPR'...       prints the names of each expression

Grafana variables may stay in the expression: `"$job"` is a string, `[$__rate_interval]` a range.
"""

from __future__ import annotations

import re
import sys

KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
            "group_right", "offset", "bool", "inf", "nan", "start", "end"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_NAME_MATCHER = re.compile(r'__name__\s*!?[=~]')
_MATCHERS = re.compile(r'\{[^{}]*\}')
_RANGE = re.compile(r'\[[^\[\]]*\]')
_GROUPING = re.compile(r'\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)')
_WORD = re.compile(r'(?<![\w.$:])([A-Za-z_:][\w:]*)')
_CALL = re.compile(r'\s*\(')


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects: strings, label matchers, ranges, grouping label
    lists, keywords and function names removed. A `__name__` matcher would hide a name, so it
    is an error (ValueError): every selected name must be visible."""
    e = _STRING.sub('""', expr)
    if _NAME_MATCHER.search(e):
        raise ValueError(f"__name__ matchers are not allowed (names must be visible): {expr}")
    e = _MATCHERS.sub(' ', e)
    e = _RANGE.sub(' ', e)
    e = _GROUPING.sub(' ', e)
    out = set()
    for m in _WORD.finditer(e):
        word = m.group(1)
        if word.lower() in KEYWORDS or _CALL.match(e, m.end()):
            continue
        out.add(word)
    return out


# (expression, names it selects); None: ValueError expected.
SELF_TEST = [
    ('sum by (x) (rate(milvus_foo_total[5m]))', {"milvus_foo_total"}),
    ('sum(rate(milvus_foo_total[5m])) by (job, instance)', {"milvus_foo_total"}),
    ('milvus_up{job="and or by rate", instance=~"sum(x) on (y)"} == 0', {"milvus_up"}),
    ("milvus_up{job='milvus_exporter unless bool'}", {"milvus_up"}),
    ('milvus_up{job=~"$job",instance=~"$instance"}', {"milvus_up"}),
    ('max by (instance) (milvus_readiness) == on(instance) group_left(version) milvus_server_info',
     {"milvus_readiness", "milvus_server_info"}),
    ('milvus_collection_loaded * ignoring(state) group_right milvus_collections',
     {"milvus_collection_loaded", "milvus_collections"}),
    ('milvus:readiness:ratio_5m < 0.5 and milvus:up:avg', {"milvus:readiness:ratio_5m", "milvus:up:avg"}),
    ('histogram_quantile(0.99, sum by (le) (rate(milvus_probe_duration_seconds_bucket{kind="search"}[$__rate_interval])))',
     {"milvus_probe_duration_seconds_bucket"}),
    ('absent(milvus_up{job="milvus_exporter"})', {"milvus_up"}),
    ('absent_over_time(milvus_exporter_build_info[10m]) or vector(0)', {"milvus_exporter_build_info"}),
    ('time() - milvus_exporter_cache_age_seconds offset 5m > bool 1e3', {"milvus_exporter_cache_age_seconds"}),
    ('label_replace(up, "dst", "$1", "src", "(.*)")', {"up"}),
    ('count(milvus_host_disk_percent) without (path) > +Inf', {"milvus_host_disk_percent"}),
    ('{__name__="milvus_up"}', None),
    ('{__name__=~"milvus_.*", job="x"}', None),
]


def self_test() -> int:
    failed = 0
    for expr, want in SELF_TEST:
        try:
            got = metric_names(expr)
        except ValueError as e:
            got = None
            err = str(e)
        if got == want:
            continue
        failed += 1
        print(f"FAIL {expr!r}: got {sorted(got) if got is not None else 'ValueError'}, want "
              f"{sorted(want) if want is not None else 'ValueError'}"
              + (f" ({err})" if got is None else ""))
    print(f"{len(SELF_TEST) - failed} of {len(SELF_TEST)} expressions give the expected metric names")
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(self_test())
    if not sys.argv[1:]:
        sys.exit(__doc__)
    for a in sys.argv[1:]:
        print(" ".join(sorted(metric_names(a))))
