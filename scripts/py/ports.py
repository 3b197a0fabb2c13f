#!/usr/bin/env python3
"""Loopback port and HTTP helpers of scripts/lib.sh (any python3, standard library only).

    ports.py free                  prints a free TCP port on 127.0.0.1
    ports.py bindable PORT         exit 0 when 127.0.0.1:PORT can be bound (SO_REUSEADDR, like
                                   the servers themselves: TIME_WAIT leftovers don't count)
    ports.py get URL [SECONDS]     prints the body; exit 1 unless the answer is 2xx
    ports.py code URL [SECONDS]    prints the HTTP status, 000 when nothing answered
"""

import socket
import sys
import urllib.error
import urllib.request


def free() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()
    return 0


def bindable(port: str) -> int:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", int(port)))
    except OSError:
        return 1
    finally:
        s.close()
    return 0


def get(url: str, seconds: str = "5") -> int:
    try:
        with urllib.request.urlopen(url, timeout=float(seconds)) as r:
            sys.stdout.write(r.read().decode("utf-8", "replace"))
    except Exception as e:
        print(f"ports.py get {url}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


def code(url: str, seconds: str = "2") -> int:
    try:
        with urllib.request.urlopen(url, timeout=float(seconds)) as r:
            print(r.status)
    except urllib.error.HTTPError as e:
        print(e.code)
    except Exception:
        print("000")
    return 0


if __name__ == "__main__":
    cmds = {"free": free, "bindable": bindable, "get": get, "code": code}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    sys.exit(cmds[sys.argv[1]](*sys.argv[2:]))
