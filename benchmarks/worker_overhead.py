"""What the warm worker (genbench.worker) saves per job: one pipeline command run on its own and through a
worker, interleaved so that both see the same machine load.

    python benchmarks/worker_overhead.py --rounds 5 -- sample \
        --checkpoint results/default/mnist/dcgan/seed0/checkpoint.pt --sampler direct --out /tmp/w.npz \
        --settings '{"profile": "default", "threads": 1}'

Prints the wall seconds of each round and the medians. Run it on an idle machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from genbench import worker

GENBENCH = str(Path(sys.executable).parent / "genbench")


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([GENBENCH, *argv], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="a genbench command line, after --")
    args = parser.parse_args()
    argv = args.command[1:] if args.command[:1] == ["--"] else args.command
    alone_env = {k: v for k, v in os.environ.items() if k != worker.ENV}
    server = worker.start()
    path = os.environ[worker.ENV]
    try:
        while not os.path.exists(path):
            time.sleep(0.1)
        times: dict[str, list[float]] = {"alone": [], "worker": []}
        for _ in range(args.rounds):
            times["alone"].append(timed(argv, alone_env))
            times["worker"].append(timed(argv, {**alone_env, worker.ENV: path}))
    finally:
        worker.stop(server)
    for how, values in times.items():
        print(f"{how:>6}: median {statistics.median(values):.2f} s  ({', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main()
