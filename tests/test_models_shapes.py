"""Shapes of the UB-Diff networks follow the acquisition, for both presets and both decoders."""

from __future__ import annotations

import math

import pytest
import torch

from geogen.acquisition import Acquisition
from geogen.models.seismic_decoder import TransformerSeismicDecoder
from geogen.models.ubdiff import UBDiffNet, count_parameters
from geogen.training.config import ModelConfig


@pytest.mark.parametrize("preset", ["small", "openfwi"])
@pytest.mark.parametrize("decoder", ["transformer", "linear"])
def test_pair_shapes_follow_the_acquisition(preset: str, decoder: str) -> None:
    acq = Acquisition.preset(preset)
    cfg = ModelConfig(seismic_decoder=decoder)
    # The published linear head at OpenFWI size holds ~228 M parameters: build it on the
    # meta device (shapes without memory) rather than allocate a gigabyte in a unit test.
    big = preset == "openfwi" and decoder == "linear"
    with torch.device("meta" if big else "cpu"):
        net = UBDiffNet(cfg, acq).eval()
        v = torch.zeros(2, *acq.shape)
        with torch.no_grad():
            z = net.encode(v)
            v_hat, s_hat = net(v)
    assert z.shape == (2, cfg.latent_dim)
    assert v_hat.shape == (2, *acq.shape)
    assert s_hat.shape == (2, *acq.seismic_shape)
    if not big:
        assert float(z.abs().max()) <= 1.0  # Tanh co-latent
        assert float(v_hat.abs().max()) <= 1.0


def test_other_geometry_and_a_patch_that_does_not_divide_the_record() -> None:
    acq = Acquisition.preset("small", nz=45, nx=50, receiver_x=tuple(10.0 * i for i in range(17)), nt=333)
    net = UBDiffNet(ModelConfig(latent_dim=8, encoder_channels=[4, 8, 8], transformer_dim=16, transformer_depth=1,
                                transformer_heads=2, patch_time=40), acq).eval()
    with torch.no_grad():
        v_hat, s_hat = net(torch.zeros(3, 45, 50))
    assert v_hat.shape == (3, 45, 50)
    assert s_hat.shape == (3, 3, 333, 17)


def test_transformer_decoder_is_a_fraction_of_the_published_linear_head() -> None:
    acq = Acquisition.preset("openfwi")
    dec = TransformerSeismicDecoder(128, acq.seismic_shape, dim=256, depth=4, heads=8, patch_time=25)
    linear_out = 640 * math.prod(acq.seismic_shape)  # the published output layer alone
    assert dec.n_patches * acq.n_sources == 200  # 5 sources x 40 patches of 25 ms
    assert count_parameters(dec) < linear_out / 20


@pytest.mark.parametrize("conditioning", ["adaln", "cross"])
def test_transformer_tokens_see_each_other_and_the_latent(conditioning: str) -> None:
    """Changing the latent changes every source's record (the conditioning is wired)."""
    acq = Acquisition.preset("small")
    torch.manual_seed(0)
    dec = TransformerSeismicDecoder(16, acq.seismic_shape, dim=32, depth=1, heads=2, patch_time=50,
                                    conditioning=conditioning).eval()
    with torch.no_grad():
        a = dec(torch.zeros(1, 16))
        b = dec(torch.ones(1, 16))
    diff = (a - b).abs().amax(dim=(0, 2, 3))
    assert bool((diff > 0).all())


def test_unknown_conditioning_is_refused() -> None:
    with pytest.raises(ValueError, match="conditioning"):
        TransformerSeismicDecoder(8, (1, 20, 4), dim=16, depth=1, heads=2, patch_time=10, conditioning="film")


def test_transformer_learns_a_latent_dependent_arrival_time() -> None:
    """Regression guard for the plateau of the first design: started from the mean record (zero output
    projection), the decoder must learn *where* an arrival lies from the latent, not only the mean record.

    Toy records: one Gaussian pulse whose time follows the first latent entry (a moveout), on 2 sources.
    """
    torch.manual_seed(0)
    n_src, nt, n_rec = 2, 40, 4
    u = torch.rand(256, 1)
    latent = torch.cat([u * 2 - 1, torch.zeros(256, 3)], dim=1)
    t = torch.arange(nt).float()
    centre = 8 + 24 * u  # (B, 1)
    pulse = torch.exp(-0.5 * ((t[None] - centre) / 1.5) ** 2)  # (B, T)
    records = pulse[:, None, :, None].expand(-1, n_src, -1, n_rec) * 2 - 1
    dec = TransformerSeismicDecoder(4, (n_src, nt, n_rec), dim=32, depth=2, heads=4, patch_time=10)
    dec.set_base_record(records.mean(0))
    base_loss = float(((records.mean(0, keepdim=True) - records) ** 2).mean())
    opt = torch.optim.Adam(dec.parameters(), lr=3e-3)
    for _ in range(250):
        idx = torch.randint(0, 256, (32,))
        loss = ((dec(latent[idx]) - records[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        final = float(((dec(latent) - records) ** 2).mean())
    # The first design (cross-attention, position embeddings of std 0.02) ends at 0.064 x the mean
    # record's loss on this toy; the default reaches 0.012.
    assert final < 0.03 * base_loss, (final, base_loss)


def test_saved_configs_from_before_the_adaln_decoder_load_as_they_were_trained() -> None:
    from geogen.models.ubdiff import upgrade_model_config

    old = ModelConfig().model_dump()
    del old["transformer_conditioning"], old["position_scale"]
    cfg = ModelConfig.model_validate(upgrade_model_config(old))
    assert cfg.transformer_conditioning == "cross" and cfg.position_scale == 0.02
    new = ModelConfig(transformer_conditioning="adaln").model_dump()
    assert upgrade_model_config(new) == new


def test_layered_runs_from_before_the_damping_setting_rebuild_the_prior_they_were_trained_with() -> None:
    from geogen.models.ubdiff import upgrade_model_config

    old = ModelConfig(seismic_prior="layered").model_dump()
    del old["prior_damping_decades"]
    cfg = ModelConfig.model_validate(upgrade_model_config(old))
    assert cfg.prior_damping_decades == 3.0
    acq = Acquisition.preset("small")
    rebuilt = UBDiffNet(cfg, acq).prior.layered
    today = UBDiffNet(ModelConfig(seismic_prior="layered"), acq).prior.layered
    span = rebuilt.n_fft * acq.dt  # sigma = decades * ln 10 / span
    assert rebuilt.sigma * span / math.log(10) == pytest.approx(3.0)
    assert today.sigma * span / math.log(10) == pytest.approx(2.0)
