"""The convolutional stems of rtrl.networks.conv: shapes, channel-first images, refused shapes, the
Nature DQN trunk's published parameter count, and a per-pixel reference for a convolution and a stem."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rtrl.networks import conv

NATURE_DQN_CONV_PARAMETERS = 77_984  # the Nature DQN conv trunk with 4 input frames (before its 3136 × 512 dense)


def count(tree) -> int:
    return sum(int(math.prod(x.shape)) for x in jax.tree.leaves(tree))


@pytest.mark.parametrize("stem,shape,width,flat", [("nature", (4, 84, 84), 512, 3136),
                                                   ("impala", (4, 84, 84), 256, 3872),
                                                   ("minatar", (4, 10, 10), 128, 1024)])
def test_stem_shapes_on_their_standard_inputs(stem, shape, width, flat):
    params = jax.eval_shape(lambda k: conv.init_stem(k, stem, shape, jnp.float32), jax.random.PRNGKey(0))
    out = jax.eval_shape(lambda p, x: conv.apply_stem(stem, p, x), params, jax.ShapeDtypeStruct((2, 3) + shape,
                                                                                              jnp.float32))
    assert out.shape == (2, 3, width)  # any leading axes
    assert conv.stem_output_size(stem) == width
    assert params["dense"]["kernel"].shape == (flat, width)
    assert math.prod(conv.feature_map_shape(stem, shape)) == flat


def test_nature_stem_has_the_published_parameter_count():
    params = jax.eval_shape(lambda k: conv.init_stem(k, "nature", (4, 84, 84), jnp.float32), jax.random.PRNGKey(0))
    assert count(params["convs"]) == NATURE_DQN_CONV_PARAMETERS
    assert count(params["dense"]) == 3136 * 512 + 512


def test_initialisation_is_orthogonal_relu_gain_with_zero_bias():
    params = conv.init_stem(jax.random.PRNGKey(0), "minatar", (3, 10, 10), jnp.float64)
    kernel = np.asarray(params["convs"][0]["kernel"]).reshape(-1, 16)  # (3·3·3) × 16: orthonormal columns × sqrt 2
    np.testing.assert_allclose(kernel.T @ kernel, 2.0 * np.eye(16), atol=1e-10)
    assert not np.any(np.asarray(params["convs"][0]["bias"])) and not np.any(np.asarray(params["dense"]["bias"]))


def reference_conv(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    """VALID convolution of a channel-first image x (C, H, W) by a (k, k, C, O) kernel, pixel by pixel;
    returns (H', W', O)."""
    c, height, width = x.shape
    k, o = kernel.shape[0], kernel.shape[3]
    out = np.zeros(((height - k) // stride + 1, (width - k) // stride + 1, o))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            for q in range(o):
                total = bias[q]
                for ch in range(c):
                    for p in range(k):
                        for r in range(k):
                            total += x[ch, stride * i + p, stride * j + r] * kernel[p, r, ch, q]
                out[i, j, q] = total
    return out


def test_conv2d_matches_a_per_pixel_reference():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 7, 6))  # channel-first, H ≠ W
    layer = {"kernel": jnp.asarray(rng.normal(size=(3, 3, 2, 4))), "bias": jnp.asarray(rng.normal(size=4))}
    got = conv.conv2d(layer, conv.to_channels_last(jnp.asarray(x)[None]), stride=2)[0]
    np.testing.assert_allclose(got, reference_conv(x, np.asarray(layer["kernel"]), np.asarray(layer["bias"]), 2),
                               rtol=1e-12, atol=1e-12)


def test_minatar_stem_reads_channel_first_images():
    """The whole stem against the reference: conv per pixel on (C, H, W), ReLU, flatten (H, W, C), Dense, ReLU."""
    rng = np.random.default_rng(1)
    params = conv.init_stem(jax.random.PRNGKey(2), "minatar", (2, 5, 4), jnp.float64)
    params["convs"][0]["bias"] = jnp.asarray(rng.normal(size=16))  # a bias that matters
    x = rng.uniform(0, 1, (3, 2, 5, 4))
    got = conv.apply_stem("minatar", params, jnp.asarray(x))
    layer, dense = params["convs"][0], params["dense"]
    for b in range(3):
        h = np.maximum(reference_conv(x[b], np.asarray(layer["kernel"]), np.asarray(layer["bias"]), 1), 0)
        want = np.maximum(h.reshape(-1) @ np.asarray(dense["kernel"]) + np.asarray(dense["bias"]), 0)
        np.testing.assert_allclose(got[b], want, rtol=1e-10, atol=1e-12)


def test_impala_pooling_and_residual_blocks():
    """One IMPALA section by hand on a tiny image: conv (SAME) → max-pool 3×3/2 (SAME) → x + conv(relu(conv(relu x)))."""
    rng = np.random.default_rng(3)
    params = conv.init_stem(jax.random.PRNGKey(4), "impala", (1, 5, 5), jnp.float64)
    x = jnp.asarray(rng.normal(size=(1, 1, 5, 5)))
    h = conv.to_channels_last(x)
    section = params["sections"][0]
    y = conv.conv2d(section["conv"], h, 1, "SAME")
    pooled = np.full((1, 3, 3, 16), -np.inf)
    for i in range(3):
        for j in range(3):  # SAME with stride 2 on 5: windows centred on 0, 2, 4 (padding one on each side)
            window = np.asarray(y)[0, max(2 * i - 1, 0):2 * i + 2, max(2 * j - 1, 0):2 * j + 2]
            pooled[0, i, j] = window.max(axis=(0, 1))
    np.testing.assert_allclose(conv.max_pool(y), pooled, rtol=1e-12)
    assert conv.feature_map_shape("impala", (1, 5, 5)) == (1, 1, 32)  # 5 → 3 → 2 → 1


@pytest.mark.parametrize("stem,shape,match", [
    ("nature", (4, 35, 84), "at least 36"),
    ("nature", (4, 84), r"\(C, H, W\)"),
    ("minatar", (4, 2, 10), "at least 3"),
    ("minatar", (100,), r"\(C, H, W\)"),
    ("impala", (4, 0, 10), r"\(C, H, W\)"),
])
def test_bad_shapes_are_refused_naming_the_stem_and_shape(stem, shape, match):
    with pytest.raises(ValueError, match=match) as e:
        conv.init_stem(jax.random.PRNGKey(0), stem, shape, jnp.float32)
    assert stem in str(e.value) and str(shape) in str(e.value)


def test_apply_refuses_images_that_do_not_fit_the_parameters():
    params = conv.init_stem(jax.random.PRNGKey(0), "minatar", (4, 10, 10), jnp.float32)
    with pytest.raises(ValueError, match=r"\(\.\.\., 4, H, W\)"):
        conv.apply_stem("minatar", params, jnp.zeros((2, 10, 10, 4)))  # channel-last by mistake
    with pytest.raises(ValueError, match="stem must be one of"):
        conv.init_stem(jax.random.PRNGKey(0), "resnet", (4, 10, 10), jnp.float32)


def test_min_sides():
    assert (conv.min_side("nature"), conv.min_side("impala"), conv.min_side("minatar")) == (36, 1, 3)
    assert conv.feature_map_shape("nature", (4, 36, 36)) == (1, 1, 64)
