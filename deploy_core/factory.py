"""Build the store, transport and router a configuration names."""
from __future__ import annotations

from typing import Callable, Mapping

from .config import Config

DEFAULT_DATABASE_URL = "sqlite:///bluegreen.db"


def make_transport(config: Config, env: Mapping[str, str]):
    if config.deploy.transport == "local":
        from .transports.local import LocalTransport
        return LocalTransport()
    from .transports.ssh import SSHTransport
    return SSHTransport(config.ssh, env)


def make_router(config: Config, env: Mapping[str, str], transport,
                on_event: Callable[[str], None] | None = None):
    if config.router.kind == "digitalocean":
        from .routers.digitalocean import DigitalOceanRouter
        return DigitalOceanRouter(config, env, on_event=on_event)
    from .routers.nginx import NginxRouter
    return NginxRouter(config, transport)


def make_store(config: Config, env: Mapping[str, str]):
    from .store import Store
    return Store(env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
                 output_limit=config.deploy.output_limit)


def build(config: Config, env: Mapping[str, str], on_event: Callable[[str], None] | None = None):
    """The store, transport and router; ``on_event`` hears what the router has to say."""
    store = make_store(config, env)
    transport = make_transport(config, env)
    return store, transport, make_router(config, env, transport, on_event=on_event)
