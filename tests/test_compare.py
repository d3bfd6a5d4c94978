"""`genbench compare`: the MLflow runs of a profile, one line per model, best sampler by a metric."""
from __future__ import annotations

from genbench.cli import main
from genbench.config import MlflowConfig, PresetConfig, RunConfig
from genbench.report.compare import comparison_table
from genbench import tracking


def run(model: str, family: str, metrics: dict[str, float]) -> dict:
    return {"model": model, "tags": {"family": family}, "metrics": metrics}


def test_each_model_shows_its_best_sampler_for_the_metric() -> None:
    runs = [run("mnist/ddpm/seed0", "ddpm", {"ddim50/fd_domain": 9.0, "ddpm/fd_domain": 7.5, "loss": 0.1,
                                             "ddim50/precision_domain": 0.8, "train_seconds": 12.34,
                                             "n_parameters": 1234567.0}),
            run("photo_patches/srgan/seed0", "srgan", {"default/lpips": 0.27})]
    header, ddpm, srgan = comparison_table(runs, "fd_domain")
    assert header[:5] == ["model", "family", "samplers", "best sampler", "fd_domain"]
    assert ddpm[:5] == ["mnist/ddpm/seed0", "ddpm", "2", "ddpm", "7.5000"]
    assert ddpm[5] == "12.3" and ddpm[7] == "1,234,567"
    assert srgan[3:5] == ["-", "-"]  # no FD for a super-resolution model
    assert comparison_table(runs, "precision_domain")[1][3:5] == ["ddim50", "0.8000"]  # higher is better


def test_compare_prints_one_line_per_finished_model(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    for preset, fd in (("dcgan", 30.0), ("vae", 50.0)):
        cfg = RunConfig(profile="cmp", dataset="mnist", preset=preset, seed=0, device="cpu", threads=1,
                        spec=PresetConfig(family=preset), mlflow=MlflowConfig())
        with tracking.TrainingRun(cfg, params={}, tags={"family": preset}) as training:
            training.log_metrics({"train_seconds": 1.0}, step=1)
        tracking.log_final_metrics(training.run_id, {"direct/fd_domain": fd}, tracking_uri_cfg=MlflowConfig())
    assert main(["compare", "--settings", '{"profile": "cmp"}']) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("genbench-cmp (sqlite:///") and "2 finished runs" in lines[0]
    assert [line.split()[0] for line in lines[3:]] == ["mnist/dcgan/seed0", "mnist/vae/seed0"]
    assert "30.0000" in lines[3] and "50.0000" in lines[4]


def test_an_unknown_experiment_is_one_line_naming_the_known_ones(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["compare", "--experiment", "genbench-nope", "--settings", '{"profile": "cmp"}']) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("genbench ")]
    assert len(err) == 1 and "no MLflow experiment 'genbench-nope'" in err[0] and "known:" in err[0]
