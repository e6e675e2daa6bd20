"""A threaded TCP forwarder: the sandbox's stand-in for a reserved IP.

Each new connection goes to whatever ``resolve()`` answers at accept time; a
connection already open keeps its backend, like a real floating IP moving
under live traffic. No backend, or one that refuses, closes the connection.
"""
from __future__ import annotations

import selectors
import errno
import socket
import threading
import time
from typing import Callable

Address = tuple[str, int]


_TRANSIENT = {errno.ECONNABORTED, errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class Forwarder:
    """Listen on ``listen`` and pipe each accepted connection to ``resolve()``."""

    def __init__(self, listen: Address, resolve: Callable[[], Address | None], *,
                 max_connections: int = 64, connect_timeout_s: float = 2.0) -> None:
        self.listen = listen
        self.resolve = resolve
        self.connect_timeout_s = connect_timeout_s
        self._slots = threading.BoundedSemaphore(max_connections)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._server: socket.socket | None = None
        self._acceptor: threading.Thread | None = None

    @property
    def address(self) -> Address:
        """The address actually bound (the real port when ``listen`` asked for port 0)."""
        if self._server is None:
            return self.listen
        host, port = self._server.getsockname()[:2]
        return host, port

    def start(self) -> Forwarder:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(self.listen)
            server.listen(128)
            server.settimeout(0.2)
        except OSError:
            server.close()
            raise
        self._stopping.clear()
        self._server = server
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True,
                                          name=f"forwarder-{self.listen[0]}:{self.listen[1]}")
        self._acceptor.start()
        return self

    def stop(self) -> None:
        """Stop accepting and cut every open connection; safe to call twice."""
        self._stopping.set()
        if self._server is not None:
            _close(self._server)      # shutdown() also wakes the accept() in progress
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            _close(sock)
        if self._acceptor is not None and self._acceptor is not threading.current_thread():
            self._acceptor.join(timeout=2)
        for thread in threads:
            thread.join(timeout=2)

    def __enter__(self) -> Forwarder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        assert self._server is not None
        try:
            while not self._stopping.is_set():
                try:
                    client, _ = self._server.accept()
                except TimeoutError:
                    continue
                except OSError as exc:
                    if self._stopping.is_set():
                        return
                    if exc.errno in _TRANSIENT:   # a burst or a client that gave up: keep serving
                        time.sleep(0.05)
                        continue
                    raise
                self._serve(client)
        except Exception:
            self.stop()       # an accept loop that dies must not leave pipes behind

    def _serve(self, client: socket.socket) -> None:
        if not self._slots.acquire(blocking=False):
            _close(client)    # over the bound: refuse rather than grow threads
            return
        thread = threading.Thread(target=self._connect_and_pipe, args=(client,), daemon=True)
        with self._lock:
            self._sockets.add(client)
            self._threads.add(thread)
        thread.start()

    def _connect_and_pipe(self, client: socket.socket) -> None:
        backend: socket.socket | None = None
        try:
            try:
                target = self.resolve()
            except Exception:
                target = None
            if target is None or self._stopping.is_set():
                return
            try:
                backend = socket.create_connection(target, timeout=self.connect_timeout_s)
            except OSError:
                return
            with self._lock:
                self._sockets.add(backend)
            if self._stopping.is_set():
                return
            _pipe(client, backend, self._stopping)
        finally:
            for sock in (client, backend):
                if sock is not None:
                    _close(sock)
                    with self._lock:
                        self._sockets.discard(sock)
            with self._lock:
                self._threads.discard(threading.current_thread())
            self._slots.release()


def _pipe(a: socket.socket, b: socket.socket, stopping: threading.Event) -> None:
    """Copy bytes both ways until both sides have finished sending (half-close aware)."""
    a.settimeout(30)
    b.settimeout(30)
    peer = {a: b, b: a}
    with selectors.DefaultSelector() as selector:
        for sock in (a, b):
            selector.register(sock, selectors.EVENT_READ)
        reading = 2
        while reading and not stopping.is_set():
            for key, _ in selector.select(timeout=0.5):
                src: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    data = src.recv(65536)
                    if data:
                        peer[src].sendall(data)
                        continue
                    selector.unregister(src)
                    reading -= 1
                    peer[src].shutdown(socket.SHUT_WR)
                except OSError:
                    return


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
