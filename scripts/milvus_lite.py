#!/usr/bin/env python3
"""Helper CLI for a Milvus Lite server used by milvus_exporter's demo and tests.

Run it with the repo venv's python (see scripts/venv.sh):

    .venv/bin/python scripts/milvus_lite.py wait  --uri http://127.0.0.1:19530 --timeout 60
    .venv/bin/python scripts/milvus_lite.py seed  --uri http://127.0.0.1:19530 --profile test
    .venv/bin/python scripts/milvus_lite.py list  --uri http://127.0.0.1:19530
    .venv/bin/python scripts/milvus_lite.py bulk  --uri http://127.0.0.1:19530 --count 500 --prefix bulk_

Profiles `test` and `demo` create, in database `default`:
    docs     dim 8, 100 rows, flushed, loaded
    faq      dim 8,  20 rows, loaded
    archive  dim 8,   5 rows, released (load state NotLoad)
Vectors are deterministic; re-seeding drops and recreates the collections.
"""

from __future__ import annotations

import argparse
import sys
import time

DIM = 8
DB_NAME = "default"

# name -> (rows, flush, loaded)
PROFILES = {
    "test": [
        ("docs", 100, True, True),
        ("faq", 20, False, True),
        ("archive", 5, False, False),
    ],
}
PROFILES["demo"] = PROFILES["test"]


def die(msg: str, code: int = 1) -> None:
    print(f"milvus_lite.py: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(code)


def import_pymilvus():
    try:
        import pymilvus  # noqa: F401
        from pymilvus import DataType, MilvusClient
    except Exception as exc:  # pragma: no cover - environment problem
        die(
            f"cannot import pymilvus ({exc}); run scripts/venv.sh and use "
            f"its python (this is {sys.executable})"
        )
    return MilvusClient, DataType


def connect(uri: str, timeout: float = 10.0, db_name: str = DB_NAME):
    MilvusClient, _ = import_pymilvus()
    try:
        return MilvusClient(uri=uri, db_name=db_name, timeout=timeout)
    except Exception as exc:
        die(f"cannot connect to Milvus at {uri}: {type(exc).__name__}: {exc}")


def vector(i: int, j: int, dim: int) -> list[float]:
    """Deterministic vector component values: no randomness."""
    return [((i * 31 + j * 7 + k * 13) % 97) / 97.0 for k in range(dim)]


def load_state_name(state) -> str:
    """get_load_state() returns {'state': <LoadState.Loaded: 3>} -> 'Loaded'."""
    if isinstance(state, dict):
        state = state.get("state", state)
    name = getattr(state, "name", None)
    if name:
        return name
    text = str(state)
    if "." in text:
        text = text.rsplit(".", 1)[-1]
    return text.strip("<>").split(":")[0]


def create_collection(client, DataType, name: str, dim: int, with_index: bool = True):
    """Create `name` with an int64 pk, a float vector and a varchar field.

    The FLAT index is created with sync=False: pymilvus' synchronous
    create_index polls the index state with a fixed 0.5 s sleep, which would
    make `bulk` take minutes; Milvus Lite builds the index immediately anyway.
    """
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("title", DataType.VARCHAR, max_length=64)
    client.create_collection(collection_name=name, schema=schema)
    if with_index:
        index_params = client.prepare_index_params()
        index_params.add_index(field_name="vector", index_type="FLAT", metric_type="L2")
        client.create_index(name, index_params, sync=False)


def cmd_seed(args) -> int:
    _, DataType = import_pymilvus()
    profile = PROFILES[args.profile]
    client = connect(args.uri, timeout=args.timeout)
    step = "list_collections"
    try:
        existing = set(client.list_collections())
        for name, rows, flush, loaded in profile:
            step = f"drop {name}"
            if name in existing:
                client.drop_collection(name)
            step = f"create {name}"
            create_collection(client, DataType, name, DIM)
            if rows:
                step = f"insert into {name}"
                data = [
                    {"id": i, "vector": vector(i, len(name), DIM), "title": f"{name}-{i}"}
                    for i in range(rows)
                ]
                res = client.insert(collection_name=name, data=data)
                count = res.get("insert_count") if isinstance(res, dict) else None
                if count is not None and count != rows:
                    raise RuntimeError(f"inserted {count} rows into {name}, wanted {rows}")
            if flush:
                step = f"flush {name}"
                client.flush(name)
            step = f"load {name}"
            client.load_collection(name)
            if not loaded:
                step = f"release {name}"
                client.release_collection(name)

        failures = []
        for name, rows, _flush, loaded in profile:
            step = f"read back {name}"
            state = load_state_name(client.get_load_state(name))
            stats = client.get_collection_stats(name)
            row_count = int(stats.get("row_count", -1))
            want_state = "Loaded" if loaded else "NotLoad"
            print(
                f"{DB_NAME}.{name}: load_state={state} row_count={row_count}",
                flush=True,
            )
            if state != want_state:
                failures.append(f"{name}: load_state {state}, wanted {want_state}")
            if row_count != rows:
                failures.append(f"{name}: row_count {row_count}, wanted {rows}")
        if failures:
            die("seed read-back mismatch: " + "; ".join(failures))
    except SystemExit:
        raise
    except Exception as exc:
        die(f"seed failed at step '{step}' against {args.uri}: {type(exc).__name__}: {exc}")
    finally:
        try:
            client.close()
        except Exception:
            pass
    return 0


def cmd_wait(args) -> int:
    MilvusClient, _ = import_pymilvus()
    deadline = time.monotonic() + args.timeout
    last = "no attempt made"
    attempt = 0
    while True:
        attempt += 1
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        client = None
        try:
            client = MilvusClient(uri=args.uri, timeout=max(1.0, min(5.0, remaining)))
            version = client.get_server_version()
            client.list_collections()
            if not args.quiet:
                print(f"Milvus at {args.uri} is up (server version {version})", flush=True)
            return 0
        except Exception as exc:
            last = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        finally:
            if client is not None:
                try:
                    client.close()
                except Exception:
                    pass
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    print(
        f"milvus_lite.py: error: Milvus at {args.uri} did not answer within "
        f"{args.timeout:g}s ({attempt - 1} attempts; last error: {last})",
        file=sys.stderr,
        flush=True,
    )
    return 1


def cmd_list(args) -> int:
    client = connect(args.uri, timeout=args.timeout)
    try:
        for name in sorted(client.list_collections()):
            state = load_state_name(client.get_load_state(name))
            stats = client.get_collection_stats(name)
            print(
                f"{DB_NAME}.{name}: load_state={state} row_count={int(stats.get('row_count', -1))}",
                flush=True,
            )
    except Exception as exc:
        die(f"list failed against {args.uri}: {type(exc).__name__}: {exc}")
    finally:
        client.close()
    return 0


def cmd_bulk(args) -> int:
    _, DataType = import_pymilvus()
    client = connect(args.uri, timeout=args.timeout)
    start = time.monotonic()
    deadline = start + args.max_seconds
    try:
        existing = set(client.list_collections())
        width = max(4, len(str(args.count)))
        for i in range(args.count):
            if time.monotonic() > deadline:
                die(
                    f"bulk: created only {i} of {args.count} collections within "
                    f"{args.max_seconds:g}s"
                )
            name = f"{args.prefix}{i:0{width}d}"
            if name in existing:
                client.drop_collection(name)
            create_collection(client, DataType, name, 2)
            if not args.no_load:
                client.load_collection(name)
            done = i + 1
            if done % 100 == 0 or done == args.count:
                print(
                    f"bulk: {done}/{args.count} collections "
                    f"({time.monotonic() - start:.1f}s)",
                    flush=True,
                )
    except SystemExit:
        raise
    except Exception as exc:
        die(f"bulk failed against {args.uri}: {type(exc).__name__}: {exc}")
    finally:
        client.close()
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="milvus_lite.py", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("seed", help="(re)create the fixture collections")
    s.add_argument("--uri", required=True)
    s.add_argument("--profile", choices=sorted(PROFILES), default="test")
    s.add_argument("--timeout", type=float, default=30.0, help="per-RPC timeout, seconds")
    s.set_defaults(func=cmd_seed)

    w = sub.add_parser("wait", help="wait until the server answers")
    w.add_argument("--uri", required=True)
    w.add_argument("--timeout", type=float, default=60.0, help="total seconds to wait")
    w.add_argument("--quiet", action="store_true")
    w.set_defaults(func=cmd_wait)

    li = sub.add_parser("list", help="print every collection with load state and row count")
    li.add_argument("--uri", required=True)
    li.add_argument("--timeout", type=float, default=30.0)
    li.set_defaults(func=cmd_list)

    b = sub.add_parser("bulk", help="create many small collections")
    b.add_argument("--uri", required=True)
    b.add_argument("--count", type=int, required=True)
    b.add_argument("--prefix", default="bulk_")
    b.add_argument("--no-load", action="store_true", help="leave them unloaded")
    b.add_argument("--timeout", type=float, default=30.0, help="per-RPC timeout, seconds")
    b.add_argument("--max-seconds", type=float, default=600.0, help="give up after this long")
    b.set_defaults(func=cmd_bulk)

    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
