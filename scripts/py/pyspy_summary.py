#!/usr/bin/env python3
"""Summary of a py-spy raw (folded) profile of Milvus Lite, for scripts/bench.sh scenario 3:
where the GIL-holding thread spends its samples (Lite's handlers, gRPC's dispatch thread, the
worker-pool hand-offs) and how many cores the server used. Writes the full profile to OUT and
prints one line for the results table.

    pyspy_summary.py FOLDED PYSPY_LOG T0 T1 CPU0_TICKS CPU1_TICKS CLK_TCK OUT
"""
import collections, re, sys
folded, log, t0, t1, c0, c1, hz, out = sys.argv[1:9]
wall = float(t1) - float(t0)
cores = (float(c1) - float(c0)) / float(hz) / wall
total, parts, handlers, leaves = 0, collections.Counter(), collections.Counter(), collections.Counter()
for line in open(folded):
    stack, _, count = line.rstrip("\n").rpartition(" ")
    if not count.isdigit():
        continue
    n = int(count)
    total += n
    frames = stack.split(";")
    handler = next((f.split(" ")[0] for f in frames if "MilvusServicer." in f), None)
    if handler:
        part = "Milvus Lite's own handlers"
        handlers[handler.split(".")[1]] += n
    elif any(f.startswith("_serve ") for f in frames):
        part = "gRPC's single dispatch thread (grpc._server._serve)"
    else:
        part = "gRPC worker-pool hand-offs (queues, locks, status)"
    parts[part] += n
    leaves[frames[-1]] += n
pct = lambda n: 100 * n / max(total, 1)
lines = [f"Milvus Lite during {wall:.1f} s of refreshes at concurrency 16: {cores:.2f} cores of CPU; "
         f"{total} samples of the thread holding the GIL."]
lines += [f"  {pct(n):5.1f}%  {p}" for p, n in parts.most_common()]
lines.append("Handlers:")
lines += [f"  {pct(n):5.1f}%  {h}" for h, n in handlers.most_common(8)]
lines.append("Innermost frames:")
lines += [f"  {pct(n):5.1f}%  {f}" for f, n in leaves.most_common(12)]
open(out, "w").write("\n".join(lines) + "\n")
top = "; ".join(f"{p} {pct(n):.0f}%" for p, n in parts.most_common())
hs = ", ".join(f"{h} {pct(n):.0f}%" for h, n in handlers.most_common(3))
print(f"{cores:.2f} cores busy; of {total} GIL-held samples: {top} ({hs})")
