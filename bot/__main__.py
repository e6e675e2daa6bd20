"""``python -m bot``: Socket Mode when $SLACK_APP_TOKEN is set, else HTTP under gunicorn.

    python -m bot [--mode auto|socket|http] [--config PATH] [--host 127.0.0.1] [--port $PORT]

Exit 2 when the configuration or the environment is incomplete, saying what is missing."""
from __future__ import annotations

import argparse
import logging
import os
import sys

from deploy_core.config import load
from deploy_core.errors import BluegreenError, UsageError

# slack_sdk's built-in Socket Mode client gives a connection up after five failed pings,
# one per ping interval: with Bolt's default (10 s) a dropped websocket left the bot deaf
# for about a minute; with 2 s it reconnects in about 11 s (tests/bot/test_faults_socket.py).
SOCKET_PING_S = 2.0
# slack_sdk's built-in client reads a websocket frame with one recursive call per recv of
# at most this many bytes: with its default (1024) a frame of about a megabyte exceeded
# Python's recursion limit and left the bot deaf (tests/bot/test_faults_socket.py), so an
# oversized payload never reached the size check (MAX_BODY). With 64 KiB per recv (over
# TLS, one record: at most 16 KiB) frames of many megabytes arrive and are refused.
SOCKET_RECEIVE_BYTES = 1 << 16


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("auto", "socket", "http"), default="auto",
                        help="auto: Socket Mode when $SLACK_APP_TOKEN is set")
    parser.add_argument("--config", help="bluegreen.toml (default $BLUEGREEN_CONFIG, ./bluegreen.toml)")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP mode listen address")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 3000))
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads (HTTP mode)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    env = os.environ
    socket = args.mode == "socket" or (args.mode == "auto" and bool(env.get("SLACK_APP_TOKEN")))
    try:
        if socket and not env.get("SLACK_APP_TOKEN"):
            raise UsageError("SLACK_APP_TOKEN is not set: Socket Mode needs the app-level "
                             "token (xapp-…)")
        config = load(args.config, env)
        from .app import create_app, start_background, web_client
        app = create_app(config, env, socket_mode=socket)
    except BluegreenError as exc:
        print(f"bluegreen bot: {exc}", file=sys.stderr)
        return exc.exit_code
    if socket:
        from .socket_mode import CheckedSocketModeHandler
        start_background(app)
        CheckedSocketModeHandler(app, env["SLACK_APP_TOKEN"], web_client=web_client(env),
                                 ping_interval=SOCKET_PING_S,
                                 receive_buffer_size=SOCKET_RECEIVE_BYTES).start()
        return 0
    # HTTP: one gunicorn worker (the background watcher lives in it), threads for requests.
    os.environ["BLUEGREEN_CONFIG"] = str(config.path)
    os.execvp(sys.executable, [sys.executable, "-m", "gunicorn", "--workers", "1",  # noqa: S606 # nosec B606 # argv list, our own interpreter
                               "--threads", str(args.threads), "--bind", f"{args.host}:{args.port}",
                               "--access-logfile", "-", "bot.wsgi:app"])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
