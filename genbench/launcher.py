"""The ``genbench`` command: through the run's warm worker when there is one (``genbench.worker``), else in
this process. Standard library only, so that asking the worker costs no imports."""
from __future__ import annotations

import json
import os
import signal
import socket
import sys

from genbench.worker import ENV, HEADER, REPLY


def main() -> None:
    path = os.environ.get(ENV)
    status = _through_worker(path, sys.argv[1:]) if path else None
    if status is None:
        from genbench.cli import main as run

        status = run()
    sys.exit(status)


def _through_worker(path: str, argv: list[str]) -> int | None:
    """The command's exit status from the worker; None when no worker listens at ``path`` (run it here)."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError:
        conn.close()
        return None
    request = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    socket.send_fds(conn, [HEADER.pack(len(request)) + request], [0, 1, 2])
    # Killed (Snakemake stopping a job, Ctrl-C): closing the connection makes the worker kill the command.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda number, _: os._exit(128 + number))
    reply = b""
    while len(reply) < REPLY.size:
        chunk = conn.recv(REPLY.size - len(reply))
        if not chunk:
            print("genbench: the worker stopped while running this command; run it again", file=sys.stderr)
            return 1
        reply += chunk
    status, peak_kib, cpu_seconds = REPLY.unpack(reply)
    print(f"genbench: ran in the worker: peak RSS {peak_kib / 1024:.0f} MB, CPU {cpu_seconds:.1f} s", file=sys.stderr)
    return 128 - status if status < 0 else status  # killed by signal N: 128 + N, as a shell reports it
