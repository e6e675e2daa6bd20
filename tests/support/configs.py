"""Sample configuration texts for the unit tests, and how they read them.

``GOOD`` is a complete, valid production-shaped configuration (DigitalOcean router, two
colours, one smoke check) that tests mutate one key at a time; ``ENV`` is the environment it
needs. ``parse`` turns a text into a ``Config``; ``problems`` expects the text refused (exit 2)
and returns every problem reported.
"""
from __future__ import annotations

import tomllib

import pytest

from deploy_core import config
from deploy_core.errors import ConfigError

GOOD = """
[app]
name = "shop"
public_url = "https://shop.example.com"

[ssh]
user = "deploy"
key_file = "~/.ssh/id_ed25519"
known_hosts = "~/.ssh/known_hosts"

[deploy]
path = "/srv/shop"
steps = ["git checkout --force --detach {sha}", "sudo systemctl reload shop"]

[[smoke]]
name = "home page"
path = "/"
contains = "Welcome"

[colours.blue]
identity = "blue-production"
hosts = [{ address = "10.0.0.2", url = "http://10.0.0.2" }]
droplet_id = 111111

[colours.green]
identity = "green-production"
hosts = [{ address = "10.0.0.3:2222", url = "http://10.0.0.3" }]
droplet_id = 222222

[router]
kind = "digitalocean"
reserved_ip = "203.0.113.7"

[slack]
channel = "C0DEPLOYS"
deployers = ["U0ALICE"]
"""
ENV = {"DIGITALOCEAN_TOKEN": "t"}


def parse(text: str, env=ENV):
    return config.parse(tomllib.loads(text), env)


def problems(text: str, env=ENV) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(text, env)
    assert info.value.exit_code == 2
    return info.value.problems
