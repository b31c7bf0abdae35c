"""Convolutional vision stems as pure functions: the encoder under a recurrent layer for pixel observations.

    params = init_stem(key, "nature", (4, 84, 84), jnp.float32)
    z = apply_stem("nature", params, frames)      # frames (..., 4, 84, 84) → z (..., 512)

Images come **channel-first**, (..., C, H, W), float, with any leading batch axes (rtrl's ``atari/``
family gives (frame_stack, 84, 84) in [0, 1]; MinAtar gives (C, 10, 10)). Inside, a stem works
channel-last (NHWC, the layout XLA's CPU convolutions are fast in) with `jax.lax.conv_general_dilated`;
kernels are HWIO, ``{"kernel": (kh, kw, C_in, C_out), "bias": (C_out,)}``, and the last feature map
is flattened in (H, W, C) order before the dense layer. Every layer is followed by a ReLU.

Stems (``h × w × c`` is the last feature map, for the standard input):

* ``"nature"`` (Mnih et al. 2015, the Nature DQN trunk): conv 32 8×8 stride 4, conv 64 4×4 stride 2,
  conv 64 3×3 stride 1 (all VALID), flatten, Dense 512. On (4, 84, 84): 7 × 7 × 64 = 3136 → 512;
  77,984 convolution parameters (4·8·8·32 + 32 + 32·4·4·64 + 64 + 64·3·3·64 + 64). Images need
  H, W ≥ 36 (the smallest side whose last map is 1 × 1).
* ``"impala"`` (Espeholt et al. 2018, the IMPALA "deep" network): three sections of (16, 32, 32)
  channels, each conv 3×3 stride 1 (SAME), max-pool 3×3 stride 2 (SAME), then two residual blocks
  x + conv(relu(conv(relu(x)))) (3×3 SAME); then ReLU, flatten, Dense 256. Each section halves H and
  W, rounding up: on (4, 84, 84) the last map is 11 × 11 × 32 = 3872 → 256. Any H, W ≥ 1.
* ``"minatar"`` (Young & Tian 2019, MinAtar's network): conv 16 3×3 stride 1 (VALID), flatten,
  Dense 128. On (C, 10, 10): 8 × 8 × 16 = 1024 → 128. Images need H, W ≥ 3.

The output size is the dense layer's width (`stem_output_size`): 512, 256, 128. Initialisation as in the
rest of rtrl (`rtrl.networks.mlp`): kernels orthogonal × sqrt 2 (ReLU layers; a conv kernel is
orthogonal as a (kh·kw·C_in) × C_out matrix), biases zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from rtrl import validate
from rtrl.cells.initializers import orthogonal
from rtrl.networks.mlp import Layer, apply_dense, init_dense

__all__ = ["STEMS", "apply_stem", "check_stem_input", "conv2d", "feature_map_shape", "init_conv", "init_stem",
           "max_pool", "min_side", "stem_output_size", "to_channels_last"]

STEMS = ("nature", "impala", "minatar")

# (output channels, kernel side, stride) of each VALID convolution
_NATURE_CONVS = ((32, 8, 4), (64, 4, 2), (64, 3, 1))
_MINATAR_CONVS = ((16, 3, 1),)
_IMPALA_CHANNELS = (16, 32, 32)
_IMPALA_BLOCKS = 2  # residual blocks per section
_DENSE = {"nature": 512, "impala": 256, "minatar": 128}
_GAIN = math.sqrt(2.0)  # ReLU layers


# --------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------


def init_conv(key: jax.Array, kernel_size: int, in_channels: int, out_channels: int, dtype: Any, *,
              scale: float = _GAIN) -> Layer:
    """One 2-D convolution: kernel (k, k, C_in, C_out) orthogonal × ``scale`` as a (k·k·C_in) × C_out
    matrix, bias zero."""
    shape = (kernel_size, kernel_size, in_channels, out_channels)
    kernel = orthogonal(scale, column_axis=-1)(key, shape, jnp.dtype(dtype))
    return {"kernel": kernel, "bias": jnp.zeros((out_channels,), jnp.dtype(dtype))}


def conv2d(layer: Layer, x: jax.Array, stride: int = 1, padding: str = "VALID") -> jax.Array:
    """y[b, i, j, o] = Σ_{p, q, c} x[b, s·i + p, s·j + q, c]·K[p, q, c, o] + bias[o] on NHWC ``x``
    (B, H, W, C_in) (with SAME padding, x is zero-padded so that the output side is ⌈side / s⌉)."""
    y = jax.lax.conv_general_dilated(x, layer["kernel"], window_strides=(stride, stride), padding=padding,
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + layer["bias"]


def max_pool(x: jax.Array, size: int = 3, stride: int = 2) -> jax.Array:
    """Max over ``size`` × ``size`` windows with ``stride``, SAME padding (padded cells never win), NHWC."""
    return jax.lax.reduce_window(x, jnp.array(-jnp.inf, x.dtype), jax.lax.max, (1, size, size, 1), (1, stride, stride, 1), "SAME")


def to_channels_last(x: jax.Array) -> jax.Array:
    """(B, C, H, W) → (B, H, W, C)."""
    return jnp.transpose(x, (0, 2, 3, 1))


# --------------------------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------------------------


def _valid_side(side: int, convs: Sequence[tuple[int, int, int]]) -> int:
    for _, k, s in convs:
        side = (side - k) // s + 1 if side >= k else 0
    return side


def min_side(stem: str) -> int:
    """The smallest image height/width the stem takes (its last feature map is then 1 × 1)."""
    stem = validate.choice("stem", stem, STEMS)
    if stem == "impala":
        return 1
    convs = _NATURE_CONVS if stem == "nature" else _MINATAR_CONVS
    side = 1
    while _valid_side(side, convs) < 1:
        side += 1
    return side


def check_stem_input(stem: str, shape: Any) -> tuple[int, int, int]:
    """``shape`` as (C, H, W) if ``stem`` takes images of that shape; else a ValueError naming the stem
    and the shape (not an image (C, H, W), or H or W below `min_side`)."""
    stem = validate.choice("stem", stem, STEMS)
    try:
        dims = tuple(int(d) for d in shape)
        ok = len(dims) == 3 and all(d >= 1 and d == s for d, s in zip(dims, shape))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"the {stem} stem takes channel-first images of shape (C, H, W), got observations of "
                         f"shape {shape!r}.")
    low = min_side(stem)
    if min(dims[1:]) < low:
        raise ValueError(f"the {stem} stem needs images (C, H, W) with H and W at least {low}, got observations "
                         f"of shape {dims}; use a stem for smaller images (minatar, impala).")
    return dims  # type: ignore[return-value]


def feature_map_shape(stem: str, shape: Any) -> tuple[int, int, int]:
    """(h, w, c) of the stem's last feature map (before flattening) on images of ``shape`` (C, H, W)."""
    _, height, width = check_stem_input(stem, shape)
    if stem == "impala":
        for _ in _IMPALA_CHANNELS:
            height, width = -(-height // 2), -(-width // 2)
        return height, width, _IMPALA_CHANNELS[-1]
    convs = _NATURE_CONVS if stem == "nature" else _MINATAR_CONVS
    return _valid_side(height, convs), _valid_side(width, convs), convs[-1][0]


def stem_output_size(stem: str) -> int:
    """Width of the stem's output (its dense layer): nature 512, impala 256, minatar 128."""
    return _DENSE[validate.choice("stem", stem, STEMS)]


# --------------------------------------------------------------------------------------------
# Stems
# --------------------------------------------------------------------------------------------


def init_stem(key: jax.Array, stem: str, shape: Any, dtype: Any) -> dict[str, Any]:
    """Parameters of ``stem`` for images of ``shape`` (C, H, W):

        nature, minatar: {"convs": [layer, ...], "dense": layer}
        impala:          {"sections": [{"conv": layer, "blocks": [{"conv1", "conv2"}, ...]}, ...], "dense": layer}
    """
    channels, _, _ = check_stem_input(stem, shape)
    h, w, c = feature_map_shape(stem, shape)
    k_convs, k_dense = jax.random.split(key)
    dense = init_dense(k_dense, h * w * c, stem_output_size(stem), dtype, scale=_GAIN)
    if stem == "impala":
        sections = []
        for k_section, out in zip(jax.random.split(k_convs, len(_IMPALA_CHANNELS)), _IMPALA_CHANNELS):
            keys = jax.random.split(k_section, 1 + 2 * _IMPALA_BLOCKS)
            blocks = [{"conv1": init_conv(keys[1 + 2 * b], 3, out, out, dtype),
                       "conv2": init_conv(keys[2 + 2 * b], 3, out, out, dtype)} for b in range(_IMPALA_BLOCKS)]
            sections.append({"conv": init_conv(keys[0], 3, channels, out, dtype), "blocks": blocks})
            channels = out
        return {"sections": sections, "dense": dense}
    convs = []
    for k_conv, (out, size, _) in zip(jax.random.split(k_convs, len(_layers(stem))), _layers(stem)):
        convs.append(init_conv(k_conv, size, channels, out, dtype))
        channels = out
    return {"convs": convs, "dense": dense}


def apply_stem(stem: str, params: dict[str, Any], x: jax.Array) -> jax.Array:
    """The stem on channel-first images ``x`` (..., C, H, W) (any leading axes) → (..., output size)."""
    x = jnp.asarray(x)
    channels = _input_channels(stem, params)
    if x.ndim < 3 or x.shape[-3] != channels:
        raise ValueError(f"the {stem} stem's parameters take channel-first images (..., {channels}, H, W), got "
                         f"an array of shape {tuple(x.shape)}.")
    check_stem_input(stem, x.shape[-3:])
    lead = x.shape[:-3]
    h = to_channels_last(x.reshape((-1,) + x.shape[-3:]).astype(params["dense"]["kernel"].dtype))
    if stem == "impala":
        for section in params["sections"]:
            h = max_pool(conv2d(section["conv"], h, 1, "SAME"))
            for block in section["blocks"]:
                r = conv2d(block["conv1"], jax.nn.relu(h), 1, "SAME")
                h = h + conv2d(block["conv2"], jax.nn.relu(r), 1, "SAME")
        h = jax.nn.relu(h)
    else:
        for layer, (_, _, stride) in zip(params["convs"], _layers(stem)):
            h = jax.nn.relu(conv2d(layer, h, stride, "VALID"))
    z = jax.nn.relu(apply_dense(params["dense"], h.reshape(h.shape[0], -1)))
    return z.reshape(lead + z.shape[-1:])


def _layers(stem: str) -> tuple[tuple[int, int, int], ...]:
    return _NATURE_CONVS if stem == "nature" else _MINATAR_CONVS


def _input_channels(stem: str, params: dict[str, Any]) -> int:
    validate.choice("stem", stem, STEMS)
    first = params["sections"][0]["conv"] if stem == "impala" else params["convs"][0]
    return int(first["kernel"].shape[2])
