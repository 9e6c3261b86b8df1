"""Diffusion pieces: cosine schedule, v-prediction algebra, samplers, EMA, denoisers, normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from geogen.data.normalize import Normalizer
from geogen.models.denoisers import build_denoiser
from geogen.models.ema import EMA
from geogen.models.samplers import sample_latents, step_sequence
from geogen.models.schedule import CosineSchedule, diffusion_loss, q_sample, split_prediction, v_target


def test_cosine_schedule_runs_from_signal_to_noise() -> None:
    s = CosineSchedule(256)
    ab = s.alpha_bar
    assert ab.shape == (256,)
    assert bool((ab[1:] < ab[:-1]).all())
    assert ab[0] > 0.999 and ab[-1] < 1e-4


def test_v_prediction_recovers_x0_and_noise_exactly() -> None:
    s = CosineSchedule(64)
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(5, 8, generator=g), torch.randn(5, 8, generator=g)
    t = torch.tensor([0, 10, 30, 50, 63])
    xt = q_sample(s, x0, t, eps)
    v = v_target(s, x0, t, eps)
    ab = s.alpha_bar[t].float().unsqueeze(-1)
    x0_hat, eps_hat = split_prediction(ab, xt, v, "v")
    torch.testing.assert_close(x0_hat, x0, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(eps_hat, eps, atol=1e-4, rtol=1e-4)


class _Oracle(torch.nn.Module):
    """A perfect v-predictor for data that is a single point ``c``: the sampler must land on ``c``."""

    def __init__(self, schedule: CosineSchedule, c: torch.Tensor) -> None:
        super().__init__()
        self.s, self.c = schedule, c

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = self.s.alpha_bar[t].float().unsqueeze(-1)
        a, sig = ab.sqrt(), (1 - ab).sqrt()
        eps = (x - a * self.c) / sig
        return a * eps - sig * self.c


@pytest.mark.parametrize("sampler,steps", [("ddim", 10), ("ddim", 64), ("ancestral", 64), ("ancestral", 16)])
def test_samplers_reach_the_data_with_a_perfect_denoiser(sampler: str, steps: int) -> None:
    s = CosineSchedule(64)
    c = torch.linspace(-0.8, 0.8, 6)
    gens = [torch.Generator().manual_seed(i) for i in range(4)]
    x = sample_latents(_Oracle(s, c), s, gens, 6, steps=steps, sampler=sampler)
    torch.testing.assert_close(x, c.expand(4, -1), atol=1e-3, rtol=0)


def test_step_sequence_is_decreasing_and_ends_at_zero() -> None:
    seq = step_sequence(256, 50)
    assert len(seq) == 50 and seq[0] == 255 and seq[-1] == 0
    assert all(a > b for a, b in zip(seq, seq[1:]))


@pytest.mark.parametrize("kind", ["mlp", "unet1d"])
def test_denoisers_map_latents_to_latents_and_learn(kind: str) -> None:
    torch.manual_seed(0)
    model = build_denoiser(kind, 16, width=64, depth=2)
    s = CosineSchedule(32)
    x0 = torch.randn(64, 16) * 0.1 + torch.linspace(-1, 1, 16)
    assert model(x0, torch.zeros(64, dtype=torch.long)).shape == (64, 16)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    first = None
    for _ in range(60):
        loss = diffusion_loss(model, s, x0, "v", generator=g)
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    g = torch.Generator().manual_seed(1)
    assert float(diffusion_loss(model, s, x0, "v", generator=g).detach()) < first


def test_ema_follows_its_decay_after_a_warm_up() -> None:
    """Shadow w <- d w + (1 - d) w_model with d = min(decay, (1 + k) / (10 + k)) at update k: checked against the
    formula in the warm-up and after it (a plain copy, another decay or no warm-up fails)."""
    m = torch.nn.Linear(2, 2)
    ema = EMA(m, decay=0.9)

    def gaps() -> list[torch.Tensor]:
        return [p.detach() - e for e, p in zip(ema.model.parameters(), m.parameters())]

    def jump() -> None:
        with torch.no_grad():
            for p in m.parameters():
                p.add_(1.0)

    jump()  # the model moves 1 away from the shadow: each update keeps a fraction d of the gap
    expected = 1.0
    for k in (1, 2, 3):  # warm-up: d = 2/11, 3/12, 4/13, well below the decay
        ema.update(m)
        expected *= (1 + k) / (10 + k)
        for g in gaps():
            torch.testing.assert_close(g, torch.full_like(g, expected), rtol=1e-5, atol=1e-7)
    for _ in range(4, 101):
        ema.update(m)
    before = gaps()
    jump()
    ema.update(m)  # update 101: (1 + 101) / (10 + 101) > 0.9, so d is the decay itself
    for g, b in zip(gaps(), before):
        torch.testing.assert_close(g, 0.9 * (b + 1.0), rtol=1e-5, atol=1e-6)
    again = EMA(m, decay=0.5)
    again.load_state_dict(ema.state_dict())
    assert again.updates == 101 and again.decay == 0.9
    for e, a in zip(ema.model.parameters(), again.model.parameters()):
        torch.testing.assert_close(a, e, rtol=0, atol=0)


def test_normalisation_round_trip_and_no_in_place_change() -> None:
    norm = Normalizer.from_ranges((1500.0, 4500.0), (-2.5, 7.0))
    assert norm.seismic_min == pytest.approx(-np.log1p(2.5))
    v = np.array([1500.0, 3000.0, 4500.0], np.float32)
    np.testing.assert_allclose(norm.velocity(v), [-1, 0, 1], atol=1e-6)
    s = np.array([-2.5, -0.01, 0.0, 0.3, 7.0], np.float32)
    original = s.copy()
    y = norm.seismic(s)
    assert y.min() == pytest.approx(-1) and y.max() == pytest.approx(1)
    np.testing.assert_allclose(norm.seismic_inverse(y), s, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(s, original)
    t = torch.tensor([2000.0])
    torch.testing.assert_close(norm.velocity_inverse(norm.velocity(t)), t)
    assert Normalizer.from_dict(norm.to_dict()) == norm
