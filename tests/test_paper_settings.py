"""The settings a reference row lists as differing from the paper's come from the run's config, not from prose, and
not from the model registry: the train job writes every model key to config.yaml."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from genbench.config import from_dict, load_preset, load_profile_file, to_dict
from genbench.io import InputError
from genbench.models import family_class
from genbench.report.paper_settings import PAPER_SETTINGS, differing_settings, settings_note

REPO = Path(__file__).resolve().parents[1]


def _spec(preset: str, overrides: dict | None = None) -> dict:
    """The ``spec`` section a train job writes to config.yaml: the training recipe, every model key resolved
    (genbench.jobs.train.resolved_config)."""
    spec = load_preset(preset, overrides, preset_dir=REPO / "params/models", samplers=False)
    return to_dict(spec) | {"model": to_dict(from_dict(family_class(spec.family).Config, dict(spec.model), source=preset))}


def test_the_default_profiles_cyclegan_row_lists_its_cycle_weights(tmp_path: Path) -> None:
    overrides = load_profile_file(REPO / "params/default.yaml").overrides["cyclegan"]
    differing = differing_settings("cyclegan", _spec("cyclegan", overrides))
    assert "lambda_A 5 (paper 10)" in differing and "lambda_B 0 (paper 10)" in differing
    assert "steps 1,200 (paper 595,000)" in differing and "G width 16 (paper 64)" in differing
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"spec": _spec("cyclegan", overrides)}))
    assert "lambda_A 5 (paper 10), lambda_B 0 (paper 10)" in settings_note("cyclegan", run)


def test_a_config_equal_to_the_papers_gives_no_note(tmp_path: Path) -> None:
    for preset, settings in PAPER_SETTINGS.items():
        spec = _spec(preset)
        for setting in settings:
            section, _, key = setting.key.partition(".")
            spec[section][key] = setting.value
        assert differing_settings(preset, spec) == [], preset
        (tmp_path / "config.yaml").write_text(yaml.safe_dump({"spec": spec}))
        assert settings_note(preset, tmp_path) == ""


def test_a_config_from_before_every_model_key_was_recorded_and_a_missing_config_are_named(tmp_path: Path) -> None:
    assert settings_note("dcgan", tmp_path) == ""  # no paper settings recorded: nothing to read
    with pytest.raises(InputError, match=r"config\.yaml: file not found; re-run the train rule"):
        settings_note("cyclegan", tmp_path)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"spec": {"family": "cyclegan", "train": {"steps": 5}}}))
    with pytest.raises(InputError, match=r"config\.yaml: no 'model\.cycle_weight' .*; re-run the train rule"):
        settings_note("cyclegan", tmp_path)
