#!/usr/bin/env bash
# Install what the end-to-end tests need: OpenSSH server, nginx, git, and PostgreSQL's
# server programs. The tests use a PostgreSQL they can log in to (127.0.0.1:5432 or the
# socket in /var/run/postgresql, user postgres, database test) and otherwise start a
# throwaway cluster of their own with initdb/pg_ctl (tests/support/postgres.py).
set -euo pipefail
have_initdb() {
  command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}
need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v git >/dev/null 2>&1 || need+=(git)
have_initdb || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
mkdir -p /run/sshd 2>/dev/null || true
have_initdb || { echo "initdb not found after installing postgresql"; exit 1; }
# a cluster that is installed but stopped is started (best effort: the tests can do without)
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -h 127.0.0.1 -p 5432 -q \
    && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  for v in $(ls /etc/postgresql 2>/dev/null); do
    pg_ctlcluster --skip-systemctl-redirect "$v" main start >/dev/null 2>&1 || true
  done
fi
if command -v pg_isready >/dev/null 2>&1 && pg_isready -h 127.0.0.1 -p 5432 -q; then
  echo "PostgreSQL answers at 127.0.0.1:5432 (the tests use it if they can log in as postgres to database test)"
else
  echo "no PostgreSQL at 127.0.0.1:5432: the tests will start a throwaway cluster of their own"
fi
