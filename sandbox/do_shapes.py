"""What the DigitalOcean API's answers look like (its OpenAPI description): errors,
regions and reserved IP actions, as the stand-in serves them."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

REGIONS = {"nyc3": "New York 3", "ams3": "Amsterdam 3"}
ERROR_TEXT = {
    400: ("bad_request", "The request could not be understood."),
    401: ("unauthorized", "Unable to authenticate you."),
    403: ("forbidden", "You do not have permission to perform this action."),
    404: ("not_found", "The resource you requested could not be found."),
    422: ("unprocessable_entity", "request payload validation failed"),
    429: ("too_many_requests", "API rate limit exceeded."),
    500: ("server_error", "Unexpected server-side error"),
}
LOCKED = "The reserved IP is locked by an action in progress; try again when it completes."
ALL_SCOPES = frozenset({"reserved_ip:read", "reserved_ip:update", "droplet:read",
                        "actions:read", "project:read"})


def region(slug: str) -> dict[str, Any]:
    return {"name": REGIONS.get(slug, slug), "slug": slug, "available": True,
            "features": ["private_networking", "metadata"], "sizes": ["s-1vcpu-1gb"]}


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Action:
    id: int
    ip: str
    type: str                 # assign_ip | unassign_ip
    droplet_id: int | None
    due: float
    status: str = "in-progress"
    started_at: str = field(default_factory=now)
    completed_at: str | None = None

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "type": self.type,
                "started_at": self.started_at, "completed_at": self.completed_at,
                "resource_id": int(ipaddress.ip_address(self.ip)), "resource_type": "reserved_ip",
                "region": region("nyc3"), "region_slug": "nyc3"}


def error(status: int, message: str | None = None) -> tuple[int, dict[str, str]]:
    ident, text = ERROR_TEXT.get(status, ("server_error" if status >= 500 else "error",
                                          "Server was unable to give you a response."))
    return status, {"id": ident, "message": message or text,
                    "request_id": "b2b5a2f3-0000-4000-8000-00000000feed"}


def parse_id(text: str) -> int:
    return int(text) if text.isdigit() else -1
