"""SSHTransport against real sshd on loopback (tests/support/sshd.py), with TCPProxy
to drop connections. Fingerprints are checked against ssh-keygen's own output."""
from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from deploy_core.config import Host
from deploy_core.errors import CommandTimeout, HostKeyError, TransportError, UnreachableError
from deploy_core.transports.ssh import SSHTransport, remote_command
from tests.support.proxy import TCPProxy
from tests.support.sshd import fingerprint, keygen, wait_dead


@pytest.fixture
def make(sshd_hosts):
    """Build SSHTransports on the test sshds; every one is closed after the test."""
    made: list[SSHTransport] = []

    def build(env: dict[str, str] | None = None, **ssh) -> SSHTransport:
        transport = SSHTransport(sshd_hosts.ssh_config(**ssh), env or {})
        made.append(transport)
        return transport

    yield build
    for transport in made:
        transport.close()


@pytest.fixture
def blue(sshd_hosts) -> Host:
    return sshd_hosts.blue.host()


def key_body_lines(key_file: Path) -> list[str]:
    """The secret base64 lines of a private key file."""
    return [line for line in key_file.read_text().splitlines() if "PRIVATE KEY" not in line]


def test_remote_command_is_quoted_and_bounded():
    assert remote_command("echo hi", "/srv/a b", 5) == (
        "timeout --signal=TERM --kill-after=5 5 sh -c 'cd '\"'\"'/srv/a b'\"'\"' && echo hi'")
    assert remote_command("true", None, 0.25) == (
        "timeout --signal=TERM --kill-after=5 0.25 sh -c true")


def test_run_streams_lines_and_returns_status(make, blue):
    seen: list[tuple[float, str, str]] = []
    start = time.monotonic()
    result = make().run(blue, "echo one; sleep 0.4; echo two >&2; echo three", timeout=10,
                        on_line=lambda s, text: seen.append((time.monotonic() - start, s, text)))
    assert result.exit_status == 0
    assert result.stdout == "one\nthree\n" and result.stderr == "two\n"
    assert sorted((s, text) for _, s, text in seen) == [("stderr", "two"), ("stdout", "one"),
                                                  ("stdout", "three")]
    assert seen[0][2] == "one" and seen[-1][0] - seen[0][0] > 0.3  # "one" came before the sleep


def test_non_zero_exit_is_a_result_not_an_error(make, blue):
    result = make().run(blue, "echo bad >&2; exit 7", timeout=10)
    assert (result.exit_status, result.stderr) == (7, "bad\n")


def test_cwd_with_space_and_quote(make, blue, tmp_path):
    odd = tmp_path / "release dir 'x'"
    odd.mkdir()
    result = make().run(blue, "pwd", cwd=str(odd), timeout=10)
    assert result.stdout.strip() == str(odd)
    missing = make().run(blue, "echo never", cwd=str(tmp_path / "no such"), timeout=10)
    assert missing.exit_status != 0 and "never" not in missing.stdout


def test_connection_is_reused_until_close(make, blue):
    transport = make()
    first = transport.run(blue, "echo $SSH_CONNECTION", timeout=10).stdout
    second = transport.run(blue, "echo $SSH_CONNECTION", timeout=10).stdout
    assert first == second  # same client port: one TCP connection
    assert transport._clients[(blue.address, blue.port)].get_transport().is_active()
    transport.close()
    assert transport._clients == {}
    assert transport.run(blue, "echo $SSH_CONNECTION", timeout=10).stdout != first


def test_parallel_runs_share_one_connection_per_host(make, sshd_hosts):
    transport = make()
    hosts = [sshd_hosts.blue.host(), sshd_hosts.green.host()] * 4
    results: list[tuple[str, str]] = []

    def work(host: Host) -> None:
        results.append((host.address, transport.run(host, "echo $SSH_CONNECTION").stdout))

    threads = [threading.Thread(target=work, args=(h,)) for h in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(results) == 8
    assert len({out for _, out in results}) == 2  # one connection to blue, one to green


def test_unknown_host_key_is_refused_with_fingerprint_and_line(make, blue, sshd_hosts, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("")
    transport = make(known_hosts=str(known))
    with pytest.raises(HostKeyError) as caught:
        transport.run(blue, "true", timeout=10)
    err = caught.value
    expected_fp = fingerprint(sshd_hosts.blue.host_key_file.with_suffix(".pub"))
    assert err.changed is False
    assert err.fingerprint == expected_fp and expected_fp in str(err)
    assert err.known_hosts_line == sshd_hosts.blue.known_hosts_line()
    assert err.known_hosts_line.startswith("[127.0.0.12]:2222 ssh-ed25519 AAAA")
    assert err.known_hosts_line in str(err) and str(known) in str(err)
    known.write_text(err.known_hosts_line + "\n")
    assert transport.run(blue, "echo trusted", timeout=10).stdout == "trusted\n"


def test_changed_host_key_is_refused(make, blue, sshd_hosts, tmp_path):
    other = keygen(tmp_path / "impostor")
    kind, blob = other.with_suffix(".pub").read_text().split()[:2]
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.12]:2222 {kind} {blob}\n")
    with pytest.raises(HostKeyError) as caught:
        make(known_hosts=str(known)).run(blue, "true", timeout=10)
    err = caught.value
    real_fp = fingerprint(sshd_hosts.blue.host_key_file.with_suffix(".pub"))
    assert err.changed is True
    assert "CHANGED" in str(err) and "man-in-the-middle" in str(err)
    assert real_fp in str(err) and fingerprint(other.with_suffix(".pub")) in str(err)


def test_refused_port_is_unreachable_quickly(make):
    start = time.monotonic()
    with pytest.raises(UnreachableError) as caught:
        make(connect_timeout_s=1).run(Host("127.0.0.12", 2223, ""), "true", timeout=5)
    assert time.monotonic() - start < 1
    assert "refused" in str(caught.value) and "127.0.0.12:2223" in str(caught.value)


def test_silent_server_times_out_as_unreachable(make):
    with socket.socket() as silent:  # accepts TCP (backlog) but never says SSH-2.0
        silent.bind(("127.0.0.12", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(UnreachableError) as caught:
            make(connect_timeout_s=0.5).run(Host("127.0.0.12", port, ""), "true", timeout=5)
        assert time.monotonic() - start < 3
    assert "0.5s" in str(caught.value)


def test_command_timeout_stops_the_remote_process(make, blue, tmp_path):
    pidfile = tmp_path / "remote.pid"
    start = time.monotonic()
    with pytest.raises(CommandTimeout) as caught:
        make().run(blue, f"sleep 30 & echo $! > {pidfile}; wait", timeout=1)
    assert 1 <= time.monotonic() - start < 4
    assert not isinstance(caught.value, TimeoutError)
    assert "1s timeout" in str(caught.value)
    assert wait_dead(int(pidfile.read_text()), within=2)


def test_dropped_connection_is_unreachable_and_next_run_reconnects(make, sshd_hosts, tmp_path):
    with TCPProxy(target=(sshd_hosts.blue.address, sshd_hosts.blue.port)) as proxy:
        address, port = proxy.address
        known = tmp_path / "known_hosts"
        known.write_text(sshd_hosts.blue.known_hosts_line(address, port) + "\n")
        transport = make(known_hosts=str(known))
        via_proxy = Host(address, port, "")
        started = threading.Event()
        caught: list[BaseException] = []

        def long_command() -> None:
            try:
                transport.run(via_proxy, "echo started; sleep 20", timeout=4,
                              on_line=lambda s, text: started.set())
            except BaseException as exc:  # noqa: BLE001 -- checked below
                caught.append(exc)

        runner = threading.Thread(target=long_command)
        runner.start()
        assert started.wait(10)
        cut_at = time.monotonic()
        proxy.cut()
        runner.join(10)
        assert time.monotonic() - cut_at < 3
        assert len(caught) == 1 and isinstance(caught[0], UnreachableError), caught
        assert "dropped" in str(caught[0])
        with pytest.raises(UnreachableError):  # still cut: new connections are reset
            transport.run(via_proxy, "true", timeout=5)
        proxy.restore()
        assert transport.run(via_proxy, "echo back", timeout=10).stdout == "back\n"
        assert proxy.accepted == 2


def test_key_and_known_hosts_from_environment(make, blue, sshd_hosts):
    env = {"BLUEGREEN_SSH_KEY": sshd_hosts.key_file.read_text(),
           "BLUEGREEN_KNOWN_HOSTS": sshd_hosts.known_hosts.read_text()}
    transport = make(env, key_file=None, known_hosts=None)
    assert transport.run(blue, "echo via env", timeout=10).stdout == "via env\n"
    assert transport.run(blue, "true", timeout=10).exit_status == 0     # what `check` runs


def test_environment_key_with_escaped_newlines(make, blue, sshd_hosts):
    env = {"BLUEGREEN_SSH_KEY": sshd_hosts.key_file.read_text().replace("\n", "\\n"),
           "BLUEGREEN_KNOWN_HOSTS": sshd_hosts.known_hosts.read_text()}
    assert make(env, key_file=None, known_hosts=None).run(blue, "echo ok").stdout == "ok\n"


def test_environment_known_hosts_without_the_host_is_refused(make, blue, sshd_hosts):
    env = {"BLUEGREEN_KNOWN_HOSTS": sshd_hosts.green.known_hosts_line() + "\n"}
    with pytest.raises(HostKeyError) as caught:
        make(env, known_hosts=None).run(blue, "true", timeout=10)
    assert "$BLUEGREEN_KNOWN_HOSTS" in str(caught.value) and not caught.value.changed


def test_refused_key_names_user_and_host_without_leaking_it(make, blue, tmp_path, sshd_hosts):
    stranger = keygen(tmp_path / "stranger")
    env = {"BLUEGREEN_SSH_KEY": stranger.read_text()}
    with pytest.raises(UnreachableError) as caught:
        make(env, key_file=None).run(blue, "true", timeout=10)
    text = f"{caught.value}\n{caught.value!r}\n{caught.value.fields}"
    assert f"{sshd_hosts.user}@127.0.0.12" in text and "refused" in text
    assert fingerprint(stranger.with_suffix(".pub")) in text
    assert not any(line in text for line in key_body_lines(stranger))


def test_unusable_key_text_is_reported_without_its_content(make, blue, tmp_path):
    broken = keygen(tmp_path / "broken").read_text()
    lines = broken.splitlines()
    env = {"BLUEGREEN_SSH_KEY": "\n".join(lines[:2] + lines[3:])}  # a line lost in pasting
    with pytest.raises(TransportError) as caught:
        make(env, key_file=None).run(blue, "true", timeout=10)
    text = f"{caught.value}\n{caught.value.__cause__!r}\n{caught.value.__context__!r}"
    assert "$BLUEGREEN_SSH_KEY" in text
    assert not any(line in text for line in key_body_lines(tmp_path / "broken"))


def test_key_file_with_tilde_is_expanded(make, blue, sshd_hosts, monkeypatch, tmp_path):
    home = tmp_path / "home2"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text(sshd_hosts.key_file.read_text())
    monkeypatch.setenv("HOME", str(home))
    transport = make(key_file="~/.ssh/id_ed25519")
    assert transport.run(blue, "echo tilde", timeout=10).stdout == "tilde\n"


def test_hashed_known_hosts_work_and_revoked_keys_do_not(make, blue, sshd_hosts, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text(sshd_hosts.blue.known_hosts_line() + "\n")
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(known)], check=True, capture_output=True)
    assert known.read_text().startswith("|1|")
    transport = make(known_hosts=str(known))
    assert transport.run(blue, "echo hashed", timeout=10).stdout == "hashed\n"
    transport.close()
    with known.open("a") as f:
        f.write(f"@revoked * {sshd_hosts.blue.host_public_key}\n")
    with pytest.raises(HostKeyError):
        transport.run(blue, "true", timeout=10)
