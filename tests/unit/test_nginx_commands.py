"""The nginx router's shell text: exact strings, and that the quoting holds when run."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from deploy_core.config import Host
from deploy_core.errors import RouterError
from deploy_core.routers.nginx import (front_host, parse_marker, read_command, restore_command,
                                       server_address, upstream_text, write_command)

WEIRD = "/etc/nginx/conf.d/it's a \"live\" file.conf"


def sh(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, timeout=10)


def host(url: str) -> Host:
    return Host(address="10.0.0.2", port=None, url=url)


def test_upstream_text_names_the_colour_and_each_host_server():
    text = upstream_text("green", [host("http://10.0.0.3:8081"), host("https://app-2.internal")])
    assert text == (
        "# bluegreen live: green\n"
        "# written by bluegreen: edits here are overwritten\n"
        "upstream bluegreen_live {\n"
        "    server 10.0.0.3:8081;\n"
        "    server app-2.internal:443;\n"
        "}\n")
    assert parse_marker(text) == "green"


def test_server_address_defaults_the_port_by_scheme_and_brackets_ipv6():
    assert server_address(host("http://10.0.0.2")) == "10.0.0.2:80"
    assert server_address(host("http://user:pw@10.0.0.2:8000/base")) == "10.0.0.2:8000"
    assert server_address(host("http://[::1]:8000")) == "[::1]:8000"


@pytest.mark.parametrize("url", ["http://a;b:80", "http://a%7Bb", "http://10.0.0.2:99999", "nope"])
def test_a_url_that_could_break_the_nginx_file_is_refused(url):
    with pytest.raises(RouterError, match="does not name a server"):
        server_address(host(url))


def test_upstream_text_refuses_a_colour_without_hosts():
    with pytest.raises(RouterError, match="no hosts"):
        upstream_text("blue", [])


def test_parse_marker_without_marker_is_none():
    assert parse_marker("upstream bluegreen_live {\n server 1.2.3.4:80;\n}\n") is None
    assert parse_marker("") is None


def test_read_command_exact():
    assert read_command("/etc/nginx/conf.d/live.conf") == (
        "if [ -e /etc/nginx/conf.d/live.conf ]; then cat -- /etc/nginx/conf.d/live.conf; fi")


def test_write_command_exact():
    assert write_command("/etc/nginx/live.conf", "x 'y'\n") == (
        "set -e; if [ -e /etc/nginx/live.conf ]; then cp -p -- /etc/nginx/live.conf "
        "/etc/nginx/live.conf.bluegreen-prev; else rm -f -- /etc/nginx/live.conf.bluegreen-prev; fi; "
        "printf '%s' 'x '\"'\"'y'\"'\"'\n' > /etc/nginx/live.conf.bluegreen-new; "
        "mv -f -- /etc/nginx/live.conf.bluegreen-new /etc/nginx/live.conf")


def test_restore_command_exact():
    assert restore_command("/etc/nginx/live.conf") == (
        "if [ -e /etc/nginx/live.conf.bluegreen-prev ]; then mv -f -- "
        "/etc/nginx/live.conf.bluegreen-prev /etc/nginx/live.conf; else rm -f -- /etc/nginx/live.conf; fi")


def test_paths_with_spaces_and_quotes_are_quoted():
    command = read_command(WEIRD)
    assert command == ("if [ -e '/etc/nginx/conf.d/it'\"'\"'s a \"live\" file.conf' ]; then cat -- "
                       "'/etc/nginx/conf.d/it'\"'\"'s a \"live\" file.conf'; fi")


def test_write_restore_read_round_trip_on_a_weird_path(tmp_path: Path):
    target = tmp_path / "it's a \"live\" dir" / "up $HOME `x`.conf"
    target.parent.mkdir()
    path = str(target)
    assert sh(read_command(path)).stdout == ""              # missing reads as empty
    first = upstream_text("blue", [host("http://127.0.0.12:8091")])
    assert sh(write_command(path, first)).returncode == 0
    assert target.read_text() == first                      # exact bytes, no shell expansion
    assert not Path(path + ".bluegreen-prev").exists()      # nothing was there before
    second = upstream_text("green", [host("http://127.0.0.13:8091")])
    assert sh(write_command(path, second)).returncode == 0
    assert Path(path + ".bluegreen-prev").read_text() == first
    assert not Path(path + ".bluegreen-new").exists()
    assert sh(read_command(path)).stdout == second
    assert sh(restore_command(path)).returncode == 0
    assert target.read_text() == first
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


def test_restore_without_a_backup_removes_the_new_file(tmp_path: Path):
    path = str(tmp_path / "live.conf")
    sh(write_command(path, "new\n"))
    assert sh(restore_command(path)).returncode == 0
    assert not Path(path).exists()


def test_write_fails_loudly_when_the_directory_is_missing(tmp_path: Path):
    done = sh(write_command(str(tmp_path / "missing" / "live.conf"), "x"))
    assert done.returncode != 0


def test_front_host_takes_an_optional_port():
    assert front_host("10.0.0.9") == Host(address="10.0.0.9", port=None, url="")
    assert front_host("127.0.0.14:2222") == Host(address="127.0.0.14", port=2222, url="")
