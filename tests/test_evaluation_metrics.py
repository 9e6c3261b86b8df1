"""Evaluation metrics on cases with a known answer (no physics, no trained model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from geogen.evaluation import frechet, metrics


def ricker(t: np.ndarray, f: float, t0: float) -> np.ndarray:
    a = (np.pi * f * (t - t0)) ** 2
    return (1 - 2 * a) * np.exp(-a)


def shift_record(record: np.ndarray, k: int) -> np.ndarray:
    """Delay a (source, time, receiver) record by k samples, zero filled."""
    out = np.zeros_like(record)
    out[:, k:, :] = record[:, :-k, :]
    return out


@pytest.fixture
def record() -> np.ndarray:
    """A (3, 400, 32) record of Ricker arrivals along a linear moveout (2000 m/s)."""
    dt, t = 0.001, np.arange(400) * 0.001
    out = np.zeros((3, 400, 32))
    for s, sx in enumerate((0.0, 150.0, 310.0)):
        for r in range(32):
            offset = abs(10.0 * r - sx)
            out[s, :, r] = ricker(t, 15.0, 0.073 + offset / 2000.0) / np.sqrt(1 + offset / 10)
    assert dt == t[1]
    return out.astype(np.float32)


# ------------------------------------------------------------------- point metrics
def test_relative_l2_of_scaled_record_is_the_scale_error(record):
    assert metrics.relative_l2(record, record) == 0.0
    assert metrics.relative_l2(1.1 * record, record) == pytest.approx(0.1, rel=1e-6)
    assert metrics.relative_l2(np.zeros(3), np.zeros(3)) == 0.0


def test_mae_mse_on_the_unit_scale():
    v = np.full((4, 4), 3000.0)
    u_true = metrics.velocity_to_unit(v, 1500, 4500)
    u_pred = metrics.velocity_to_unit(v + 300.0, 1500, 4500)  # 300 m/s = 0.2 on [-1, 1]
    assert metrics.mae(u_pred, u_true) == pytest.approx(0.2, rel=1e-6)
    assert metrics.mse(u_pred, u_true) == pytest.approx(0.04, rel=1e-6)
    np.testing.assert_allclose(metrics.unit_to_velocity(u_true, 1500, 4500), v)


def test_ssim_identical_is_one_and_drops_with_noise():
    img = np.random.default_rng(0).random((32, 32))
    assert metrics.ssim(img, img) == pytest.approx(1.0, abs=1e-12)
    noisy = np.clip(img + 0.2 * np.random.default_rng(1).standard_normal(img.shape), 0, 1)
    assert metrics.ssim(img, noisy) < 0.9
    assert metrics.ssim(img, noisy) == pytest.approx(metrics.ssim(noisy, img))


def test_ssim_of_two_constant_images_matches_the_formula():
    # Away from the zero-padded border the local statistics are the constants
    # themselves: SSIM = (2ab + C1) / (a^2 + b^2 + C1) (the structure term is 1).
    a, b = 0.6, 0.3
    smap = metrics.ssim_map(np.full((40, 40), a), np.full((40, 40), b))
    expected = (2 * a * b + 0.01**2) / (a * a + b * b + 0.01**2)
    assert smap[20, 20] == pytest.approx(expected, rel=1e-9)


def test_gaussian_window_is_openfwi_s():
    g = metrics.gaussian_window()
    assert g.size == 11 and g.sum() == pytest.approx(1.0)
    assert g[5] / g[6] == pytest.approx(np.exp(1 / (2 * 1.5**2)))


def test_record_ssim_is_one_for_itself_and_penalises_a_shift(record):
    assert metrics.record_ssim(record, record) == pytest.approx(1.0, abs=1e-12)
    assert metrics.record_ssim(shift_record(record, 20), record) < 0.9


# --------------------------------------------------------------- first arrivals
def test_picker_moves_by_the_shift_and_finds_dead_traces(record):
    dt = 0.001
    t0 = metrics.pick_first_arrivals(record, dt)
    t5 = metrics.pick_first_arrivals(shift_record(record, 5), dt)
    np.testing.assert_allclose(t5 - t0, 0.005, atol=1e-9)
    dead = record.copy()
    dead[0, :, 3] = 0.0
    assert np.isnan(metrics.pick_first_arrivals(dead, dt)[0, 3])


def test_picker_follows_the_moveout(record):
    """On the synthetic moveout the picks grow by offset / v exactly (same wavelet everywhere)."""
    t = metrics.pick_first_arrivals(record, 0.001)
    offsets = np.abs(10.0 * np.arange(32) - 0.0)
    np.testing.assert_allclose(t[0] - t[0, 0], offsets / 2000.0, atol=2e-4)


def test_arrival_error_equals_the_shift(record):
    assert metrics.first_arrival_error(record, record, 0.001) == 0.0
    assert metrics.first_arrival_error(shift_record(record, 12), record, 0.001) == pytest.approx(0.012, abs=1e-9)
    silent = np.zeros_like(record)
    assert metrics.first_arrival_error(silent, record, 0.001) == pytest.approx(0.4)


# ------------------------------------------------------------------------ Fréchet
def test_frechet_identical_sets_is_zero():
    f = np.random.default_rng(0).standard_normal((200, 16))
    assert frechet.frechet_feature_distance(f, f) == pytest.approx(0.0, abs=1e-8)


def test_frechet_known_gaussians():
    d = 8
    eye = np.eye(d)
    # N(0, I) vs N(c, 4I): |c|^2 + d + 4d - 2 * 2d = |c|^2 + d
    c = np.full(d, 0.5)
    assert frechet.frechet_distance(np.zeros(d), eye, c, 4 * eye) == pytest.approx(c @ c + d)


def test_frechet_matches_scipy_sqrtm_and_survives_singular_covariances():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(3)
    a = rng.standard_normal((6, 6))
    b = rng.standard_normal((6, 6))
    s1, s2 = a @ a.T, b @ b.T
    m1, m2 = rng.standard_normal(6), rng.standard_normal(6)
    ref = float(np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2)
                - 2 * np.trace(scipy_linalg.sqrtm(s1 @ s2).real))
    assert frechet.frechet_distance(m1, s1, m2, s2) == pytest.approx(ref, rel=1e-8)
    few = rng.standard_normal((5, 32))  # 5 samples, 32 features: rank-4 covariance
    assert frechet.frechet_feature_distance(few, few) == pytest.approx(0.0, abs=1e-8)


def test_precision_recall_known_cases():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((300, 2))
    same = frechet.precision_recall(real, real, k=3)
    assert same["precision"] == 1.0 and same["recall"] == 1.0
    far = frechet.precision_recall(real, real + 100.0, k=3)
    assert far["precision"] == 0.0 and far["recall"] == 0.0
    collapsed = real[np.linalg.norm(real, axis=1) < 0.5]  # mode collapse onto the centre
    pr = frechet.precision_recall(real, collapsed, k=3)
    assert pr["precision"] == 1.0 and pr["recall"] < 0.5


# -------------------------------------------------------------- feature networks
def test_feature_space_trains_on_real_data_and_round_trips(tmp_path):
    import torch

    from geogen.evaluation.features import FeatureSpace, fit_feature_space

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny nets: on a shared 2-core machine more threads only contend
    try:
        _feature_space_checks(tmp_path, FeatureSpace, fit_feature_space)
    finally:
        torch.set_num_threads(threads)


def _feature_space_checks(tmp_path, FeatureSpace, fit_feature_space):  # noqa: N803 - classes passed in

    rng = np.random.default_rng(0)
    depth = np.linspace(0, 1, 32)[None, :, None]
    real = (1500 + 3000 * depth * rng.uniform(0.3, 1.0, (40, 1, 1)) + np.zeros((40, 32, 32))).astype(np.float32)
    space = fit_feature_space("velocity", real, epochs=5, dim=8)
    f = space.features(real)
    assert f.shape == (40, 8) and np.isfinite(f).all()
    # fresh maps of the same layered family are near the training maps in this space, a homogeneous set far
    fresh = (1500 + 3000 * depth * rng.uniform(0.3, 1.0, (40, 1, 1)) + np.zeros((40, 32, 32))).astype(np.float32)
    other = np.full((40, 32, 32), 4000.0, np.float32) + rng.normal(0, 50, (40, 32, 32)).astype(np.float32)
    near = frechet.frechet_feature_distance(f, space.features(fresh))
    far = frechet.frechet_feature_distance(f, space.features(other))
    assert far > 10 * near > 0
    space.save(tmp_path / "fv.pt")
    np.testing.assert_allclose(FeatureSpace.load(tmp_path / "fv.pt").features(real), f, rtol=1e-5, atol=1e-6)
    seis = rng.standard_normal((6, 3, 100, 16)).astype(np.float32)
    assert fit_feature_space("seismic", seis, epochs=1, dim=4).features(seis).shape == (6, 4)
