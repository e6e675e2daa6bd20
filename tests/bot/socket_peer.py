"""Slack's end of Socket Mode for tests: a websocket server on 127.0.0.1 that sends
envelopes (a slash command, a button click) and collects the bot's acks."""
from __future__ import annotations

import base64
import hashlib
import itertools
import json
import socket
import struct
import threading
import time
from typing import Any

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class SocketPeer:
    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self._listener.getsockname()[1]}/link/?ticket=test"
        self._conn: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._cond = threading.Condition()
        self.acks: dict[str, dict] = {}
        self._ids = itertools.count(1)
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()
        if self._conn:
            self._conn.close()

    def wait_connected(self, timeout: float = 20) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self._conn is not None, timeout):
                raise AssertionError("the bot never opened its Socket Mode connection")

    def send(self, kind: str, payload: Any, accepts_response_payload: bool = True) -> str:
        """Send an envelope (Slack sets ``accepts_response_payload`` for slash commands)."""
        envelope_id = f"env-{next(self._ids)}"
        self._frame(0x1, json.dumps({"envelope_id": envelope_id, "type": kind, "payload": payload,
                                     "accepts_response_payload": accepts_response_payload,
                                     "retry_attempt": 0}).encode())
        return envelope_id

    def ack(self, envelope_id: str, timeout: float = 10) -> dict:
        with self._cond:
            if not self._cond.wait_for(lambda: envelope_id in self.acks, timeout):
                raise AssertionError(f"no ack for {envelope_id}")
            return self.acks[envelope_id]

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(4096)
        key = next(line.split(":", 1)[1].strip() for line in request.decode().split("\r\n")
                   if line.lower().startswith("sec-websocket-key:"))
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()  # noqa: S324 - the protocol's own hash
        conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        with self._cond:
            self._conn = conn
            self._cond.notify_all()
        self._frame(0x1, json.dumps({"type": "hello", "num_connections": 1}).encode())
        try:
            while True:
                opcode, data = _read_frame(conn)
                if opcode == 0x8:
                    return
                if opcode == 0x9:
                    self._frame(0xA, data)
                elif opcode == 0x1:
                    message = json.loads(data)
                    with self._cond:
                        self.acks[message.get("envelope_id", "")] = message.get("payload") or {}
                        self._cond.notify_all()
        except (OSError, ConnectionError):
            return

    def _frame(self, opcode: int, data: bytes) -> None:
        head = bytes([0x80 | opcode])
        if len(data) < 126:
            head += bytes([len(data)])
        elif len(data) < 65536:
            head += bytes([126]) + struct.pack(">H", len(data))
        else:
            head += bytes([127]) + struct.pack(">Q", len(data))
        deadline = time.monotonic() + 10
        while self._conn is None and time.monotonic() < deadline:
            time.sleep(0.01)
        with self._send_lock:
            assert self._conn is not None
            self._conn.sendall(head + data)


def _read_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _read_frame(conn: socket.socket) -> tuple[int, bytes]:
    first, second = _read_exact(conn, 2)
    length = second & 0x7F
    if length == 126:
        length = struct.unpack(">H", _read_exact(conn, 2))[0]
    elif length == 127:
        length = struct.unpack(">Q", _read_exact(conn, 8))[0]
    mask = _read_exact(conn, 4) if second & 0x80 else b"\0\0\0\0"
    data = bytes(b ^ mask[i % 4] for i, b in enumerate(_read_exact(conn, length)))
    return first & 0x0F, data
