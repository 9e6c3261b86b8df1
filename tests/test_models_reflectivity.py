"""The reflectivity prior against analytic travel times and Devito; the prior-guided decoder's wiring."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from geogen.acquisition import Acquisition
from geogen.data.normalize import Normalizer
from geogen.models.reflectivity import ReflectivityPrior, interpolation_rows, segment_rows
from geogen.models.seismic_decoder import PriorRefiner
from geogen.models.ubdiff import UBDiffNet, upgrade_model_config
from geogen.training.config import ModelConfig

SMALL = Acquisition.preset("small")
V1, V2, K = 2000.0, 3000.0, 16  # upper / lower velocity, first row of the lower layer


def two_layers(v1: float = V1, v2: float = V2, k: int = K) -> np.ndarray:
    v = np.full((1, SMALL.nz, SMALL.nx), v1, np.float32)
    v[:, k:] = v2
    return v


def prior_of(v: np.ndarray) -> np.ndarray:
    return ReflectivityPrior(SMALL)(torch.from_numpy(v)).numpy()[0]


def test_rows_interpolate_and_average():
    rows = interpolation_rows(np.array([0.0, 2.5, 31.0]), 32)
    assert rows.sum(1) == pytest.approx([1, 1, 1])
    assert rows[1, 2] == pytest.approx(0.5) and rows[1, 3] == pytest.approx(0.5)
    seg = segment_rows(np.array([3.0]), np.array([1.0]), 8)
    assert seg[0].tolist() == pytest.approx([0, 1 / 3, 1 / 3, 1 / 3, 0, 0, 0, 0])


def test_shape_and_homogeneous_model_has_no_primaries():
    p = prior_of(np.full((1, SMALL.nz, SMALL.nx), 2500.0, np.float32))
    assert p.shape == (2, *SMALL.seismic_shape)
    assert np.abs(p[0]).max() == 0.0
    assert np.abs(p[1]).max() > 0.0


def test_primary_follows_hyperbolic_moveout_and_polarity():
    p = prior_of(two_layers())
    s = 1
    xs = SMALL.source_x[s]
    depth = K * SMALL.dz - SMALL.source_z  # boundary below the source row, as the prior places it
    for r in (int(round(xs / SMALL.dx)), int(round(xs / SMALL.dx)) + 12):
        h = abs(SMALL.receiver_x[r] - xs)
        t = np.sqrt((2 * depth / V1) ** 2 + (h / V1) ** 2)
        expected = (t + SMALL.wavelet_delay) / SMALL.dt
        trace = p[0, s, :, r]
        assert abs(int(np.argmax(np.abs(trace))) - expected) <= 1.0
        assert trace[int(np.argmax(np.abs(trace)))] > 0  # slow over fast: positive reflection coefficient
    flipped = prior_of(two_layers(V2, V1))[0, s, :, int(round(xs / SMALL.dx))]
    assert flipped[int(np.argmax(np.abs(flipped)))] < 0


def test_direct_wave_time():
    p = prior_of(np.full((1, SMALL.nz, SMALL.nx), 2500.0, np.float32))
    s, r = 0, 20
    h = abs(SMALL.receiver_x[r] - SMALL.source_x[s])
    expected = (h / 2500.0 + SMALL.wavelet_delay) / SMALL.dt
    assert abs(int(np.argmax(np.abs(p[1, s, :, r]))) - expected) <= 1.0


def test_reflection_time_agrees_with_devito():
    """The wave-equation record's reflection (two layers minus one layer) peaks where the prior's does."""
    from geogen.physics.modelling import model_maps

    v = two_layers()
    p = prior_of(v)
    reflected = model_maps(v, SMALL)[0] - model_maps(np.full_like(v, V1), SMALL)[0]
    s = 1
    for r in (int(round(SMALL.source_x[s] / SMALL.dx)), int(round(SMALL.source_x[s] / SMALL.dx)) + 10):
        devito_peak = int(np.argmax(np.abs(reflected[s, :, r])))
        prior_peak = int(np.argmax(np.abs(p[0, s, :, r])))
        assert abs(devito_peak - prior_peak) <= 3, (r, devito_peak, prior_peak)


def test_prior_is_differentiable_in_velocity():
    v = torch.from_numpy(two_layers()).requires_grad_(True)
    ReflectivityPrior(SMALL)(v)[:, 0].square().sum().backward()
    assert v.grad is not None and torch.isfinite(v.grad).all() and v.grad.abs().sum() > 0


@pytest.mark.parametrize("channels", [0, 4])
def test_refiner_starts_as_identity(channels):
    record = torch.randn(2, *SMALL.seismic_shape)
    prior = torch.randn(2, 2, *SMALL.seismic_shape)
    out = PriorRefiner(channels)(record, prior)
    assert torch.equal(out, record)


def _tiny(**kw) -> ModelConfig:
    return ModelConfig(latent_dim=8, encoder_channels=[4, 8], transformer_dim=16, transformer_depth=1,
                       transformer_heads=2, patch_time=50, **kw)


def test_prior_guided_net_shapes_bounds_and_trainable_part():
    net = UBDiffNet(_tiny(seismic_prior="reflectivity", prior_channels=4), SMALL).eval()
    net.set_normalization(Normalizer(1600.0, 4400.0, -3.0, 4.0))
    assert net.velocity_bounds.tolist() == [1600.0, 4400.0]
    z = torch.rand(3, 8) * 2 - 1
    with torch.no_grad():
        s = net.decode_seismic(z)
        base = net.seismic_decoder(net.seismic_head(z))
    assert s.shape == (3, *SMALL.seismic_shape)
    assert torch.equal(s, base)  # the refiner's zeroed output: training starts from the decoder alone
    assert net.refiner in net.seismic_part()
    assert "velocity_bounds" in net.state_dict()
    # the bounds travel with the weights
    other = UBDiffNet(_tiny(seismic_prior="reflectivity", prior_channels=4), SMALL)
    other.load_state_dict(net.state_dict())
    assert other.velocity_bounds.tolist() == [1600.0, 4400.0]


def test_saved_configs_without_the_field_load_as_before():
    assert upgrade_model_config({"seismic_decoder": "linear"})["seismic_prior"] == "none"
    assert upgrade_model_config({"seismic_decoder": "transformer"})["seismic_prior"] == "none"
    assert upgrade_model_config({"seismic_prior": "reflectivity"})["seismic_prior"] == "reflectivity"
    assert UBDiffNet(_tiny(), SMALL).refiner is None
