"""What a valid ``bluegreen.toml`` becomes: one frozen dataclass per section.

Nothing here reads the file or the environment; see ``sections`` for that.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

COLOURS = ("blue", "green")


def other(colour: str) -> str:
    return "green" if colour == "blue" else "blue"


@dataclass(frozen=True)
class Host:
    address: str          # host name or IP, without port
    port: int | None      # from "address:port", else None (the [ssh] port applies)
    url: str              # base URL of the host's own web server, for health and smoke

    @property
    def name(self) -> str:
        return f"{self.address}:{self.port}" if self.port else self.address


@dataclass(frozen=True)
class AppConfig:
    name: str
    public_url: str
    identity_path: str = "/hostname"
    health_path: str = "/healthz"
    release_path: str | None = None       # answers the sha the serving process runs
    request_timeout_s: float = 5.0


@dataclass(frozen=True)
class SSHConfig:
    user: str = "deploy"
    port: int = 22
    key_file: str | None = None
    known_hosts: str | None = None
    connect_timeout_s: float = 10.0


@dataclass(frozen=True)
class DeployConfig:
    transport: str = "ssh"
    path: str = "."
    fetch: str = "git fetch --prune --tags origin"
    steps: tuple[str, ...] = ()
    step_timeout_s: float = 600.0
    health_timeout_s: float = 60.0
    health_interval_s: float = 0.5
    lease_s: float = 30.0
    output_limit: int = 64_000


@dataclass(frozen=True)
class PromoteConfig:
    verify_count: int = 3
    verify_interval_s: float = 0.2
    verify_timeout_s: float = 30.0


@dataclass(frozen=True)
class SmokeCheck:
    """An HTTP check of each idle host (``path``), or a command run where bluegreen runs
    (``run``, with ``{url}`` the host's URL); each bounded by ``timeout_s``."""
    name: str
    path: str | None = "/"
    status: int = 200
    contains: str | None = None
    run: str | None = None
    timeout_s: float | None = None        # None: app.request_timeout_s for HTTP checks

    def timeout(self, request_timeout_s: float) -> float:
        if self.timeout_s is not None:
            return self.timeout_s
        return RUN_TIMEOUT_S if self.run else request_timeout_s


RUN_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class ColourConfig:
    name: str
    identity: str
    hosts: tuple[Host, ...]
    droplet_id: int | None = None


@dataclass(frozen=True)
class RouterConfig:
    kind: str
    reserved_ip: str | None = None
    action_timeout_s: float = 120.0
    action_interval_s: float = 1.0
    api_timeout_s: float = 15.0
    host: str | None = None
    upstream_file: str | None = None
    test: str = "sudo nginx -t"
    reload: str = "sudo nginx -s reload"


@dataclass(frozen=True)
class SlackConfig:
    channel: str | None = None
    deployers: tuple[str, ...] = ()
    lock_reminder_h: float = 3.0
    watch_interval_s: float = 60.0


@dataclass(frozen=True)
class Config:
    app: AppConfig
    ssh: SSHConfig
    deploy: DeployConfig
    promote: PromoteConfig
    smoke: tuple[SmokeCheck, ...]
    colours: Mapping[str, ColourConfig]
    router: RouterConfig
    slack: SlackConfig
    path: Path | None = None

    def colour_of_identity(self, identity: str) -> str | None:
        for c in self.colours.values():
            if c.identity == identity.strip():
                return c.name
        return None
