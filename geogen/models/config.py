"""Configuration of the UB-Diff networks (pydantic; the workflow file's ``model`` section is exactly
:class:`ModelConfig`, so a typo in YAML is caught with its path before anything runs).

Settings added after runs were trained are listed in :data:`LEGACY_MODEL_FIELDS` with the value
those runs used; :func:`upgrade_model_config` fills them into a saved configuration.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class StrictConfig(BaseModel):
    """A configuration section: unknown keys are an error."""

    model_config = ConfigDict(extra="forbid")


class ModelConfig(StrictConfig):
    """The UB-Diff networks."""

    latent_dim: int = Field(128, gt=0, description="size c of the co-latent (Tanh output, in [-1, 1])")
    encoder_channels: list[int] = Field([32, 64, 128, 256], min_length=1, description="encoder widths")
    seismic_decoder: Literal["transformer", "linear"] = Field(
        "transformer", description="transformer over record patches, or the published linear head")
    transformer_dim: int = Field(128, gt=0, description="token width of the seismic transformer")
    transformer_depth: int = Field(2, gt=0, description="transformer blocks")
    transformer_heads: int = Field(8, gt=0, description="attention heads")
    patch_time: int = Field(100, gt=0, description="time samples per seismic token")
    transformer_conditioning: Literal["adaln", "cross"] = Field(
        "adaln", description="how the latent reaches the seismic tokens: adaLN modulation of every block, "
                             "or cross-attention to memory tokens (the first design)")
    position_scale: float = Field(1.0, gt=0, description="initial std of the seismic tokens' position embeddings")
    seismic_prior: Literal["none", "reflectivity", "layered"] = Field(
        "none",
        description="layered: the record starts from physics of the decoded velocity map (the solver's direct "
        "wave plus the exact response of its layering along each trace, geogen.models.layered) and "
        "the seismic decoder adds what that misses; reflectivity: a convolutional model of primaries "
        "through a learned refiner (the first design); none: the published decoder alone",
    )
    prior_channels: int = Field(8, ge=0, description="hidden channels of the reflectivity prior's refiner "
                                                     "(0: one linear filter)")
    prior_column_stride: int = Field(
        8, ge=1, description="layered prior: solve every n-th receiver's column and blend between them (cost / n)")
    prior_resolution: float = Field(
        10.0, gt=0, description="layered prior: rows whose velocities differ by less (m/s) merge into one layer")
    prior_damping_decades: float = Field(
        2.0, gt=0, le=6, description="layered prior: decades by which the complex frequency damps the end of the "
                                     "FFT window (undone after the transform; 3, the first setting, amplified the "
                                     "frequency cut-off's ringing into late noise on maps with a fast, laterally "
                                     "varying top)")
    denoiser: Literal["mlp", "unet1d"] = Field(
        "mlp", description="residual MLP over the latent, or the paper's 1-D U-Net"
    )
    denoiser_width: int = Field(256, gt=0, description="hidden width of the MLP denoiser")
    denoiser_depth: int = Field(3, gt=0, description="residual blocks of the MLP denoiser")


#: Model fields added after runs were already trained, with the value those runs used (a checkpoint
#: or config.json without the field was built that way, whatever today's default is).
LEGACY_MODEL_FIELDS: dict[str, Any] = {"transformer_conditioning": "cross", "position_scale": 0.02}
LEGACY_ANY_DECODER: dict[str, Any] = {"seismic_prior": "none", "prior_damping_decades": 3.0}


def upgrade_model_config(saved: dict[str, Any]) -> dict[str, Any]:
    """A saved model configuration with the fields it predates filled in as they were then."""
    legacy = LEGACY_ANY_DECODER
    if saved.get("seismic_decoder", "transformer") == "transformer":
        legacy = {**LEGACY_MODEL_FIELDS, **legacy}
    return {**legacy, **saved}
