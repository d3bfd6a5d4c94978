"""StyleGAN's style-mixing grid and stochastic variation (genbench.experiments.stylegan_figures) on a tiny
generator: the grid's edges are the unmixed sources, the noise std is zero exactly when the noise is off."""
from __future__ import annotations

import pytest
import torch

from genbench.config import ConfigError, SamplerConfig, load_profile, validate_all
from genbench.experiments import validate_experiments
from genbench.experiments import stylegan_figures as figures
from genbench.models import build_model
from genbench.models.base import ImageSpec

SPEC = ImageSpec(channels=1, height=28, width=28, num_classes=10)


@pytest.fixture(scope="module")
def stylegan():
    torch.manual_seed(0)
    model = build_model("stylegan", {"latent_dim": 8, "w_dim": 8, "mapping_layers": 2, "base_channels": 4,
                                     "max_channels": 4, "tanh_output": True}, SPEC).eval()
    for layer in model.generator.synthesis.layers:
        layer.noise_scale.data.fill_(0.5)  # B starts at 0 (no noise): give the noise inputs an effect
    return model


def sources(model, n_a: int = 3, n_b: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return figures.draw_ws(model, n_a, generator=generator), figures.draw_ws(model, n_b, generator=generator)


def test_style_ranges_are_the_7_14_and_28_blocks(stylegan) -> None:
    assert figures.style_ranges(stylegan) == {"coarse": (0, 1), "middle": (2, 3), "fine": (4, 5)}


def test_figures_see_the_w_that_sample_draws(stylegan) -> None:
    """The experiment adds no path of its own: draw_ws + synthesis with sample's noise is sample (psi 1)."""
    expected = stylegan.sample(3, generator=torch.Generator().manual_seed(0), sampler=SamplerConfig())
    generator = torch.Generator().manual_seed(0)
    g = stylegan.generator
    w = figures.draw_ws(stylegan, 3, generator=generator)
    with torch.no_grad():
        got = g.synthesis(g.broadcast(w), g.noise(3, generator, stylegan.device)).clamp(-1.0, 1.0)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_no_range_gives_source_a_and_every_layer_gives_source_b(stylegan) -> None:
    w_a, w_b = sources(stylegan)
    every_layer = tuple(range(stylegan.generator.synthesis.num_ws))
    grid = figures.style_mixing_grid(stylegan, w_a, w_b, [(), every_layer, (0, 1)], noise_seed=3)
    assert grid.shape == (3, 3, 2, 1, 28, 28)
    none, every, coarse = grid
    torch.testing.assert_close(none, none[:, :1].expand_as(none))  # each row: A_i whatever B
    torch.testing.assert_close(every, every[:1].expand_as(every))  # each column: B_j whatever A
    # the same pictures as A and B rendered on their own with the same noise (the first row and column)
    alone = figures.style_mixing_grid(stylegan, w_b, w_a, [()], noise_seed=3)[0]
    torch.testing.assert_close(every[0], alone[:, 0])
    assert (coarse - none).abs().mean() > 0  # B's coarse styles move A


def test_mixing_a_source_with_itself_changes_nothing(stylegan) -> None:
    w_a, _ = sources(stylegan)
    grid = figures.style_mixing_grid(stylegan, w_a, w_a, [(), (2, 3)], noise_seed=0)
    torch.testing.assert_close(grid[1].diagonal().movedim(-1, 0), grid[0].diagonal().movedim(-1, 0))
    assert figures.mixing_change(grid[:1], grid[0, :, 0]) == [0.0]


def test_noise_std_is_zero_without_noise_and_positive_with_it(stylegan) -> None:
    w, _ = sources(stylegan, n_a=2)
    images, std = figures.stochastic_variation(stylegan, w, 5, generator=torch.Generator().manual_seed(0))
    assert images.shape == (2, 5, 1, 28, 28) and std.shape == (2, 1, 28, 28)
    assert figures.noise_std_summary(images, std)["mean_std"] > 0
    quiet = build_model("stylegan", {"latent_dim": 8, "w_dim": 8, "mapping_layers": 2, "base_channels": 4,
                                     "max_channels": 4, "tanh_output": True}, SPEC).eval()
    quiet.load_state_dict(stylegan.state_dict())
    for layer in quiet.generator.synthesis.layers:
        layer.noise_scale.data.zero_()  # B = 0: the noise inputs are off
    images, std = figures.stochastic_variation(quiet, w, 5, generator=torch.Generator().manual_seed(0))
    assert float(std.abs().max()) < 1e-6
    torch.testing.assert_close(images, images[:, :1].expand_as(images))


def test_figures_tile_as_documented(stylegan) -> None:
    w_a, w_b = sources(stylegan)
    unmixed = figures.style_mixing_grid(stylegan, w_a, w_b, [(), tuple(range(6))])
    mixed = figures.style_mixing_grid(stylegan, w_a, w_b, [(0, 1), (2, 3), (4, 5)])
    tiles = figures.mixing_figure(unmixed[0][:, 0], unmixed[1][0], mixed)
    assert tiles.shape == (3 * 3 * 3 + 3, 1, 28, 28)  # a B row, then per range and A: A and its 2 mixes
    assert tiles[0].max() == 0  # the blank corner
    images, std = figures.stochastic_variation(stylegan, w_a, 4, generator=torch.Generator().manual_seed(0))
    tiles, white = figures.variation_figure(images, std, shown=2)
    assert tiles.shape == (3 * 3, 1, 28, 28) and tiles[2::3].max() == 255
    assert white == pytest.approx(float(std.max()) * 127.5)


@pytest.mark.parametrize("settings,match", [
    ({"presets": ["dcgan"]}, "is not a stylegan preset"),
    ({"presets": ["stylegan9"]}, "names preset 'stylegan9'"),
    ({"draws": 1}, "stylegan_figures.draws' must be >= 2"),
    ({"draws": 4, "shown": 5}, "stylegan_figures.shown' \\(5\\) must be <= draws"),
])
def test_settings_are_checked_up_front(settings: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        profile = load_profile({"profile": "t", "presets": ["dcgan", "stylegan"],
                                "experiments": {"stylegan_figures": settings}}, source="p.yaml")
        validate_experiments(profile, validate_all(profile, profile_source="p.yaml"), profile_source="p.yaml")


def test_job_writes_both_figures_and_the_report_shows_them(tmp_path) -> None:
    """Checkpoint in, two PNGs and the record out; the report's StyleGAN section lists the ranges in the figure's
    order (coarse, middle, fine) with both figures."""
    from genbench.config import resolve_run
    from genbench.experiments import ExperimentJob
    from genbench.experiments.stylegan_figures import StyleGANFiguresConfig, run_stylegan_figures_job
    from genbench.report.experiments import collect_experiments
    from genbench.report.markdown import section_markdown
    from genbench.report.stylegan import stylegan_sections
    from genbench.train.checkpoint import save_checkpoint

    model_cfg = {"latent_dim": 8, "w_dim": 8, "mapping_layers": 2, "base_channels": 4, "max_channels": 4}
    profile = load_profile({"profile": "t", "presets": ["stylegan"], "overrides": {"stylegan": {"model": model_cfg}}},
                           source="p.yaml")
    run_cfg = resolve_run(profile, dataset="mnist", preset="stylegan", seed=0)
    torch.manual_seed(0)
    model = build_model("stylegan", model_cfg, SPEC)
    run = tmp_path / "mnist" / "stylegan" / "seed0"
    save_checkpoint(run / "checkpoint.pt", model=model, run_cfg=run_cfg, step=0, optimizers={}, ema_state=None)
    cfg = StyleGANFiguresConfig(presets=("stylegan",), sources=2, latents=2, draws=3, shown=2)
    out = run / "experiments" / "stylegan_figures.json"
    record = run_stylegan_figures_job(ExperimentJob(inputs={"checkpoint": run / "checkpoint.pt"}, config=cfg,
                                                    profile=profile, device="cpu", threads=1, out=out))
    assert [r["name"] for r in record["ranges"]] == ["coarse", "middle", "fine"]
    assert record["noise"]["mean_std"] == 0.0  # a fresh model's noise scales B are 0 (sec. 3.2, official code)
    assert all((out.parent / name).is_file() for name in record["figures"]) and out.is_file()

    found = collect_experiments(tmp_path, datasets=["mnist"], presets=["stylegan"], seeds=[0])
    [section] = stylegan_sections(found["stylegan_figures"], ["mnist"])
    assert section.headers[1:4] == ["coarse Δ", "middle Δ", "fine Δ"] and len(section.rows) == 1
    assert len(section.figures) == 2
    assert "### StyleGAN: style mixing and stochastic variation (mnist)" in section_markdown(section)
