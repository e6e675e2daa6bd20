"""The keys of an SSH connection: the host keys we trust and the key we sign in with.

Host keys come from ``ssh.known_hosts`` or ``$BLUEGREEN_KNOWN_HOSTS``, read afresh for
each connection; ``@revoked`` lines are honoured, ``@cert-authority`` ones ignored. An
unknown host key is refused, never added (``RejectUnknown``). The client key comes from
``ssh.key_file`` or ``$BLUEGREEN_SSH_KEY``: unencrypted ed25519, ECDSA or RSA.
"""
from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Mapping, NoReturn

import paramiko

from ..config import SSHConfig
from ..errors import TransportError

_KEY_CLASSES = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)


def host_key_name(host_name: str, port: int) -> str:
    """The name known_hosts uses: ``host`` on port 22, else ``[host]:port``."""
    return host_name if port == 22 else f"[{host_name}]:{port}"


def host_key_line(host_name: str, port: int, key: paramiko.PKey) -> str:
    """The known_hosts line that trusts ``key`` for ``host_name:port``."""
    return f"{host_key_name(host_name, port)} {key.get_name()} {key.get_base64()}"


class UnknownHostKey(Exception):
    def __init__(self, key: paramiko.PKey) -> None:
        super().__init__("unknown host key")
        self.key = key


class RejectUnknown(paramiko.RejectPolicy):
    """Refuse an unknown host key, keeping it so the error can show its fingerprint."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> NoReturn:
        raise UnknownHostKey(key)


class SSHKeys:
    """Where the transport's keys come from: ``[ssh]`` settings, else the environment."""

    def __init__(self, ssh: SSHConfig, env: Mapping[str, str]) -> None:
        self.ssh = ssh
        self._key_text = env.get("BLUEGREEN_SSH_KEY") or None
        self._known_hosts_text = env.get("BLUEGREEN_KNOWN_HOSTS") or None
        self._pkey: paramiko.PKey | None = None
        self._lock = threading.Lock()

    def private_key(self) -> paramiko.PKey:
        """Load the client key once, from ``ssh.key_file`` or ``$BLUEGREEN_SSH_KEY``.
        Errors never carry the key text (nor exceptions that hold it)."""
        with self._lock:
            if self._pkey is None:
                if self.ssh.key_file:
                    source = f"ssh.key_file ({self.ssh.key_file})"
                    try:
                        text = Path(self.ssh.key_file).expanduser().read_text()
                    except (OSError, UnicodeDecodeError) as exc:
                        raise TransportError(f"cannot read the SSH key {source}: "
                                             f"{getattr(exc, 'strerror', None) or 'not text'}"
                                             ) from None
                elif self._key_text:
                    source, text = "$BLUEGREEN_SSH_KEY", self._key_text
                else:
                    raise TransportError("no SSH key: set [ssh].key_file or $BLUEGREEN_SSH_KEY")
                self._pkey = _parse_private_key(text, source)
            return self._pkey

    def known_hosts_source(self) -> str:
        if self.ssh.known_hosts:
            return str(Path(self.ssh.known_hosts).expanduser())
        return "$BLUEGREEN_KNOWN_HOSTS"

    def load_known_hosts(self, host_keys: paramiko.HostKeys) -> None:
        """Read the trusted host keys afresh for each connection (a missing file trusts none)."""
        if self.ssh.known_hosts:
            path = Path(self.ssh.known_hosts).expanduser()
            try:
                text = path.read_text()
            except FileNotFoundError:
                return
            except (OSError, UnicodeDecodeError) as exc:
                raise TransportError(f"cannot read ssh.known_hosts ({path}): {exc}") from exc
        else:
            text = (self._known_hosts_text or "").replace("\\n", "\n")
        trusted, revoked = [], []
        for number, line in enumerate(text.splitlines(), 1):
            marker, line = _split_marker(line.strip())
            if not line or line.startswith("#"):
                continue
            try:
                entry = paramiko.hostkeys.HostKeyEntry.from_line(line, number)
            except Exception as exc:  # noqa: BLE001 -- InvalidHostKey, SSHException, ValueError
                raise TransportError(f"{self.known_hosts_source()}: line {number} is not a "
                                     f"known_hosts line ({type(exc).__name__})") from exc
            if entry is None or entry.key is None:
                continue  # too few fields, or a key type paramiko does not know
            if marker == "@revoked":
                revoked.append(entry.key)
            elif not marker:  # @cert-authority: CA-signed host keys are not supported
                trusted.append(entry)
        for entry in trusted:
            if entry.key not in revoked:
                for name in entry.hostnames:
                    host_keys.add(name, entry.key.get_name(), entry.key)


def _split_marker(line: str) -> tuple[str, str]:
    """``@revoked host key…`` -> ("@revoked", "host key…"); unmarked lines -> ("", line)."""
    if not line.startswith("@"):
        return "", line
    marker, _, rest = line.partition(" ")
    return marker, rest.strip()


def _parse_private_key(text: str, source: str) -> paramiko.PKey:
    if "\\n" in text and "\n" not in text.strip():  # a key pasted into one-line env settings
        text = text.replace("\\n", "\n")
    text = text.strip() + "\n"
    encrypted = False
    for cls in _KEY_CLASSES:
        try:
            return cls.from_private_key(io.StringIO(text))
        except paramiko.PasswordRequiredException:
            encrypted = True
        except Exception:  # noqa: S112 (not this key type; paramiko raises many kinds) # nosec B112
            continue
    why = ("it is encrypted; bluegreen needs a key without a passphrase" if encrypted else
           "not an unencrypted ed25519, ECDSA or RSA private key (OpenSSH or PEM format)")
    raise TransportError(f"cannot use the SSH key from {source}: {why}")
