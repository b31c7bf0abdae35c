"""R2AC with a convolutional vision stem (rtrl.networks.conv under the cell), in float64: which gradient
the stem receives, checked against BPTT with the matching stop-gradients; and the stem's checks.

The learner (`rtrl.agents.r2ac_learner`) is driven on a hand-made segment of 3 environments with tiny
channel-first images (2, 5, 5) (the minatar stem: conv 16 3×3 → 3 × 3 × 16 → Dense 128), whose episodes
start before the segment (env 0 at the stream's start, env 2 two steps later), exactly at its start
(env 1) and end inside it, as in tests/agents/test_r2ac_exact.py. The references are written here: the
network stepped in Python with ``gradient="bptt"`` cells, and IMPALA's loss written out.

* ``stem_gradient="immediate"`` (RTRL): cell and heads equal ``jax.grad`` through the forward unrolled
  from the EPISODE START; the stem equals ``jax.grad`` of the same loss with ``jax.lax.stop_gradient``
  on the carried recurrent state before every step;
* ``stem_gradient="segment"`` (RTRL): cell and heads as above; the stem equals ``jax.grad`` through the
  segment alone from the start state held constant;
* the two stem gradients differ; T-BPTT(M) and the feed-forward learner work with a conv stem.

Planted bugs (checked by hand, see the report of issue 12): "segment" silently returning the immediate
gradient fails the three [segment] cases of `test_rtrl_stem_gradient`; "immediate" returning the
segment gradient fails the three [immediate] cases; the segment pass starting from a zero state instead
of the actor's start state fails the [segment] cases; a stem that reshapes (C, H, W) to (H, W, C) instead
of transposing fails tests/networks/test_conv.py's per-pixel references.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rtrl

jax.config.update("jax_enable_x64", True)  # as tests/conftest.py: the configs below are float64

from rtrl.agents import vtrace
from rtrl.agents.network import ActorCritic, resolve_stem
from rtrl.agents.r2ac import R2ACAgent
from rtrl.agents.r2ac_config import R2ACConfig
from rtrl.agents.r2ac_learner import (
    forward,
    make_optimizer,
    rtrl_gradient,
    targets,
    tbptt_gradient,
)
from rtrl.envs.jax_env import JaxEnv, VmapEnv
from rtrl.envs.spaces import Box, Discrete

from _r2ac_streams import ACTIONS, ENVS, M, PRE
from _r2ac_streams import Stream as _Stream


def Stream(seed: int) -> _Stream:
    """The hand-made stream with image observations."""
    return _Stream(seed, observation_shape=IMAGE)

EXACT = 1e-9  # max relative error where exact
DIFFERENT = 1e-3  # min relative difference where the gradients must differ
IMAGE = (2, 5, 5)


def config(**overrides: Any) -> R2ACConfig:
    base: dict[str, Any] = {"num_envs": ENVS, "unroll": M, "hidden_size": 3, "head": (4,), "dtype": "float64",
                            "activation": "tanh", "entropy_coef": 0.05, "stem": "minatar"}
    base.update(overrides)
    return R2ACConfig(**base)


def unrolled(net: ActorCritic, params: Any, stream: Stream, start: int, start_state: Any = None,
             stop_carried_state: bool = False) -> dict[str, jax.Array]:
    """``net`` with BPTT cells stepped (a scan over `ActorCritic.step`) from stream step ``start`` (zero
    state, or ``start_state`` held constant) to the end; with ``stop_carried_state`` the recurrent state
    carried into every step is a constant. Per segment step: value, log π(a_t), entropy."""
    bptt = net.with_gradient("bptt")
    carry = bptt.initial_carry(params, ENVS)
    if start_state is not None:
        carry = carry._replace(state=jax.lax.stop_gradient(start_state))

    def step(carry, xs):
        obs, first, action = xs
        if stop_carried_state:
            carry = jax.lax.stop_gradient(carry)
        carry, policy, value = bptt.step(params, carry, obs, first)
        return carry, {"value": value, "log_prob": policy.log_prob(action), "entropy": policy.entropy()}

    xs = tuple(jnp.asarray(x[start:]) for x in (stream.obs, stream.first, stream.action))
    _, out = jax.lax.scan(step, carry, xs)
    return {k: v[PRE - start:] for k, v in out.items()}


def impala_loss(ref: dict[str, jax.Array], tg: vtrace.VTraceOutput, cfg: R2ACConfig) -> jax.Array:
    return jnp.sum(-tg.pg_advantage_t * ref["log_prob"] + cfg.baseline_coef * 0.5 * (tg.vs_t - ref["value"]) ** 2
                   - cfg.entropy_coef * ref["entropy"])


def relative_error(got: Any, want: Any) -> float:
    """max |got − want| / max |want| over all leaves (same tree structure)."""
    assert jax.tree.structure(got) == jax.tree.structure(want)
    diff, scale = 0.0, 0.0
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape
        diff, scale = max(diff, float(np.max(np.abs(a - b)))), max(scale, float(np.max(np.abs(b))))
    return diff / scale


BELOW = ("stem", "encoder")


def split(grads: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the layers below the cell, the rest)."""
    return ({k: v for k, v in grads.items() if k in BELOW}, {k: v for k, v in grads.items() if k not in BELOW})


def setup(cell: str, encoder: tuple[int, ...] = (), seed: int = 0, **overrides: Any):
    cfg = config(cell=cell, encoder=encoder, **overrides)
    net = ActorCritic.from_config(cfg, IMAGE, ACTIONS, True)
    params = net.init(jax.random.PRNGKey(seed))
    # a bias that matters, so that a wrong gradient for it shows
    params["stem"]["convs"][0]["bias"] = 0.1 * jax.random.normal(jax.random.PRNGKey(seed + 1), (16,))
    stream = Stream(seed)
    return cfg, net, params, stream, stream.segment(net, params)


@functools.cache
def references(cell: str, encoder: tuple[int, ...]):
    """The segment, the learner's targets and the three reference gradients: from the episode start (exact),
    the same with the carried state stopped at every step (the immediate gradient), and through the segment
    alone (the network and segment do not depend on ``stem_gradient``)."""
    cfg, net, params, stream, segment = setup(cell, encoder)
    tg = targets(cfg, segment, forward(net, params, segment))
    grad = lambda f: jax.jit(jax.grad(lambda p: impala_loss(f(p), tg, cfg)))(params)
    exact = grad(lambda p: unrolled(net, p, stream, 0))
    immediate = grad(lambda p: unrolled(net, p, stream, 0, stop_carried_state=True))
    through_segment = grad(lambda p: unrolled(net, p, stream, PRE, start_state=segment.start_carry.state))
    return params, segment, tg, exact, immediate, through_segment


# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stem_gradient", ["immediate", "segment"])
@pytest.mark.parametrize("cell,encoder", [("elstm", ()), ("rtu-linear", ()), ("elstm", (5,))])
def test_rtrl_stem_gradient(cell, encoder, stem_gradient):
    cfg = config(cell=cell, encoder=encoder, stem_gradient=stem_gradient)
    net = ActorCritic.from_config(cfg, IMAGE, ACTIONS, True)
    params, segment, tg, exact, immediate, through_segment = references(cell, encoder)
    grads, _ = jax.jit(rtrl_gradient, static_argnums=(0, 1))(net, cfg, params, segment, tg)
    below, rest = split(grads)
    assert set(below) == ({"stem", "encoder"})
    assert relative_error(rest, split(exact)[1]) < EXACT  # the cell and the heads: exact RTRL
    want = immediate if stem_gradient == "immediate" else through_segment
    assert relative_error(below, split(want)[0]) < EXACT


def test_the_two_stem_gradients_differ():
    *_, exact, immediate, through_segment = references("elstm", ())
    assert relative_error(split(immediate)[0]["stem"], split(through_segment)[0]["stem"]) > DIFFERENT
    # and neither is the exact gradient from the episode start (RTRL gives the stem no exact gradient)
    assert relative_error(split(through_segment)[0]["stem"], split(exact)[0]["stem"]) > DIFFERENT


@pytest.mark.parametrize("cell", ["elstm", "rtu-linear"])
def test_tbptt_with_a_stem_is_bptt_through_the_segment(cell):
    cfg = config(cell=cell, gradient="tbptt")
    net = ActorCritic.from_config(cfg, IMAGE, ACTIONS, True)
    params = net.init(jax.random.PRNGKey(0))
    stream = Stream(0)
    segment = stream.segment(net, params)
    grads, fwd, tg, _ = jax.jit(tbptt_gradient, static_argnums=(0, 1))(net, cfg, params, segment)
    ref = unrolled(net, params, stream, PRE, start_state=segment.start_carry.state)
    np.testing.assert_allclose(fwd.value, ref["value"], rtol=EXACT, atol=1e-12)
    want = jax.jit(jax.grad(lambda p: impala_loss(unrolled(net, p, stream, PRE, start_state=segment.start_carry.state),
                                                   tg, cfg)))(params)
    assert relative_error(grads, want) < EXACT


def test_feed_forward_with_a_stem_sums_per_step_gradients():
    cfg = config(gradient="none", encoder=(5,))
    net = ActorCritic.from_config(cfg, IMAGE, ACTIONS, True)
    params = net.init(jax.random.PRNGKey(1))
    segment = Stream(1).segment(net, params)
    grads, _, tg, _ = jax.jit(tbptt_gradient, static_argnums=(0, 1))(net, cfg, params, segment)

    def loss(p):
        _, policy, value = net.step(p, (), segment.obs.reshape((M * ENVS,) + IMAGE), segment.first.reshape(-1))
        ref = {"value": value.reshape(M, ENVS), "log_prob": policy.log_prob(segment.action.reshape(-1)).reshape(M, ENVS),
               "entropy": policy.entropy().reshape(M, ENVS)}
        return impala_loss(ref, tg, cfg)

    assert relative_error(grads, jax.jit(jax.grad(loss))(params)) < EXACT


# -- the network with a conv stem -----------------------------------------------------------------


def test_network_with_a_conv_stem_takes_images():
    cfg = config(cell="elstm", dtype="float32", stem="auto")
    net = ActorCritic.from_config(cfg, (4, 10, 10), ACTIONS, True)
    assert (net.stem, net.observation_shape, net.observation_size) == ("minatar", (4, 10, 10), 400)
    params = net.init(jax.random.PRNGKey(0))
    assert "stem" in params and params["cell"]["F"].shape[0] == 128  # the cell reads the stem's 128 features
    obs, first = jnp.ones((2, 4, 10, 10)), jnp.array([True, False])
    carry, policy, value = net.step(params, net.initial_carry(params, 2), obs, first)
    assert policy.logits.shape == (2, ACTIONS) and value.shape == (2,)
    _, value_r = net.replay(params, net.initial_carry(params, 2), obs, first)
    np.testing.assert_allclose(value_r, value, rtol=1e-6)
    assert net.value_only(params, carry, obs).shape == (2,)
    assert net.features(params, carry, obs, first)[1].shape == (2, net.feature_size)


def test_dense_networks_are_unchanged():
    """No "stem" entry for a flat observation, and the old constructor (observation_size only) still works."""
    net = ActorCritic(observation_size=4, action_size=2, discrete=True, cell=None)
    assert (net.stem, net.observation_shape) == ("dense", (4,))
    assert "stem" not in net.init(jax.random.PRNGKey(0))
    assert ActorCritic.from_config(config(stem="auto", dtype="float32"), 4, 2, True) == \
        ActorCritic.from_config(config(stem="dense", dtype="float32"), (4,), 2, True)


# -- checks --------------------------------------------------------------------------------------


@pytest.mark.parametrize("stem,shape,want", [("auto", (7,), "dense"), ("auto", (4, 84, 84), "nature"),
                                             ("auto", (4, 36, 40), "nature"), ("auto", (4, 35, 84), "minatar"),
                                             ("auto", (6, 10, 10), "minatar"), ("impala", (3, 10, 10), "impala"),
                                             ("dense", (7,), "dense")])
def test_resolve_stem(stem, shape, want):
    assert resolve_stem(stem, shape) == want
    assert config(stem=stem).stem_for(shape) == want


@pytest.mark.parametrize("stem,shape,match", [
    ("dense", (4, 84, 84), r"stem='dense' takes flat .* \(4, 84, 84\).*valid for them: 'auto', 'nature'"),
    ("nature", (8,), r"stem='nature' is a convolutional stem .* \(8,\); valid for them: 'auto', 'dense'"),
    ("minatar", (8,), r"stem='minatar' is a convolutional stem"),
    ("nature", (4, 10, 10), r"stem='nature': the nature stem needs .* at least 36, .* \(4, 10, 10\)"),
    ("auto", (4, 1, 10), r"stem='auto': the minatar stem needs .* at least 3"),
    ("auto", (84, 84), r"flat vectors \(D,\) or channel-first images \(C, H, W\), got shape \(84, 84\)"),
    ("auto", (84, 84, 4), r"\(84, 84, 4\) look channel-last \(H, W, C\).*transpose them to \(4, 84, 84\)"),
    ("nature", (96, 96, 3), r"look channel-last"),
])
def test_stems_that_do_not_fit_the_observations_are_refused(stem, shape, match):
    with pytest.raises(ValueError, match=match):
        config(stem=stem).stem_for(shape)
    with pytest.raises(ValueError, match=match):
        ActorCritic.from_config(config(stem=stem), shape, ACTIONS, True)


def test_config_checks():
    with pytest.raises(ValueError, match="stem must be one of 'auto', 'dense', 'nature', 'impala', 'minatar', got 'vit'"):
        config(stem="vit")
    with pytest.raises(ValueError, match="stem_gradient must be one of 'segment', 'immediate', got 'full'"):
        config(stem_gradient="full")
    with pytest.raises(ValueError, match="stem_gradient='immediate' needs gradient='rtrl'"):
        config(gradient="tbptt", stem_gradient="immediate")
    with pytest.raises(ValueError, match="c_bar=1.5 is above rho_bar=1; V-trace assumes c_bar <= rho_bar"):
        config(c_bar=1.5)
    config(rho_bar=2.0, c_bar=1.0)  # c̄ < ρ̄ is fine
    assert config(stem="auto").describe() == "R2AC elstm n=3 (RTRL, M=6)"
    assert config(stem="dense").describe() == "R2AC elstm n=3 (RTRL, M=6)"
    assert config(stem="nature").describe() == "R2AC elstm n=3 (RTRL, M=6), nature stem (segment gradient)"
    assert config(stem="impala", gradient="tbptt").describe() == "R2AC elstm n=3 (T-BPTT(6), M=6), impala stem"


# -- the agent on a pixel environment ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Flashes(JaxEnv):
    """A tiny pixel task: an image (2, 6, 6) whose channel 0 is lit (rewarding action 1) or not (action 0);
    episodes of 4 steps, truncated."""

    @property
    def observation_space(self) -> Box:
        return Box((2, 6, 6), 0.0, 1.0)

    @property
    def action_space(self) -> Discrete:
        return Discrete(2)

    def _obs(self, lit):
        return jnp.stack([jnp.full((6, 6), lit, jnp.float32), jnp.zeros((6, 6), jnp.float32)])

    def reset_env(self, key):
        lit = jax.random.bernoulli(key).astype(jnp.float32)
        return (lit, jnp.int32(0)), self._obs(lit)

    def step_env(self, state, action, key):
        lit, t = state
        reward = jnp.where(action == lit.astype(jnp.int32), 1.0, 0.0)
        new_lit = jax.random.bernoulli(key).astype(jnp.float32)
        return (new_lit, t + 1), self._obs(new_lit), reward, jnp.bool_(False), t + 1 >= 4


@pytest.mark.parametrize("gradient,stem_gradient", [("rtrl", "segment"), ("rtrl", "immediate"), ("tbptt", "segment"),
                                                    ("none", "segment")])
def test_agent_learns_on_images_with_a_conv_stem(gradient, stem_gradient):
    """One jitted iteration (actors, targets, gradient, RMSProp) on images: the stem's parameters move."""
    cfg = R2ACConfig(num_envs=2, unroll=3, hidden_size=4, head=(4,), gradient=gradient, stem_gradient=stem_gradient)
    env = VmapEnv(Flashes(), cfg.num_envs)
    net = ActorCritic.from_config(cfg, env.observation_space.shape, 2, True)
    assert net.stem == "minatar"  # auto on 6 × 6 images
    agent = R2ACAgent(cfg, env, net, make_optimizer(cfg))
    state = agent.init(jax.random.PRNGKey(0))
    new_state, metrics = agent.iteration(state)
    assert all(np.isfinite(float(v)) for v in metrics.values())
    moved = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), new_state.params["stem"], state.params["stem"])
    assert max(jax.tree.leaves(moved)) > 0


def test_a_conv_stem_agent_saves_loads_and_acts_on_images(tmp_path):
    """The saved file records the image shape: loaded, the agent has the same conv stem and parameters,
    takes (B, C, H, W) observations and refuses flat ones (a file holding only the flat size would
    reload as a dense network)."""
    from rtrl.agents.policy import TrainedAgent
    from rtrl.envs import Discrete as EnvDiscrete
    from rtrl.experiments.train_config import TrainConfig

    cfg = R2ACConfig(num_envs=2, unroll=3, hidden_size=4, head=(4,), dtype="float32")
    net = ActorCritic.from_config(cfg, (2, 6, 6), 2, True)
    params = net.init(jax.random.PRNGKey(1))
    agent = TrainedAgent(config=TrainConfig(env="jax/RepeatPreviousEasy", r2ac=cfg, wrappers="none"),
                         network=net, params=params, action_space=EnvDiscrete(2))
    path = str(tmp_path / "agent.npz")
    rtrl.agents.save(agent, path)
    loaded = rtrl.load(path)
    assert loaded.network.stem == "minatar" and loaded.observation_shape == (2, 6, 6)
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), loaded.params, params))
    obs = jnp.ones((3, 2, 6, 6), jnp.float32)
    actions, _ = loaded.act(obs, loaded.initial_carry(3), first=True, deterministic=True)
    want, _ = agent.act(obs, agent.initial_carry(3), first=True, deterministic=True)
    assert actions.shape == (3,) and jnp.array_equal(actions, want)
    with pytest.raises(ValueError, match=r"obs must have shape \(batch, 2, 6, 6\)"):
        loaded.act(jnp.ones((3, 72)), loaded.initial_carry(3), first=True, deterministic=True)


def test_the_standard_wrapper_stack_leaves_images_as_they_are():
    """No previous action/reward appended to images (nowhere to put them); asked for explicitly, refused."""
    from rtrl.envs import wrappers

    env = wrappers.standard(VmapEnv(Flashes(), 2), normalize_obs=False, normalize_reward=False)
    assert env.observation_space.shape == (2, 6, 6)
    with pytest.raises(ValueError, match=r"needs flat \(1-D\) observations"):
        wrappers.standard(VmapEnv(Flashes(), 2), normalize_obs=False, normalize_reward=False,
                          previous_action_and_reward=True)
