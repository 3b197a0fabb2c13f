#!/usr/bin/env python3
"""Summary and verdict of scripts/soak.sh: prints the request counts and exits 1 on a failure.

    soak_summary.py LOAD.json RSS_WARM_KIB RSS_END_KIB RSS_GROWTH_PCT EXPORTER_EXIT
"""
import json, sys
data = json.load(open(sys.argv[1]))
warm, end, pct, exit_code = int(sys.argv[2] or 0), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
total = sum(c for _, _, c in data["counts"])
print(f"requests: {total} sent ({data['sent']} started)")
for path, status, c in data["counts"]:
    print(f"  {path:<10} {status:<28} {c}")
print("worst latency: " + ", ".join(f"{p} {s*1000:.0f} ms" for p, s in sorted(data["worst_seconds"].items())))
problems = []
bad_healthz = sum(c for p, s, c in data["counts"] if p == "/healthz" and s != "200")
bad_metrics = sum(c for p, s, c in data["counts"] if p == "/metrics" and (s.startswith("5") or s.startswith("error")))
if bad_healthz:
    problems.append(f"{bad_healthz} /healthz answers were not 200")
if bad_metrics:
    problems.append(f"{bad_metrics} /metrics answers were 5xx or failed")
if warm and end > warm * (100 + pct) / 100:
    problems.append(f"RSS grew {100 * (end - warm) / warm:.1f}% after warm-up (limit {pct}%)")
if exit_code != 0:
    problems.append(f"exporter exited {exit_code} on SIGTERM")
if total == 0:
    problems.append("no requests were made")
if problems:
    print("SOAK FAILED: " + "; ".join(problems))
    sys.exit(1)
growth = 100 * (end - warm) / warm if warm else 0.0
print(f"SOAK PASSED: RSS growth after warm-up {growth:+.1f}%, every /healthz 200, no /metrics 5xx")
