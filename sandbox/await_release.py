"""Deploy step of the sandbox: wait until a host's home page shows a release.

gunicorn's HUP returns at once while new workers boot; this step makes the
deploy wait until the host really serves the new sha (as a production reload
script would), so health and smoke test the new release, not the old one.

Usage: python await_release.py HOSTS_JSON COLOUR SHA [TIMEOUT_S]
"""
from __future__ import annotations

import json
import sys
import time
import urllib.request


def main(argv: list[str]) -> int:
    hosts_file, colour, sha = argv[1], argv[2], argv[3]
    timeout = float(argv[4]) if len(argv) > 4 else 20.0
    with open(hosts_file, encoding="utf-8") as f:
        url = json.load(f)[colour]
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(url + "/", headers={"Connection": "close"})  # noqa: S310
            with urllib.request.urlopen(req, timeout=2) as resp:  # noqa: S310 # nosec B310 # the sandbox's own http URL
                body = resp.read(4096).decode("utf-8", "replace")
            if f"({sha[:7]})" in body:
                print(f"{url} serves {sha[:7]}")
                return 0
            last = body.splitlines()[0] if body else "empty page"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    print(f"{url} still does not serve {sha[:7]} after {timeout:g}s (last: {last})", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
