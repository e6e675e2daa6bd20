"""``status``: which colour is live, what each colour runs, health, the lock, recent history."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from . import rules, running
from .config import other
from .live import public_colour
from .parts import Parts
from .results import ColourStatus, HostStatus, Status


def read_status(parts: Parts) -> Status:
    config, store, http = parts.config, parts.store, parts.http
    state = parts.router.read()
    router, live, detail = state.status, state.live, state.detail
    if router == "ok":
        seen, answer = public_colour(config, http)
        if answer.ok and seen != live:
            router = "mismatch"
            detail = f"router says {live}, public URL answers {answer.text.strip()[:60]!r}"
        elif not answer.ok:
            detail = f"public URL: {answer.detail}"
    app = config.app
    colours = {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        asked = {name: [(h, pool.submit(http.get, h.url + app.health_path, app.request_timeout_s),
                         pool.submit(running.read_host, config, parts.transport, http, name, h))
                        for h in c.hosts]
                 for name, c in config.colours.items()}
        for name, triples in asked.items():
            hosts = tuple(HostStatus(h.name, h.url, fh.result().ok, fh.result().detail,
                                     fr.result().sha, fr.result().proven, fr.result().detail)
                          for h, fh, fr in triples)
            runs = running.common(fr.result() for _, _, fr in triples)
            cs = store.colour_state(name)
            dep = store.latest_deployment(name)
            colours[name] = ColourStatus(
                name=name, identity=config.colours[name].identity,
                sha=cs.sha if cs else None, healthy=all(h.healthy for h in hosts), hosts=hosts,
                deployment=dep, running=runs.sha, running_proven=runs.proven,
                running_detail=runs.detail,
                promotable=name != live and rules.may_promote(name, dep, cs, runs).ok)
    shown = router in ("ok", "mismatch")
    return Status(live=live if shown else None, idle=other(live) if live and shown else None,
                  router=router, router_detail=detail, colours=colours,
                  lock=store.current_lock(), recent=store.history(5))
