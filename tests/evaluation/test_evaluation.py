"""The PacGAN mode-coverage protocol on known configurations.

Tolerances come from the sampling distributions: a high-quality fraction is a
binomial proportion, and for counts drawn uniformly over k modes the plug-in
estimate satisfies 2 N KL(p_hat || uniform) ~ chi2(k - 1) (the G-test).
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from scipy.stats import chi2
from torch import nn

from ganlab.errors import GanlabError
from ganlab.options import Options
from ganlab.plugins.data import (
    DataOptions,
    EvaluationError,
    ModeReport,
    evaluate_generator,
    evaluate_points,
    grid_centers,
    mixture,
    ring_centers,
    sample_mixture,
)

RING_STD, GRID_STD = 0.01, 0.05
MIXTURES = {"ring": (ring_centers(), RING_STD), "grid": (grid_centers(), GRID_STD)}
# P(chi2(k-1) > bound) for a genuinely uniform spread: never in practice.
FALSE_ALARM = 1e-6
# Probability that a 2-D isotropic Gaussian point lies within 3 std of its mean:
# the squared radius over std^2 is chi2(2), so P = 1 - exp(-9/2).
P_WITHIN_3_STD = 1 - math.exp(-4.5)


def uniform_kl_bound(n_modes: int, n_points: int) -> float:
    return chi2.ppf(1 - FALSE_ALARM, n_modes - 1) / (2 * n_points)


def unit(angle: float) -> torch.Tensor:
    return torch.tensor([math.cos(angle), math.sin(angle)], dtype=torch.float64)


# --- evaluate_points: exact configurations ---------------------------------------


@pytest.mark.parametrize("name", MIXTURES)
def test_points_on_every_mode_capture_all_evenly(name):
    centers, std = MIXTURES[name]
    points = centers.double().repeat(3, 1)
    report = evaluate_points(points, centers, std)
    assert report.modes_captured == report.n_modes == len(centers)
    assert report.high_quality_fraction == 1.0
    assert report.mode_counts == (3,) * len(centers)
    assert report.kl_to_uniform == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("name", MIXTURES)
def test_threshold_is_three_std_in_euclidean_distance(name):
    centers, std = MIXTURES[name]
    c = centers.double()
    eps = 1e-6  # far above float64 rounding, far below any sampling effect
    angles = [0.3 + 2 * math.pi * i / len(c) for i in range(len(c))]
    inside = torch.stack([c[i] + 3 * std * (1 - eps) * unit(a) for i, a in enumerate(angles)])
    outside = torch.stack([c[i] + 3 * std * (1 + eps) * unit(a) for i, a in enumerate(angles)])
    report = evaluate_points(torch.cat([inside, outside]), centers, std)
    assert report.mode_counts == (1,) * len(c)
    assert report.high_quality_fraction == 0.5
    # Each coordinate within 3 std but the distance 2.9 * sqrt(2) std: a
    # per-coordinate (box) rule would wrongly accept it.
    corner = c[0] + 2.9 * std * torch.tensor([1.0, 1.0], dtype=torch.float64)
    assert evaluate_points(corner[None], centers, std).high_quality_fraction == 0.0


def test_all_mass_on_one_mode_gives_log_n_modes():
    for centers, std in MIXTURES.values():
        points = centers[3].double().repeat(100, 1)
        report = evaluate_points(points, centers, std)
        assert report.modes_captured == 1
        assert report.high_quality_fraction == 1.0
        assert report.kl_to_uniform == pytest.approx(math.log(len(centers)), rel=1e-12)


def test_kl_of_an_uneven_spread_matches_hand_computation():
    centers = ring_centers()
    points = centers[[0, 0, 2, 5]].double()
    # p = (1/2, 1/4, 1/4) on 8 modes: 1/2 log 4 + 2 * 1/4 log 2 = 3/2 log 2.
    report = evaluate_points(points, centers, RING_STD)
    assert report.modes_captured == 3
    assert report.kl_to_uniform == pytest.approx(1.5 * math.log(2), rel=1e-12)


def test_low_quality_points_count_against_quality_but_not_in_kl():
    centers = ring_centers()
    good = centers[[0, 0, 2, 5]].double()
    # Between two modes, far beyond 3 std of either: each has a nearest mode
    # but must not make it captured.
    between = (centers[6] + centers[7]).double()[None].repeat(4, 1) / 2
    report = evaluate_points(torch.cat([good, between]), centers, RING_STD)
    assert report.high_quality_fraction == 0.5
    assert report.modes_captured == 3
    assert report.mode_counts[6] == report.mode_counts[7] == 0
    assert report.kl_to_uniform == pytest.approx(1.5 * math.log(2), rel=1e-12)


def test_no_high_quality_point_leaves_kl_undefined():
    centers = grid_centers()
    report = evaluate_points(torch.full((10, 2), 1.0), centers, GRID_STD)  # between four modes
    assert (report.modes_captured, report.high_quality_fraction) == (0, 0.0)
    assert math.isnan(report.kl_to_uniform)


def test_non_finite_points_are_low_quality():
    centers = ring_centers()
    points = torch.cat([centers[:2].double(), torch.tensor([[math.nan, 0.0], [math.inf, 1.0]])])
    report = evaluate_points(points, centers, RING_STD)
    assert report.modes_captured == 2
    assert report.high_quality_fraction == 0.5


# --- evaluate_points: samples from the true mixtures ------------------------------


@pytest.mark.parametrize("name", MIXTURES)
def test_true_mixture_scores_as_the_gaussian_tail_predicts(name):
    centers, std = MIXTURES[name]
    n = 100_000
    points, _ = sample_mixture(centers, std, n, torch.Generator().manual_seed(1))
    report = evaluate_points(points, centers, std)
    assert report.modes_captured == len(centers)
    # 5 binomial standard errors (~3e-4 each); a box rule (P = 0.9946) or a
    # threshold in variance units would be far outside.
    se = math.sqrt(P_WITHIN_3_STD * (1 - P_WITHIN_3_STD) / n)
    assert abs(report.high_quality_fraction - P_WITHIN_3_STD) < 5 * se
    n_good = sum(report.mode_counts)
    assert 0 <= report.kl_to_uniform < uniform_kl_bound(len(centers), n_good)


# --- the centres: the linspace endpoint bug ----------------------------------------


def linspace_ring(modes: int = 8) -> torch.Tensor:
    """The common buggy ring: linspace includes 2*pi, which is angle 0 again."""
    angles = torch.linspace(0, 2 * math.pi, modes)
    return torch.stack([angles.cos(), angles.sin()], dim=1)


def n_distinct(centers: torch.Tensor, tol: float = 1e-4) -> int:
    d = torch.cdist(centers.double(), centers.double())
    return sum(1 for i in range(len(centers)) if not (d[i, :i] < tol).any())


def test_linspace_ring_has_seven_distinct_centres_and_is_rejected():
    buggy = linspace_ring(8)
    assert len(buggy) == 8 and n_distinct(buggy) == 7
    with pytest.raises(EvaluationError, match="linspace"):
        evaluate_points(buggy, buggy, RING_STD)


def test_ring_centres_are_eight_evenly_spaced_points_on_the_unit_circle():
    centers = ring_centers(8).double()
    assert n_distinct(centers) == 8
    assert torch.allclose(centers.norm(dim=1), torch.ones(8, dtype=torch.float64), atol=1e-6)
    gaps = (centers - centers.roll(1, dims=0)).norm(dim=1)
    assert torch.allclose(gaps, torch.full((8,), 2 * math.sin(math.pi / 8), dtype=torch.float64), atol=1e-6)


def test_grid_centres_are_the_25_points_of_the_pacgan_grid():
    got = {tuple(round(float(v), 6) for v in c) for c in grid_centers()}
    assert got == {(float(x), float(y)) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}


# --- evaluate_points: bad input ---------------------------------------------------


@pytest.mark.parametrize("points", [torch.zeros(5, 3), torch.zeros(5), torch.zeros(0, 2), "abc"])
def test_points_of_the_wrong_shape_are_rejected(points):
    with pytest.raises(EvaluationError, match="points"):
        evaluate_points(points, ring_centers(), RING_STD)


@pytest.mark.parametrize("std", [0.0, -0.01, math.nan, math.inf, "x"])
def test_bad_std_is_rejected(std):
    with pytest.raises(EvaluationError, match="std"):
        evaluate_points(ring_centers(), ring_centers(), std)


def test_evaluation_errors_are_user_errors():
    assert issubclass(EvaluationError, GanlabError)


# --- evaluate_generator ------------------------------------------------------------


class RingByAngle(nn.Module):
    """Sends z to the ring mode of its angle: uniform over modes for z ~ N(0, I)."""

    def __init__(self, offset: float = 0.0):
        super().__init__()
        self.bn = nn.BatchNorm1d(2)  # so that train/eval mode matters
        self.offset = offset
        self.calls = []

    def forward(self, z):
        self.calls.append({"training": self.training, "grad": torch.is_grad_enabled(), "shape": tuple(z.shape)})
        centers = ring_centers()
        angle = torch.atan2(z[:, 1], z[:, 0]) % (2 * math.pi)
        k = (angle / (2 * math.pi / len(centers))).long().clamp_max(len(centers) - 1)
        return centers[k] + torch.tensor([self.offset, 0.0])


def test_generator_spread_uniformly_scores_full_coverage():
    g = RingByAngle()
    report = evaluate_generator(g, "ring", latent_dim=2, seed=0)
    assert g.calls == [{"training": False, "grad": False, "shape": (2500, 2)}]
    assert g.training  # restored
    assert (report.modes_captured, report.high_quality_fraction) == (8, 1.0)
    assert sum(report.mode_counts) == 2500
    assert 0 <= report.kl_to_uniform < uniform_kl_bound(8, 2500)


def test_generator_mode_is_restored_even_on_failure():
    class Broken(RingByAngle):
        def forward(self, z):
            raise RuntimeError("boom")

    g = Broken()
    with pytest.raises(RuntimeError):
        evaluate_generator(g, "ring", latent_dim=2)
    assert g.training
    g = RingByAngle().eval()
    evaluate_generator(g, "ring", latent_dim=2)
    assert not g.training


def test_same_seed_same_report_and_latent_dim_is_used():
    a = evaluate_generator(RingByAngle(), "ring", latent_dim=5, n=300, seed=7)
    b = evaluate_generator(RingByAngle(), "ring", latent_dim=5, n=300, seed=7)
    c = evaluate_generator(RingByAngle(), "ring", latent_dim=5, n=300, seed=8)
    assert a == b and a.mode_counts != c.mode_counts
    g = RingByAngle()
    evaluate_generator(g, "ring", latent_dim=5, n=300)
    assert g.calls[0]["shape"] == (300, 5)


def test_data_options_set_the_std():
    g = RingByAngle(offset=0.05)  # 5 std of the default ring, 0.5 std of a ring with std 0.1
    assert evaluate_generator(g, "ring", 2).high_quality_fraction == 0.0
    for opts in ({"ring_std": 0.1}, {"ring_std": "0.1"}, DataOptions(ring_std=0.1),
                 Options({"data": DataOptions(ring_std=0.1)})):
        assert evaluate_generator(g, "ring", 2, data_options=opts).high_quality_fraction == 1.0


def test_grid_uses_its_own_modes_and_std():
    centers, std = mixture("grid")
    assert (len(centers), std) == (25, GRID_STD)
    report = evaluate_generator(RingByAngle(), "grid", 2)  # ring points are not grid modes
    assert report.n_modes == 25 and report.high_quality_fraction == 0.0


@pytest.mark.parametrize("kwargs, match", [
    ({"dataset_name": "mnist"}, "ring and grid"),
    ({"n": 0}, "n must"),
    ({"latent_dim": 0}, "latent_dim"),
    ({"data_options": 3}, "data_options"),
])
def test_bad_arguments_are_rejected(kwargs, match):
    args = {"generator": RingByAngle(), "dataset_name": "ring", "latent_dim": 2, **kwargs}
    with pytest.raises(EvaluationError, match=match):
        evaluate_generator(**args)


def test_unknown_data_option_is_a_config_error():
    with pytest.raises(GanlabError, match="ring_sd"):
        evaluate_generator(RingByAngle(), "ring", 2, data_options={"ring_sd": 0.1})


def test_generator_with_wrong_output_shape_is_rejected():
    class ThreeD(nn.Module):
        def forward(self, z):
            return torch.zeros(len(z), 3)

    with pytest.raises(EvaluationError, match="shape"):
        evaluate_generator(ThreeD(), "ring", 2)


def test_trained_generator_from_a_run(run_tiny):
    trainer = run_tiny(data="ring", train={"latent_dim": 2, "steps": 2})
    report = evaluate_generator(trainer.G, "ring", trainer.setup.train.latent_dim, data_options=trainer.options)
    assert isinstance(report, ModeReport)
    assert report.n_modes == 8 and 0 <= report.modes_captured <= 8
    assert 0.0 <= report.high_quality_fraction <= 1.0
    assert trainer.G.training


def test_uniform_noise_over_the_grid_is_high_quality_in_proportion_to_area():
    # 25 discs of radius 3 std inside the square [-5, 5]^2: area share 25 pi (0.15)^2 / 100.
    centers, std = MIXTURES["grid"]
    p = len(centers) * math.pi * (3 * std) ** 2 / 100
    n = 200_000
    points = torch.rand(n, 2, generator=torch.Generator().manual_seed(2)) * 10 - 5
    report = evaluate_points(points, centers, std)
    assert abs(report.high_quality_fraction - p) < 5 * math.sqrt(p * (1 - p) / n)


# --- what the ring and grid datasets offer a run -----------------------------------


def hand_ring(modes: int = 8, radius: float = 1.0) -> list[tuple[float, float]]:
    return [(radius * math.cos(2 * math.pi * k / modes), radius * math.sin(2 * math.pi * k / modes))
            for k in range(modes)]


def hand_grid(side: int = 5, spacing: float = 2.0) -> list[tuple[float, float]]:
    coords = [spacing * (i - (side - 1) / 2) for i in range(side)]
    return [(x, y) for x in coords for y in coords]


def reference_scores(points, centers, std) -> dict:
    """PacGAN's rules written out one point at a time: the expected values for a run's eval.jsonl."""
    counts = [0] * len(centers)
    for x, y in points.tolist():
        dists = [math.hypot(x - cx, y - cy) for cx, cy in centers]
        k = min(range(len(centers)), key=dists.__getitem__)
        if dists[k] <= 3 * std:
            counts[k] += 1
    good = sum(counts)
    kl = sum(c / good * math.log(c / good * len(centers)) for c in counts if c) if good else None
    return {"modes_captured": sum(c > 0 for c in counts), "n_modes": len(centers),
            "high_quality_fraction": good / len(points), "kl_to_uniform": kl}


def modes_metric(trainer):
    """The run's ``modes`` metric, as the trainer and ``ganlab eval`` call it: points -> values."""
    from ganlab.metrics import MetricBatch, collect_metrics

    setup = trainer.setup
    _, metric = collect_metrics(setup.selection, setup.data, setup.options)["modes"]
    return lambda points: metric(MetricBatch(setup.loaded.data[:len(points)], points, setup.data))


def test_ring_training_data_is_scored_as_covering_every_mode(run_tiny):
    trainer = run_tiny(data="ring", fit=False)
    values = modes_metric(trainer)(trainer.setup.loaded.data[:2500])
    assert (values["modes_captured"], values["n_modes"]) == (8, 8)


def test_ring_evaluation_uses_the_runs_ring_std(run_tiny):
    default = modes_metric(run_tiny(data="ring", fit=False))
    wider = modes_metric(run_tiny(data="ring", options={"data": {"ring_std": "0.05"}}, fit=False))
    # 0.1 outside each mode: 10 std of the default ring, 2 std of a ring with std 0.05.
    points = torch.tensor([(1.1 * x, 1.1 * y) for x, y in hand_ring()])
    assert default(points)["high_quality_fraction"] == 0.0
    assert wider(points) == {"modes_captured": 8, "n_modes": 8, "high_quality_fraction": 1.0,
                                    "kl_to_uniform": pytest.approx(0.0, abs=1e-12)}


def test_ring_evaluation_uses_the_runs_modes_and_radius(run_tiny):
    evaluate = modes_metric(run_tiny(data="ring", options={"data": {"ring_modes": "4", "ring_radius": "3"}},
                                     fit=False))
    values = evaluate(torch.tensor([[3.0, 0.0], [0.0, 3.0], [-3.0, 0.0], [0.0, -3.0]]))
    assert (values["modes_captured"], values["n_modes"], values["high_quality_fraction"]) == (4, 4, 1.0)


def test_grid_evaluation_uses_the_runs_grid(run_tiny):
    default = modes_metric(run_tiny(data="grid", fit=False))
    custom = modes_metric(run_tiny(data="grid", options={"data": {"grid_side": "3", "grid_spacing": "3"}},
                                   fit=False))
    points = torch.tensor(hand_grid(3, 3.0))  # {-3, 0, 3}^2; only (0, 0) is on the default grid
    assert custom(points) == {"modes_captured": 9, "n_modes": 9, "high_quality_fraction": 1.0,
                              "kl_to_uniform": pytest.approx(0.0, abs=1e-12)}
    assert default(points)["n_modes"] == 25
    assert default(points)["high_quality_fraction"] == pytest.approx(1 / 9)


def test_evaluation_values_are_the_eval_jsonl_columns():
    report = ModeReport(modes_captured=3, n_modes=8, high_quality_fraction=0.5, kl_to_uniform=0.25)
    result = report.evaluation()
    assert result.values == {"modes_captured": 3, "n_modes": 8, "high_quality_fraction": 0.5, "kl_to_uniform": 0.25}
    assert result.summary == "3/8 modes, 50.0% high quality, KL 0.250"
    undefined = ModeReport(0, 25, 0.0, math.nan).evaluation()
    assert math.isnan(undefined.values["kl_to_uniform"])  # documented; the trainer writes it as null
    assert undefined.summary == "0/25 modes, 0.0% high quality, KL undefined"


def eval_rows(run_dir) -> list[dict]:
    def no_bare_constants(name):
        raise AssertionError(f"eval.jsonl holds a bare {name}, which is not JSON")

    lines = (run_dir / "eval.jsonl").read_text().splitlines()
    return [json.loads(line, parse_constant=no_bare_constants) for line in lines]


def test_two_d_runs_log_their_evaluation_in_eval_jsonl(run_tiny):
    options = {"data": {"ring_modes": "2", "ring_std": "0.3"}}  # modes at (1, 0) and (-1, 0)
    trainer = run_tiny(["gan"], data="ring", options=options, train={"steps": 4, "sample_every": 2})
    rows = eval_rows(trainer.run_dir)
    assert [r["step"] for r in rows] == [2, 4]
    assert {(r["source"], r["n"]) for r in rows} == {("samples", 2500)}  # the scatter plot's fixed-noise points
    fake = trainer.G.eval()(trainer.pictures.z).detach()
    expected = reference_scores(fake, hand_ring(2), 0.3)
    assert {k: v for k, v in rows[-1].items() if k not in ("step", "source", "n")} == {
        **expected, "kl_to_uniform": None if expected["kl_to_uniform"] is None
        else pytest.approx(expected["kl_to_uniform"], rel=1e-9)}


def test_undefined_kl_is_written_as_null(run_tiny):
    # Modes a millionth wide: no generated point is high quality, so KL is undefined.
    trainer = run_tiny(["gan"], data="grid", options={"data": {"grid_std": "1e-6"}},
                       train={"steps": 1, "sample_every": 1})
    assert eval_rows(trainer.run_dir) == [{"step": 1, "source": "samples", "n": 2500, "modes_captured": 0, "n_modes": 25,
                                           "high_quality_fraction": 0.0, "kl_to_uniform": None}]


def test_image_runs_write_no_eval_rows_at_sample_steps(run_tiny):
    trainer = run_tiny(data="mnist-embedded", train={"steps": 2, "sample_every": 1})
    assert not (trainer.run_dir / "eval.jsonl").exists()
