"""A small TCP proxy for fault injection: put it between a client and a real server
(sshd, Postgres) and ``cut()`` it to drop the link while the server stays up."""
from __future__ import annotations

import selectors
import socket
import struct
import threading
from typing import Any


class TCPProxy:
    """Forward connections from ``listen`` to ``target`` (host and port, or the path of a
    unix socket), one thread per connection.

    ``cut()`` closes every live connection and resets new ones (accepted, then
    closed with RST) until ``restore()``. At most ``max_connections`` at once.
    """

    def __init__(self, listen: tuple[str, int] = ("127.0.0.1", 0),
                 target: tuple[str, int] | str = ("127.0.0.1", 0), *, max_connections: int = 64,
                 connect_timeout: float = 5.0) -> None:
        self.listen = listen
        self.target = target
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._cut = False
        self._stopping = threading.Event()
        self._server: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self.accepted = 0

    @property
    def address(self) -> tuple[str, int]:
        """Where clients connect (the real port once started with port 0)."""
        assert self._server is not None, "start() first"
        host, port = self._server.getsockname()[:2]
        return host, port

    def start(self) -> TCPProxy:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(self.listen)
        server.listen(64)
        server.settimeout(0.1)
        self._server = server
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True,
                                          name=f"proxy-accept-{self.address[1]}")
        self._acceptor.start()
        return self

    def cut(self) -> None:
        """Drop every live connection and reset new ones until ``restore()``."""
        with self._lock:
            self._cut = True
            live = list(self._live)
        for sock in live:
            _shutdown(sock)

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    def stop(self) -> None:
        self._stopping.set()
        self.cut()
        if self._acceptor is not None:
            self._acceptor.join(5)
        if self._server is not None:
            self._server.close()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(5)

    def __enter__(self) -> TCPProxy:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        assert self._server is not None
        while not self._stopping.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                refuse = self._cut or len(self._threads) >= self.max_connections
                if not refuse:
                    self.accepted += 1
                    thread = threading.Thread(target=self._pump, args=(client,), daemon=True,
                                              name="proxy-pump")
                    self._threads.add(thread)
            if refuse:
                _reset(client)
            else:
                thread.start()

    def _pump(self, client: socket.socket) -> None:
        """Copy bytes both ways until either side closes or the proxy is cut."""
        upstream: socket.socket | None = None
        try:
            try:
                upstream = _connect(self.target, self.connect_timeout)
            except OSError:
                return
            with self._lock:
                if self._cut:
                    return
                self._live.update((client, upstream))
            for sock in (client, upstream):
                sock.settimeout(None)
            peer = {client: upstream, upstream: client}
            with selectors.DefaultSelector() as sel:
                for sock in peer:
                    sel.register(sock, selectors.EVENT_READ)
                while not self._stopping.is_set():
                    for key, _ in sel.select(timeout=0.2):
                        data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                        if not data:
                            return
                        peer[key.fileobj].sendall(data)  # type: ignore[index]
        except OSError:
            return
        finally:
            with self._lock:
                self._live.difference_update((client, upstream))
                self._threads.discard(threading.current_thread())
            for end in (client, upstream):
                if end is not None:
                    _shutdown(end)
                    end.close()


def _connect(target: tuple[str, int] | str, timeout: float) -> socket.socket:
    """A TCP connection to (host, port), or a unix socket connection to a path."""
    if not isinstance(target, str):
        return socket.create_connection(target, timeout=timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(target)
    except OSError:
        sock.close()
        raise
    return sock


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _reset(sock: socket.socket) -> None:
    """Close with RST instead of FIN: the client sees 'connection reset'."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()
