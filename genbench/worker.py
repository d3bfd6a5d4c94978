"""A warm process for the pipeline's many short jobs (the profile's ``worker`` key; local runs only).

Most jobs of a profile are short (draw 1,000 GAN images, measure a model, plot a curve) and each used to
spend ~3 s of a CPU core starting Python and importing torch, MLflow and genbench before its first useful
operation. ``serve`` imports all that once; the ``genbench`` command (``genbench.launcher``) then hands its
arguments, working directory, environment and standard streams to the worker over a Unix socket, the worker
forks a child that runs the command exactly as the process would have, and the command exits with the
child's status. The job's files and results are the same bytes either way (its log gains one line: the
child's peak RSS and CPU time); without a worker the command runs in its own process.

Forking is safe here because the server is one thread that has run no torch operation (torch's thread
pools start in the child) and each child builds its own MLflow client. A child whose command has gone (killed
by Snakemake, Ctrl-C) is killed; the server exits when the process that started it (Snakemake) exits.
"""
from __future__ import annotations

import atexit
import importlib
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import traceback

#: imported once by the server: what the pipeline's commands import before their first useful operation
PRELOAD = ("numpy", "torch", "torchvision", "scipy.linalg", "pandas", "matplotlib.figure", "PIL.Image", "mlflow",
           "genbench.cli", "genbench.models", "genbench.jobs.train", "genbench.jobs.sample", "genbench.jobs.reference",
           "genbench.jobs.evaluate", "genbench.jobs.training_curve", "genbench.jobs.memorisation",
           "genbench.jobs.likelihood", "genbench.tracking", "genbench.report")
HEADER = struct.Struct("!I")  # a request's JSON length
# the reply: the command's exit status, and the peak RSS (KiB) and CPU seconds of the child that ran it,
# which Snakemake's benchmark: files cannot see (they measure the job's own process tree)
REPLY = struct.Struct("!iqd")
KILL_GRACE_S = 5.0
ENV = "GENBENCH_WORKER"  # the socket's path, for the genbench commands a run starts


def start() -> subprocess.Popen:
    """Start a server for the commands this process starts (the Snakefile's ``onstart``) and export its socket
    in ``GENBENCH_WORKER``; commands that start before it listens run in their own process."""
    path = os.path.join(tempfile.mkdtemp(prefix="genbench-worker-"), "socket")  # short: AF_UNIX paths <= 107
    server = subprocess.Popen([sys.executable, "-m", "genbench.worker", path, str(os.getpid())],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    os.environ[ENV] = path
    return server


def stop(server: subprocess.Popen) -> None:
    """End ``start``'s server (it kills the children still running) and remove its socket."""
    path = os.environ.pop(ENV, "")
    server.terminate()
    try:
        server.wait(timeout=KILL_GRACE_S + 5)
    except subprocess.TimeoutExpired:
        server.kill()
    if path:
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)


def serve(path: str, owner: int) -> None:
    """Accept commands on the Unix socket ``path`` until ``owner``, the process that started this one, exits
    (this one is then re-parented) or SIGTERM/SIGINT comes."""
    for module in PRELOAD:
        importlib.import_module(module)
    if sys.modules["torch"].cuda.is_initialized():  # a forked child could not use CUDA: no worker, commands run alone
        print("genbench worker: CUDA was initialised while importing; not starting", file=sys.stderr)
        return
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o600)  # only this user may run commands through it
    listener.listen(64)
    running: dict[socket.socket, int] = {}  # a command's connection -> the child running it
    for sig in (signal.SIGTERM, signal.SIGINT):  # stopped, or Ctrl-C in Snakemake's terminal
        signal.signal(sig, lambda *_: _stop(running, path))
    while os.getppid() == owner:  # re-parented: Snakemake has gone
        ready, _, _ = select.select([listener, *running], [], [], 0.5)
        for conn in ready:
            if conn is listener:
                client, _ = listener.accept()
                try:
                    running[client] = _start(client, [listener, *running])
                except (OSError, ValueError) as err:  # a malformed request: that command fails, the rest go on
                    print(f"genbench worker: {err}", file=sys.stderr)
                    client.close()
            else:  # readable before the reply: the command has gone, so its child goes too
                _kill(running.pop(conn))
                conn.close()
        for conn, pid in list(running.items()):
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                del running[conn]
                try:
                    conn.sendall(REPLY.pack(os.waitstatus_to_exitcode(status), usage.ru_maxrss,
                                            usage.ru_utime + usage.ru_stime))
                except OSError:
                    pass
                conn.close()
    _stop(running, path)


def _start(client: socket.socket, server_sockets: list[socket.socket]) -> int:
    """Fork the child that runs ``client``'s command; it keeps none of the server's sockets."""
    request, fds = _receive(client)
    sys.stdout.flush(), sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        for conn in (client, *server_sockets):
            conn.close()
        code = _run(request, fds)
        # as the interpreter ends a process: join its threads, run its exit handlers (MLflow's among them)
        threading._shutdown()
        atexit._run_exitfuncs()
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(code)
    for fd in fds:
        os.close(fd)
    return pid


def _receive(client: socket.socket) -> tuple[dict, list[int]]:
    data, fds, _, _ = socket.recv_fds(client, 1 << 16, 3)
    while len(data) < HEADER.size or len(data) < HEADER.size + HEADER.unpack_from(data)[0]:
        chunk = client.recv(1 << 16)
        if not chunk:
            raise ConnectionError("genbench worker: a command closed its connection mid-request")
        data += chunk
    return json.loads(data[HEADER.size:]), list(fds)


def _run(request: dict, fds: list[int]) -> int:
    """In the child: become the command's process (streams, directory, environment) and run it."""
    for target, fd in zip((0, 1, 2), fds):
        os.dup2(fd, target)
        os.close(fd)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["genbench", *request["argv"]]
    try:
        from genbench.cli import main

        code = main(request["argv"])
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        if not isinstance(stop.code, (int, type(None))):
            print(stop.code, file=sys.stderr)
    except BaseException:  # as an uncaught exception would end the process: traceback, status 1
        traceback.print_exc()
        code = 1
    return code


def _kill(pid: int) -> None:
    """SIGTERM, then SIGKILL after KILL_GRACE_S; reaps the child."""
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(int(KILL_GRACE_S / 0.1)):
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
            select.select([], [], [], 0.1)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _stop(running: dict[socket.socket, int], path: str) -> None:
    """Kill the children still running, remove the socket (and start()'s folder, once empty) and exit."""
    for pid in running.values():
        _kill(pid)
    for remove in (os.unlink, os.rmdir):
        try:
            remove(path)
        except OSError:
            pass
        path = os.path.dirname(path)
    os._exit(0)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
