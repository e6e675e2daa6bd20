"""Load and validate ``bluegreen.toml``.

Every problem is collected and reported at once, each with its key path
(``colours.green.hosts[0].url: not a URL``), as one ``ConfigError`` (exit 2).
Secrets never come from the file: only from the environment, which ``parse``
checks for what the file needs (``env.DIGITALOCEAN_TOKEN: not set …``) but
does not keep: whoever needs a variable is handed the environment.

The package:

- ``model``: the frozen dataclasses (``Config`` and one per section);
- ``reader``: ``Checker``, which stands at one key path and reads typed values;
- ``sections``: one reader per section (``app``, ``deploy``, ``ssh``, …);
- ``cross``: the rules across sections and the environment they need;
- here: ``SECTIONS`` and ``RULES``, the registries ``parse`` walks in order.

Adding a section (``[watch]``, say):

1. its dataclass in ``model``, and a field ``watch: WatchConfig = WatchConfig()``
   on ``Config`` (a default keeps hand-built Configs working);
2. one function in ``sections``: ``def watch(t: Checker) -> WatchConfig``,
   which calls ``t.known(...)`` with its keys and reads each with ``t.string``,
   ``t.number`` … (problems land at ``watch.KEY`` by themselves);
3. one line in ``SECTIONS``: ``"watch": Section(sections.watch, required=False)``.

A rule that spans sections is a function in ``cross`` taking ``(c, env,
*sections)`` and one line in ``RULES`` naming those sections; it runs as soon
as they are read.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from ..errors import ConfigError
from . import cross, sections
from .model import (COLOURS, RUN_TIMEOUT_S, AppConfig, ColourConfig, Config, DeployConfig, Host,
                    PromoteConfig, RouterConfig, SlackConfig, SmokeCheck, SSHConfig, other)
from .reader import Checker

__all__ = ["COLOURS", "RUN_TIMEOUT_S", "AppConfig", "ColourConfig", "Config", "DeployConfig", "Host",
           "PromoteConfig", "RouterConfig", "SlackConfig", "SmokeCheck", "SSHConfig", "other",
           "Checker", "Section", "Rule", "SECTIONS", "RULES", "parse", "find", "load"]


@dataclass(frozen=True)
class Section:
    """How to read one top-level key: its reader, and the shape it must have."""
    read: Callable[[Checker], Any]
    required: bool = True       # a missing table is a problem
    array: bool = False         # ``[[name]]``: an array of tables, empty when missing


@dataclass(frozen=True)
class Rule:
    """A rule across sections: called with ``(root, env, *[the sections named in needs])``."""
    check: Callable[..., None]
    needs: tuple[str, ...]


# in the order their problems are listed; each key is a field of Config
SECTIONS: dict[str, Section] = {
    "app": Section(sections.app),
    "deploy": Section(sections.deploy),
    "ssh": Section(sections.ssh, required=False),
    "promote": Section(sections.promote, required=False),
    "smoke": Section(sections.smoke, array=True),
    "colours": Section(sections.colours),
    "router": Section(sections.router),
    "slack": Section(sections.slack, required=False),
}

RULES: tuple[Rule, ...] = (
    Rule(cross.identities_differ, ("colours",)),
    Rule(cross.router_needs, ("router", "colours")),
    Rule(cross.ssh_needs, ("deploy", "ssh", "router")),
)


def parse(data: Mapping[str, Any], env: Mapping[str, str] | None = None,
          path: Path | None = None) -> Config:
    """Validate a parsed TOML document against ``env``; raise ConfigError listing every problem."""
    env = os.environ if env is None else env
    root = Checker(data)
    root.known(*SECTIONS)
    read: dict[str, Any] = {}
    for name, section in SECTIONS.items():
        here = root.array(name) if section.array else root.table(name, section.required)
        read[name] = section.read(here)
        for rule in RULES:
            if name in rule.needs and all(need in read for need in rule.needs):
                rule.check(root, env, *(read[need] for need in rule.needs))
    if root.problems:
        raise ConfigError.of(root.problems)
    return Config(**read, path=path)


def find(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> Path:
    """``--config PATH``, else ``$BLUEGREEN_CONFIG``, else ``./bluegreen.toml``."""
    env = os.environ if env is None else env
    return Path(path or env.get("BLUEGREEN_CONFIG") or "bluegreen.toml")


def load(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Find, read and validate the configuration file."""
    where = find(path, env)
    try:
        text = where.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError.of([f"{where}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError.of([f"{where}: cannot read ({exc})"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError.of([f"{where}: not valid TOML ({exc})"]) from None
    return parse(data, env, where)
