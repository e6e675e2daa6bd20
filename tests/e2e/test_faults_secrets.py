"""Secrets never shown: the DigitalOcean token, a DATABASE_URL password and the SSH private
key stay out of every error, CLI output, `history` and `log`, even in the failures most
likely to leak them (a refused token, an unreachable or malformed database URL, a
broken key, a step that prints its environment)."""
from __future__ import annotations

import json
import socket

import pytest

from deploy_core.cli import main
from sandbox import RESERVED_IP
from tests.support.faults import TOKEN, PipelineWorld
from tests.support.sshd import keygen


DB_PASSWORD = "db-s3cret-Pa55w0rd"


@pytest.fixture
def cli(world: PipelineWorld, monkeypatch, capsys):
    """``cli(*argv, **env) -> (code, everything printed)``: the real `bluegreen` main."""
    def run(*argv: str, **env: str) -> tuple[int, str]:
        for key, value in world.cli_env(**env).items():
            monkeypatch.setenv(key, value)
        code = main(list(argv))
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return code, out + err
    return run


def everything(cli, *extra: tuple[str, ...], **env: str) -> str:
    """What status, history, the log of every deployment and check print, joined."""
    texts = []
    for argv in (("status", "--json"), ("status",), ("history",), ("history", "--json"),
                 ("check",), *extra):
        texts.append(cli(*argv, **env)[1])
    code, out = cli("history", "--json", **env)
    if code == 0:
        for item in json.loads(out):
            if item["kind"] == "deploy":
                texts.append(cli("log", str(item["id"]), **env)[1])
    return "\n".join(texts)


def shows(secret: str, text: str) -> bool:
    """Whether ``secret`` is in ``text``, also when the terminal printer wrapped it."""
    return secret in text or secret in "".join(text.split())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_digitalocean_token_never_shows(world, cli, tmp_path):
    wrong = "dop_v1_" + "bad0" * 16
    code, out = cli("deploy", "main", DIGITALOCEAN_TOKEN=wrong)
    assert code == 1 and "DigitalOcean refused the token (401)" in out
    assert not shows(wrong, out)

    # a step that prints its environment, and an assign refused with 401 mid-switch
    config = tmp_path / "bluegreen.toml"
    config.write_text(world.sb.config_path.read_text().replace(
        '"git checkout --force --detach {sha}",', '"git checkout --force --detach {sha}", "env",'))
    code, out = cli("-v", "deploy", "main", BLUEGREEN_CONFIG=str(config))
    assert code == 0, out
    assert "DIGITALOCEAN_API_URL" in out and not shows(TOKEN, out)   # env ran, without the token
    world.sb.do.fail_next("POST", rf"^/v2/reserved_ips/{RESERVED_IP}/actions$", 401)
    code, out = cli("promote", BLUEGREEN_CONFIG=str(config))
    assert code == 1 and "refused the token (401)" in out and not shows(TOKEN, out)
    printed = everything(cli, BLUEGREEN_CONFIG=str(config))
    assert "DIGITALOCEAN_API_URL" in printed              # the step's environment was logged...
    assert not shows(TOKEN, printed)                      # ...without the token
    printed = everything(cli, BLUEGREEN_CONFIG=str(config), DIGITALOCEAN_TOKEN=wrong)
    assert "401" in printed and not shows(wrong, printed) and not shows(TOKEN, printed)


@pytest.mark.parametrize("url", [
    "postgresql://deploy:{pw}@127.0.0.1:{port}/state",          # nothing listens there
    "postgresql+psycopg://deploy:{pw}@127.0.0.1:{port}/state?connect_timeout=2",
    "postgresql://deploy:{pw}@127.0.0.1:notaport/state",        # does not even parse
    "postgresql://deploy:{pw}@[::1/state",
    "postgres://deploy:{pw}@/state?host=/nonexistent",
])
def test_a_database_password_never_shows(cli, url):
    database_url = url.format(pw=DB_PASSWORD, port=free_port())
    for argv in (("status", "--json"), ("deploy", "main"), ("history",), ("log", "1"),
                 ("check",), ("lock", "maintenance")):
        code, out = cli(*argv, DATABASE_URL=database_url)
        assert code == 1, (argv, out)
        assert "database" in out and not shows(DB_PASSWORD, out), (argv, out)


def test_the_ssh_private_key_never_shows(world, cli, tmp_path):
    key = keygen(tmp_path / "id_ed25519")
    lines = key.read_text().splitlines()
    body = [line for line in lines if "PRIVATE KEY" not in line]
    broken = tmp_path / "broken_key"
    broken.write_text("\n".join(lines[:2] + lines[3:]) + "\n")   # a line lost in pasting
    known = tmp_path / "known_hosts"
    known.write_text("")
    config = tmp_path / "bluegreen.toml"
    base = world.sb.config_path.read_text().replace('transport = "local"', 'transport = "ssh"')

    for key_setting, env in (
            (f'key_file = "{broken}"', {}),
            ("", {"BLUEGREEN_SSH_KEY": broken.read_text()}),
            (f'key_file = "{tmp_path}"', {}),               # a directory, not a key

    ):
        config.write_text(f'{base}\n[ssh]\n{key_setting}\nknown_hosts = "{known}"\nconnect_timeout_s = 1\n')
        code, out = cli("deploy", "main", BLUEGREEN_CONFIG=str(config), **env)
        assert code == 1 and "SSH key" in out, out
        printed = out + everything(cli, BLUEGREEN_CONFIG=str(config), **env)
        assert "SSH key" in printed
        assert not [line for line in body if shows(line, printed)]
