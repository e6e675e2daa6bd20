"""Benchmarks of issue 4, run from the repository root:

    /work/venv/bin/python benchmarks/cutover.py    [--quick]
    /work/venv/bin/python benchmarks/fanout.py     [--quick]
    /work/venv/bin/python benchmarks/overhead.py   [--quick]

Each prints its figures as tables and writes benchmarks/results/NAME.json (a --quick run
writes NAME-quick.json, leaving the full run's figures alone). They need what the
end-to-end tests need: sshd, nginx, git, a PostgreSQL (tests/support/postgres.py finds one
or starts its own), and the addresses of DESIGN.md's end-to-end and fan-out hosts free.
"""
