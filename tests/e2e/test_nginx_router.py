"""The nginx router against a real nginx on 127.0.0.14:8080 and two colour backends."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import requests

from deploy_core.config import (AppConfig, ColourConfig, Config, DeployConfig, Host, PromoteConfig,
                                RouterConfig, SlackConfig, SSHConfig)
from deploy_core.errors import RouterError
from deploy_core.routers.nginx import NginxRouter, upstream_text
from tests.support.tiny_http import TinyHTTP, saying
from tests.support.nginx import FrontNginx, Nginx, ShellTransport, front_conf

HOSTS = {"blue": Host("127.0.0.12", None, "http://127.0.0.12:8091"),
         "green": Host("127.0.0.13", None, "http://127.0.0.13:8091")}


@pytest.fixture(scope="module")
def backends() -> Iterator[None]:
    servers = [TinyHTTP((host.address, 8091), saying(colour)) for colour, host in HOSTS.items()]
    yield
    for server in servers:
        server.stop()


@pytest.fixture
def front(front_nginx: FrontNginx, backends) -> FrontNginx:
    front_nginx.reset(upstream_text("blue", [HOSTS["blue"]]))   # returns once old workers are gone
    return front_nginx


def config(front: FrontNginx, **router: str) -> Config:
    options = {"test": front.nginx.test_command, "reload": front.nginx.reload_command,
               "upstream_file": str(front.upstream_file), **router}
    return Config(
        app=AppConfig(name="shop", public_url=front.url), ssh=SSHConfig(),
        deploy=DeployConfig(transport="local"), promote=PromoteConfig(), smoke=(),
        colours={c: ColourConfig(c, f"{c}-production", (h,)) for c, h in HOSTS.items()},
        router=RouterConfig(kind="nginx", host="127.0.0.14:2222", api_timeout_s=10, **options),
        slack=SlackConfig())


def serving(front: FrontNginx) -> str:
    """What the front answers on a new connection."""
    return requests.get(front.url + "/hostname", headers={"Connection": "close"}, timeout=3).text


def test_switch_blue_to_green_moves_traffic(front):
    transport = ShellTransport()
    router = NginxRouter(config(front), transport)
    assert router.read().live == "blue" and serving(front) == "blue"
    workers = front.nginx.workers()
    router.switch("green")
    front.nginx.wait_workers_replaced(workers)    # nginx -s reload returns before that
    assert [serving(front) for _ in range(5)] == ["green"] * 5
    assert (router.read().live, router.read().status) == ("green", "ok")
    assert front.upstream_file.read_text() == upstream_text("green", [HOSTS["green"]])
    assert Path(f"{front.upstream_file}.bluegreen-prev").read_text().startswith("# bluegreen live: blue")
    ran = transport.commands
    assert ran.index(front.nginx.test_command) < ran.index(front.nginx.reload_command)


def test_a_config_nginx_rejects_leaves_the_old_file_and_traffic(front, tmp_path):
    strict = Nginx(tmp_path)          # the same config plus a duplicate upstream: nginx -t fails
    strict.write_conf(front_conf(front.upstream_file, front.listen) +
                      "\n    upstream bluegreen_live { server 127.0.0.1:9; }")
    before = front.upstream_file.read_bytes()
    router = NginxRouter(config(front, test=strict.test_command), ShellTransport())
    with pytest.raises(RouterError) as caught:
        router.switch("green")
    assert 'duplicate upstream "bluegreen_live"' in str(caught.value)
    assert "previous file is back and traffic is unchanged" in str(caught.value)
    assert front.upstream_file.read_bytes() == before
    assert [serving(front) for _ in range(5)] == ["blue"] * 5
    assert router.read().live == "blue"


def test_a_failed_reload_puts_the_old_file_back(front):
    before = front.upstream_file.read_bytes()
    failing = "echo 'nginx: [error] invalid PID number' >&2; exit 1"
    router = NginxRouter(config(front, reload=failing), ShellTransport())
    with pytest.raises(RouterError, match="invalid PID number"):
        router.switch("green")
    assert front.upstream_file.read_bytes() == before
    assert serving(front) == "blue"


def test_read_states(front, tmp_path):
    router = NginxRouter(config(front), ShellTransport())
    assert router.read().status == "ok"
    front.upstream_file.write_text("# bluegreen live: purple\nupstream bluegreen_live {}\n")
    state = router.read()
    assert (state.live, state.status) == (None, "foreign") and "purple" in state.detail
    front.upstream_file.write_text("upstream bluegreen_live { server 127.0.0.1:9; }\n")
    assert (router.read().live, router.read().status) == (None, "unassigned")
    missing = NginxRouter(config(front, upstream_file=str(tmp_path / "absent.conf")), ShellTransport())
    assert (missing.read().live, missing.read().status) == (None, "unassigned")
    assert missing.describe() == f"nginx upstream {tmp_path / 'absent.conf'} on 127.0.0.14:2222"


def test_an_unreadable_upstream_file_is_a_router_error(front, tmp_path):
    broken = NginxRouter(config(front, upstream_file=str(tmp_path)), ShellTransport())
    with pytest.raises(RouterError, match="could not read"):   # a directory: cat fails
        broken.read()


def test_a_rejected_first_switch_removes_the_file_it_wrote(front, tmp_path):
    (tmp_path / "conf.d").mkdir()
    path = tmp_path / "conf.d" / "live.conf"
    router = NginxRouter(config(front, upstream_file=str(path), test="echo 'bad config' >&2; exit 1"),
                         ShellTransport())
    with pytest.raises(RouterError, match="bad config"):
        router.switch("blue")
    assert list(path.parent.iterdir()) == []
