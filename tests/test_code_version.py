"""genbench.code_version: which source files a job of each command can run, and the checksum over them."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from genbench import code_version as cv
from genbench.code_version import PACKAGE_ROOT, code_modules, code_version, plugins, source_index


@pytest.fixture()
def package(tmp_path: Path) -> Path:
    """A copy of the genbench package to edit."""
    return Path(shutil.copytree(PACKAGE_ROOT, tmp_path / "genbench", ignore=shutil.ignore_patterns("__pycache__")))


def versions(root: Path) -> dict[tuple[str, str], str]:
    for cached in (cv.source_index, cv.code_modules, cv.code_version):  # a process sees the source once
        cached.cache_clear()
    jobs = [("train", f) for f in ("dcgan", "cgan", "infogan", "vae", "ddpm", "ddpm_cond", "pix2pix")] + [
        ("sample", "dcgan"), ("sample", "vae"), ("evaluate", ""), ("reference", ""), ("train-domain", ""),
        ("memorisation", ""), ("report", "")]
    return {(command, family): code_version(command, family=family, root=root) for command, family in jobs}


def edit(path: Path) -> None:
    path.write_text(path.read_text() + "\n# an edit\n")


def changed(before: dict, after: dict) -> set[tuple[str, str]]:
    return {job for job in before if before[job] != after[job]}


def test_a_family_edit_changes_its_family_and_its_subclasses_only(package: Path):
    before = versions(package)
    edit(package / "models" / "dcgan.py")
    # cGAN subclasses DCGAN, so its jobs run the edited file too; InfoGAN shares gan_blocks.py only
    assert changed(before, versions(package)) == {("train", "dcgan"), ("train", "cgan"), ("sample", "dcgan")}
    edit(package / "models" / "gan_blocks.py")
    assert ("train", "infogan") in changed(before, versions(package))


def test_a_metric_edit_changes_what_measures_and_no_training_or_sampling(package: Path):
    before = versions(package)
    edit(package / "metrics" / "frechet.py")
    touched = changed(before, versions(package))
    assert ("evaluate", "") in touched and ("memorisation", "") in touched
    # the report renders the metrics files (its job re-runs as they change), it computes no FD itself
    assert not {job for job in touched if job[0] in ("train", "sample", "train-domain", "report")}


def test_a_package_run_for_one_submodule_does_not_bring_its_siblings():
    """train-segmenter imports genbench.metrics.fcn_score; the package genbench.metrics runs first, but the
    siblings its __init__ re-exports (frechet, kid, ...) are not what the job calls."""
    modules = code_modules("train-segmenter")
    assert {"genbench.metrics", "genbench.metrics.fcn_score"} <= modules
    assert "genbench.metrics.frechet" not in modules


def test_a_shared_module_edit_changes_every_job_that_runs_it(package: Path):
    before = versions(package)
    edit(package / "models" / "base.py")
    touched = changed(before, versions(package))
    assert {job for job in before if job[0] in ("train", "sample")} <= touched
    assert ("evaluate", "") not in touched  # measuring images runs no model code


def test_the_version_depends_on_contents_not_on_where_the_package_lies(package: Path):
    assert versions(package) == versions(PACKAGE_ROOT)


def test_every_registered_family_and_dataset_has_its_module():
    found = plugins()
    assert found[("family", "dcgan")] == "genbench.models.dcgan"
    assert found[("family", "srgan")] == "genbench.models.srgan"
    assert found[("dataset", "mnist")] == "genbench.data.mnist"
    assert "genbench.models.vae" not in code_modules("train", family="dcgan")


def test_an_unknown_command_or_family_is_an_error():
    with pytest.raises(KeyError, match="no command 'trian'"):
        code_version("trian")
    with pytest.raises(KeyError, match="family 'dcgna'"):
        code_version("train", family="dcgna")


def test_the_planner_cache_is_read_until_a_file_changes(package: Path, tmp_path: Path):
    cache = tmp_path / "code-graph.json"
    built = source_index(package, cache)
    assert cache.is_file()
    source_index.cache_clear()
    assert source_index(package, cache) == built  # from the file
    (package / "models" / "vae.py").write_text((package / "models" / "vae.py").read_text()
                                              + "\nfrom genbench.metrics import frechet\n")
    source_index.cache_clear()
    assert "genbench.metrics.frechet" in source_index(package, cache).graph["genbench.models.vae"]
