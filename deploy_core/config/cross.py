"""Rules across sections, and what the environment must provide.

Each rule takes the document's root ``Checker``, the environment, then the
sections it names when registered (``RULES`` in ``__init__``), in that order.
It runs as soon as those sections are read, so its problems are listed next
to theirs.
"""
from __future__ import annotations

from typing import Mapping

from .model import ColourConfig, DeployConfig, RouterConfig, SSHConfig
from .reader import Checker, is_url


def identities_differ(c: Checker, env: Mapping[str, str], colours: Mapping[str, ColourConfig]) -> None:
    if len(colours) == 2 and colours["blue"].identity and \
            colours["blue"].identity == colours["green"].identity:
        blue = c.at("colours", "blue", "identity").path
        c.at("colours", "green", "identity").problem(f"must differ from {blue}")


def router_needs(c: Checker, env: Mapping[str, str], router: RouterConfig,
                 colours: Mapping[str, ColourConfig]) -> None:
    """What the router's kind needs from the file and the environment."""
    needed = f"missing (needed by the {router.kind} router)"
    if router.kind == "digitalocean":
        if not router.reserved_ip:
            c.at("router", "reserved_ip").problem(needed)
        for name, colour in colours.items():
            if colour.droplet_id is None:
                c.at("colours", name, "droplet_id").problem(needed)
        if not env.get("DIGITALOCEAN_TOKEN"):
            c.at("env", "DIGITALOCEAN_TOKEN").problem("not set (needed by the digitalocean router)")
        if not is_url(env.get("DIGITALOCEAN_API_URL", "https://api.digitalocean.com")):
            c.at("env", "DIGITALOCEAN_API_URL").problem("not a URL")
    elif router.kind == "nginx":
        for key in ("host", "upstream_file"):
            if not getattr(router, key):
                c.at("router", key).problem(needed)


def ssh_needs(c: Checker, env: Mapping[str, str], deploy: DeployConfig, ssh: SSHConfig,
              router: RouterConfig) -> None:
    """A key and the host keys, from the file or the environment, when anything uses SSH."""
    if deploy.transport != "ssh" and router.kind != "nginx":
        return
    if not (ssh.key_file or env.get("BLUEGREEN_SSH_KEY")):
        c.at("ssh", "key_file").problem("missing (or set $BLUEGREEN_SSH_KEY)")
    if not (ssh.known_hosts or env.get("BLUEGREEN_KNOWN_HOSTS")):
        c.at("ssh", "known_hosts").problem("missing (or set $BLUEGREEN_KNOWN_HOSTS)")
