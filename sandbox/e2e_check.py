"""The sandbox shop's own end-to-end test, as a user's `[[smoke]] run` command runs it:

    python e2e_check.py URL

It browses the idle host at URL like a customer would: the home page welcomes,
names a version and the release it runs, and that release is what /version answers.
Exit 0 when every check passes; each check prints one line.
"""
from __future__ import annotations

import re
import sys
import urllib.request


def get(url: str) -> tuple[int, str]:
    headers = {"Connection": "close", "User-Agent": "shop-e2e"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 # main() takes http URLs only
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 # nosec B310 # the sandbox's http URL
            return resp.status, resp.read(65536).decode("utf-8", "replace")
    except OSError as exc:
        return 0, str(exc)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].startswith("http"):
        print("usage: e2e_check.py URL", file=sys.stderr)
        return 2
    base = argv[1].rstrip("/")
    failures = 0

    def check(name: str, ok: bool, detail: str) -> None:
        nonlocal failures
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")

    status, home = get(base + "/")
    check("home page welcomes", status == 200 and "Welcome" in home, f"HTTP {status}, {home[:60]!r}")
    shown = re.search(r"version (\S+) \(([0-9a-f]{7})\)", home)
    check("home page names its release", shown is not None, shown.group(0) if shown else "no version")
    status, release = get(base + "/version")
    same = bool(shown) and release.strip().startswith(shown.group(2) if shown else "-")
    check("/version is the release the page shows", status == 200 and same,
          f"HTTP {status}, {release.strip()[:12]!r}")
    print(f"{failures} of 3 checks failed" if failures else "all 3 checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
