from __future__ import annotations

import pytest

from deploy_core import config
from deploy_core.errors import ConfigError
from tests.support.configs import ENV, GOOD, parse, problems


def test_good_config_parses_with_defaults():
    cfg = parse(GOOD)
    assert cfg.app.identity_path == "/hostname" and cfg.app.health_path == "/healthz"
    assert cfg.colours["green"].hosts[0].port == 2222
    assert cfg.colours["green"].hosts[0].address == "10.0.0.3"
    assert cfg.colours["blue"].hosts[0].port is None
    assert cfg.deploy.transport == "ssh" and cfg.promote.verify_count == 3
    assert cfg.smoke[0].status == 200
    assert cfg.colour_of_identity(" green-production\n") == "green"
    assert cfg.colour_of_identity("other") is None


def test_every_problem_reported_at_once_with_key_paths():
    bad = GOOD.replace('url = "http://10.0.0.3"', 'url = "not a url"') \
              .replace('verify_count', 'x') \
              .replace('droplet_id = 222222', 'droplet_id = "abc"') \
              .replace('kind = "digitalocean"', 'kind = "digitalocean"\ncolour = 1')
    found = problems(bad)
    assert "colours.green.hosts[0].url: not a URL" in found
    assert "colours.green.droplet_id: must be an integer" in found
    assert "router.colour: unknown key" in found
    assert len(found) >= 3


def test_missing_tables_and_token():
    found = problems('[app]\nname = "x"\npublic_url = "http://x"\n', env={})
    assert any(p.startswith("deploy:") for p in found)
    assert any(p.startswith("colours:") for p in found)
    assert any(p.startswith("router:") for p in found)


def test_digitalocean_needs_token_from_environment():
    found = problems(GOOD, env={})
    assert "env.DIGITALOCEAN_TOKEN: not set (needed by the digitalocean router)" in found


def test_wrong_types_are_named():
    found = problems(GOOD.replace('steps = [', 'steps = [1, ').replace('port', 'x')
                     .replace('user = "deploy"', 'user = "deploy"\nport = "22"'))
    assert "deploy.steps[0]: must be a non-empty string" in found
    assert "ssh.port: must be an integer" in found


def test_identities_must_differ_and_hosts_nonempty():
    text = GOOD.replace('"green-production"', '"blue-production"').replace(
        'hosts = [{ address = "10.0.0.2", url = "http://10.0.0.2" }]', "hosts = []")
    found = problems(text)
    assert "colours.green.identity: must differ from colours.blue.identity" in found
    assert "colours.blue.hosts: must list at least one host" in found


def test_nginx_router_needs_host_and_file():
    text = GOOD.replace('kind = "digitalocean"\nreserved_ip = "203.0.113.7"', 'kind = "nginx"')
    found = problems(text, env={})
    assert "router.host: missing (needed by the nginx router)" in found
    assert "router.upstream_file: missing (needed by the nginx router)" in found


def test_ssh_key_may_come_from_environment():
    text = GOOD.replace('key_file = "~/.ssh/id_ed25519"\nknown_hosts = "~/.ssh/known_hosts"\n', "")
    found = problems(text)
    assert "ssh.key_file: missing (or set $BLUEGREEN_SSH_KEY)" in found
    cfg = parse(text, {**ENV, "BLUEGREEN_SSH_KEY": "k", "BLUEGREEN_KNOWN_HOSTS": "h"})
    assert cfg.ssh.key_file is None


def test_boolean_is_not_a_number_and_bad_port():
    text = GOOD.replace('path = "/srv/shop"', 'path = "/srv/shop"\nstep_timeout_s = true')
    text = text.replace('"10.0.0.3:2222"', '"10.0.0.3:99999"')
    found = problems(text)
    assert "deploy.step_timeout_s: must be a number, not a boolean" in found
    assert "colours.green.hosts[0].address: bad port '99999'" in found


def test_load_reports_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError) as info:
        config.load(tmp_path / "nope.toml", env={})
    assert "file not found" in str(info.value)
    bad = tmp_path / "bad.toml"
    bad.write_text("[app\nname=")
    with pytest.raises(ConfigError) as info:
        config.load(bad, env={})
    assert "not valid TOML" in str(info.value)


def test_find_order(tmp_path):
    assert str(config.find("x.toml", {"BLUEGREEN_CONFIG": "y.toml"})) == "x.toml"
    assert str(config.find(None, {"BLUEGREEN_CONFIG": "y.toml"})) == "y.toml"
    assert str(config.find(None, {})) == "bluegreen.toml"
