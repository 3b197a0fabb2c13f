#!/usr/bin/env python3
"""Smoke check of scripts/venv.sh, run with the venv's python: pymilvus and milvus_lite import
and every NAME==VERSION pin given is the installed version.

    venv_check.py NAME==VERSION...
"""
import sys
from importlib.metadata import version
import pymilvus, milvus_lite  # noqa: F401
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    got = version(name)
    if got != want:
        sys.exit(f"venv.sh: {name} is {got}, wanted {want}")
print("venv.sh: ok: " + ", ".join(sys.argv[1:]))
