"""A busy machine for the reliability run (`python -m reliability --busy`): one CPU burner per core
and a PostgreSQL-heavy loop on the run's server (sorts, aggregates and writes in a database of its
own), started before the load and stopped after the last check. The run must still reach its
20,000 calls and pass every check.

    python -m reliability.busy cpu             # one burner (the run starts one per core)
    python -m reliability.busy postgres URL    # the database loop, until killed
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys


def _burn_cpu() -> None:
    n = 0
    while True:
        n = (n * 1103515245 + 12345) % 2**31


def _burn_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE UNLOGGED TABLE IF NOT EXISTS busy (id bigint, payload text)")
        while True:
            connection.execute("INSERT INTO busy SELECT g, md5(g::text) FROM generate_series(1, 200000) g")
            connection.execute("SELECT payload, count(*) FROM busy GROUP BY payload ORDER BY 2 DESC LIMIT 5")
            connection.execute("TRUNCATE busy")


class Busy:
    """The heavy processes, in sessions of their own; stop() kills exactly these."""

    def __init__(self, admin_url: str, database: str):
        self.admin_url, self.database = admin_url, database
        self.processes: list[subprocess.Popen] = []

    def start(self) -> str:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{self.database}"')
        url = self.admin_url.rsplit("/", 1)[0] + f"/{self.database}"
        cores = os.cpu_count() or 1
        commands = [["cpu"]] * cores + [["postgres", url]]
        for arguments in commands:
            self.processes.append(
                subprocess.Popen(  # noqa: S603 - our own interpreter and module
                    [sys.executable, "-m", "reliability.busy", *arguments],
                    start_new_session=True,
                    stdout=subprocess.DEVNULL,
                )
            )
        return f"{cores} CPU burners and a PostgreSQL loop"

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


if __name__ == "__main__":
    if sys.argv[1] == "cpu":
        _burn_cpu()
    else:
        _burn_postgres(sys.argv[2])
