"""Inception features/s: genbench's extractor vs ``cleanfid.fid.get_folder_features`` with the same network.

    python benchmarks/metrics/inception_speed.py [--n 2000] [--chunks 8] [--threads 2] [--batch-size 64] \
        [--data data/mnist/test.npz] [--out benchmarks/results/inception_speed.json]

The first ``--n`` MNIST test images (28x28 grayscale) are written as PNGs; both sides start from those
files and end with (n, 2048) features. clean-fid runs in its "clean" mode with the archive's TorchScript
network (what its ``InceptionV3W`` does: ``(x - 128) / 128`` then the network), offline; its DataLoader
worker count is the fastest of ``--cleanfid-workers`` on a short calibration. genbench reads the PNGs into
an array and runs ``genbench.features.inception.extract``. Both use ``--threads`` torch threads.

The machine may be shared, so the images are split into ``--chunks`` folders and the two sides alternate
chunk by chunk (which side goes first alternates too): a load spike then hits both, and the speedup is the
ratio of the summed times. Also timed: the resize alone (clean-fid's resizer, serial, vs ``clean_resize``
with 1 and N threads).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genbench.features import inception
from genbench.io import load_npz, write_json


def timed(fn):
    load = os.getloadavg()[0]
    start = time.perf_counter()
    result = fn()
    return result, {"seconds": round(time.perf_counter() - start, 2), "loadavg_1min_before": round(load, 2)}


def write_pngs(images: np.ndarray, folder: Path) -> None:
    for i, image in enumerate(images):  # names sort in index order, as clean-fid lists them
        Image.fromarray(image[0]).save(folder / f"{i:05d}.png")


def read_pngs(folder: Path) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p))[None] for p in sorted(folder.glob("*.png"))])


def cleanfid_features(folder: Path, torchscript, *, workers: int, batch_size: int, device: str | torch.device = "cpu"
                      ) -> np.ndarray:
    """clean-fid's ``get_folder_features`` in "clean" mode with the archive's network (``torchscript``, on ``device``)."""
    from cleanfid import fid

    def model(x: torch.Tensor) -> torch.Tensor:  # clean-fid's InceptionV3W.forward for mode "clean"
        return torchscript((x - 128) / 128)

    return fid.get_folder_features(str(folder), model=model, num_workers=workers, batch_size=batch_size,
                                   device=torch.device(device), mode="clean", verbose=False)


def resize_timings(images: np.ndarray, threads: int) -> dict[str, float]:
    from cleanfid.resize import make_resizer

    resize = make_resizer("PIL", False, "bicubic", (299, 299))
    rgb = [np.repeat(im, 3, axis=0).transpose(1, 2, 0) for im in images]  # what clean-fid's convert('RGB') gives
    out = {"cleanfid_resizer_serial": timed(lambda: [resize(im) for im in rgb])[1]["seconds"],
           "clean_resize_1_thread": timed(lambda: inception.clean_resize(images))[1]["seconds"]}
    with ThreadPoolExecutor(threads) as pool:
        out[f"clean_resize_{threads}_threads"] = timed(lambda: inception.clean_resize(images, pool=pool))[1]["seconds"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--chunks", type=int, default=8)
    parser.add_argument("--cleanfid-workers", type=int, nargs="+", default=[0, 2, 12])
    parser.add_argument("--calibration-n", type=int, default=64)
    parser.add_argument("--data", type=Path, default=Path("data/mnist/test.npz"))
    parser.add_argument("--cache", type=Path, default=inception.DEFAULT_CACHE)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/inception_speed.json"))
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit deprecation notices
    torch.set_num_threads(args.threads)
    images = load_npz(args.data, required=("images",))["images"][:args.n]
    weights = inception.fetch_inception(args.cache)
    torchscript = inception.load_torchscript(weights)
    model, _ = inception.load_inception(weights, device="cpu")
    results: dict = {"n": len(images), "image_shape": list(images.shape[1:]), "data": str(args.data),
                     "torch_threads": args.threads, "resize_threads": args.threads,
                     "batch_size": args.batch_size, "chunks": args.chunks, "torch": torch.__version__,
                     "cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count()}
    results["resize_seconds"] = resize_timings(images[:500], args.threads) | {"images": min(500, len(images))}
    print("resize", results["resize_seconds"], flush=True)

    chunks = np.array_split(np.arange(len(images)), args.chunks)
    with tempfile.TemporaryDirectory() as tmp:
        folders = [Path(tmp) / f"chunk{k}" for k in range(len(chunks))]  # siblings: clean-fid globs recursively
        for folder, idx in zip(folders, chunks):
            folder.mkdir()
            write_pngs(images[idx], folder)
        calibration = Path(tmp) / "calibration"
        calibration.mkdir()
        write_pngs(images[:args.calibration_n], calibration)

        calib: dict[str, list] = {str(w): [] for w in args.cleanfid_workers}
        for order in (args.cleanfid_workers, args.cleanfid_workers[::-1]):
            for workers in order:
                calib[str(workers)].append(timed(lambda: cleanfid_features(
                    calibration, torchscript, workers=workers, batch_size=args.batch_size))[1])
                print("clean-fid calibration, workers", workers, calib[str(workers)][-1], flush=True)
        workers = min(args.cleanfid_workers, key=lambda w: min(t["seconds"] for t in calib[str(w)]))
        results["cleanfid_calibration"] = {"images": args.calibration_n, "by_num_workers": calib,
                                           "chosen_num_workers": workers}

        def run_ours(folder: Path) -> np.ndarray:
            return inception.extract(model, read_pngs(folder), batch_size=args.batch_size, device="cpu",
                                     resize_threads=args.threads)[0]

        def run_cleanfid(folder: Path) -> np.ndarray:
            return cleanfid_features(folder, torchscript, workers=workers, batch_size=args.batch_size)

        ours, reference, per_chunk = [], [], []
        for k, folder in enumerate(folders):
            sides = [("genbench", run_ours, ours), ("cleanfid", run_cleanfid, reference)]
            record = {"images": len(chunks[k])}
            for name, run, features in (sides if k % 2 == 0 else sides[::-1]):
                result, record[name] = timed(lambda: run(folder))
                features.append(result)
            per_chunk.append(record)
            print("chunk", k, record, flush=True)
        ours, reference = np.concatenate(ours), np.concatenate(reference)
        results["per_chunk"] = per_chunk

    ours_time = {"seconds": round(sum(c["genbench"]["seconds"] for c in per_chunk), 2)}
    ref_time = {"seconds": round(sum(c["cleanfid"]["seconds"] for c in per_chunk), 2)}
    n = len(images)
    results["genbench"] = ours_time | {"images_per_s": round(n / ours_time["seconds"], 3)}
    results["cleanfid"] = ref_time | {"images_per_s": round(n / ref_time["seconds"], 3), "num_workers": workers}
    results["speedup"] = round(ref_time["seconds"] / ours_time["seconds"], 3)
    results["max_abs_feature_difference"] = float(np.abs(ours - reference).max())
    results["max_abs_feature"] = float(np.abs(reference).max())
    print(json.dumps(results, indent=2))
    write_json(args.out, results)


if __name__ == "__main__":
    main()
