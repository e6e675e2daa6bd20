"""Which colour is live: the router says, the public URL's identity route cross-checks.

When they disagree nothing is deployed or switched (RouterMismatch); when the public URL
cannot be reached the router's word stands, with a warning (a fix may be what is needed)."""
from __future__ import annotations

from .config import Config
from .errors import RouterError, RouterMismatch
from .events import Callback, Notice
from .routers import Router, RouterState
from .web import HTTP, Answer


def public_colour(config: Config, http: HTTP) -> tuple[str | None, Answer]:
    """Which colour the public URL's identity route answers, if any."""
    app = config.app
    answer = http.get(app.public_url + app.identity_path, app.request_timeout_s)
    return (config.colour_of_identity(answer.text) if answer.ok else None), answer


def live_colour(config: Config, router: Router, http: HTTP, emit: Callback, *,
                required: bool = True) -> tuple[str | None, RouterState]:
    """The live colour from the router, cross-checked with the identity route; with
    ``required``, RouterError when no colour is live."""
    state = router.read()
    if state.status != "ok":
        if required:
            raise RouterError(f"no colour is live: the router reports {state.status} "
                              f"({state.detail})", needs="promote-to")
        return None, state
    seen, answer = public_colour(config, http)
    if answer.ok and seen != state.live:
        what = f"{seen}'s identity" if seen else f"{answer.text.strip()[:60]!r} (neither colour)"
        raise RouterMismatch(
            f"the router says {state.live} is live but {config.app.public_url} answers "
            f"{what}; nothing was changed. Check the router and the identity route.")
    if not answer.ok:
        emit(Notice(f"could not cross-check the live colour through the public URL: "
                    f"{answer.detail}", level="warning"))
    return state.live, state
