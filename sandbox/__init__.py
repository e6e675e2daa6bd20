"""A local imitation of the seed's production: app hosts, a sample app in git,
and a DigitalOcean API stand-in whose reserved IP is a local TCP forwarder."""
from __future__ import annotations

from .hosts import AppHost, SandboxError
from .sandbox import DROPLETS, RESERVED_IP, Sandbox

__all__ = ["AppHost", "DROPLETS", "RESERVED_IP", "Sandbox", "SandboxError"]

