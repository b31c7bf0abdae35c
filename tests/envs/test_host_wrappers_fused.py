"""The host wrapper stack stepped as one (fused) gives exactly what the nested shells gave, and the
cheap action checks give exactly what `check_host_actions` gives (issue 13, item 4)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

import rtrl.envs as E
from rtrl.envs import Box, Discrete, HostEnv, check_host_actions
from rtrl.envs.host import action_checker
from rtrl.envs.host_wrappers import HostWrapper
from rtrl.envs.wrapper_logic import (
    ClipAction,
    MaskObservation,
    NormalizeObservation,
    PreviousActionReward,
)


class NestedShell(HostEnv):
    """The host shell as it was before the stack was fused: one shell per rule, each one checking the
    actions it receives against its rule's space and stepping the env inside it (the reference)."""

    def __init__(self, env: HostEnv, rule: Any):
        self.env, self.rule, self.num_envs = env, rule, env.num_envs
        self.observation_space, self.action_space = rule.observation_space, rule.action_space
        self.state = rule.init(np, (self.num_envs,))

    def reset(self, *, seed=None):
        obs = self.env.reset(seed=seed)
        self.state, obs = self.rule.reset(np, self.rule.init(np, (self.num_envs,)), obs)
        return obs

    def step(self, actions):
        if self.rule.uses_action:
            actions = check_host_actions(self.rule.action_space, actions, self.num_envs)
        obs, reward, done, info = self.env.step(self.rule.inner_action(np, actions))
        self.state, obs, reward, info = self.rule.step(np, self.state, actions, obs, reward, done, info)
        return obs, reward, done, info


def shells_of(env: HostEnv) -> tuple[list[HostWrapper], HostEnv]:
    """The shells of a stack, innermost first, and the env under them."""
    shells = []
    while isinstance(env, HostWrapper):
        shells.append(env)
        env = env.env
    return shells[::-1], env


def nested_copy(env: HostEnv, base: HostEnv) -> tuple[HostEnv, list[NestedShell]]:
    """The rules of ``env``'s stack, each in a `NestedShell`, over a fresh ``base``."""
    shells, _ = shells_of(env)
    nested = []
    for shell in shells:
        base = NestedShell(base, shell.rule)
        nested.append(base)
    return base, nested


def assert_same_tree(a: Any, b: Any, what: str) -> None:
    if isinstance(a, dict):
        assert sorted(a) == sorted(b), what
        for k in a:
            assert_same_tree(a[k], b[k], f"{what}[{k}]")
    elif isinstance(a, tuple):
        assert type(a) is type(b) and len(a) == len(b), what
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tree(x, y, f"{what}.{i}")
    elif a is None:
        assert b is None, what
    else:
        x, y = np.asarray(a), np.asarray(b)
        assert x.dtype == y.dtype and x.shape == y.shape, f"{what}: {x.dtype}{x.shape} vs {y.dtype}{y.shape}"
        np.testing.assert_array_equal(x, y, err_msg=what)


def _actions(space, rng, num_envs):
    if isinstance(space, Discrete):
        return rng.integers(space.n, size=num_envs)
    return rng.uniform(-2.0, 2.0, (num_envs,) + space.shape).astype(np.float32)  # beyond Hopper's [-1, 1]: clipped


@pytest.mark.parametrize(("name", "options", "standard_options", "steps"), [
    ("mujoco/Hopper-P", {"max_episode_steps": 25}, {"previous_action_and_reward": True}, 80),
    ("popgym/CountRecallEasy", {}, {}, 80),
])
def test_fused_stack_equals_nested_shells(name, options, standard_options, steps):
    """Bit for bit: observations, rewards, dones, every info entry and every shell's statistics, over
    episode ends (truncations for Hopper), with the raw previous action appended (what the outer
    shell received, not the clipped one the env got)."""
    fused = E.wrappers.standard(E.make(name, num_envs=2, **options), **standard_options)
    reference, nested = nested_copy(fused, E.make(name, num_envs=2, **options))
    shells, _ = shells_of(fused)
    assert len(shells) >= 4
    assert_same_tree(fused.reset(seed=5), reference.reset(seed=5), "reset obs")
    rng = np.random.default_rng(0)
    dones = 0
    for t in range(steps):
        a = _actions(fused.action_space, rng, 2)
        got, want = fused.step(a), reference.step(a)
        assert_same_tree(got, want, f"step {t}")
        for k, (shell, ref) in enumerate(zip(shells, nested)):
            assert_same_tree(shell.state, ref.state, f"step {t} shell {k} ({type(shell.rule).__name__}) state")
        dones += int(np.sum(got[2]))
    assert dones > 0  # episode ends were crossed


def test_inner_shells_still_step_alone():
    """A shell inside a stack is still a whole env of its own (its own, shorter, fused stack)."""
    outer = E.wrappers.normalize_observation(E.wrappers.clip_action(E.make("mujoco/Hopper-P", num_envs=1)))
    inner = outer.env
    reference, _ = nested_copy(inner, E.make("mujoco/Hopper-P", num_envs=1))
    assert_same_tree(inner.reset(seed=1), reference.reset(seed=1), "reset")
    rng = np.random.default_rng(1)
    for t in range(10):
        a = _actions(inner.action_space, rng, 1)
        assert_same_tree(inner.step(a), reference.step(a), f"step {t}")


@pytest.mark.parametrize("bad", [
    np.full((1, 3), np.nan, np.float32),  # refused by the clip shell (not finite)
    np.zeros((2, 3), np.float32),  # wrong shape
    np.zeros((1, 3), np.int64),  # wrong dtype
])
def test_fused_stack_refuses_what_the_nested_shells_refused(bad):
    fused = E.wrappers.standard(E.make("mujoco/Hopper-P", num_envs=1))
    reference, _ = nested_copy(fused, E.make("mujoco/Hopper-P", num_envs=1))
    fused.reset(seed=0)
    reference.reset(seed=0)
    with pytest.raises((TypeError, ValueError)) as want:
        reference.step(bad)
    with pytest.raises(want.type) as got:
        fused.step(bad)
    assert str(got.value) == str(want.value)


SPACES = [Discrete(3), Box((2,), -1.0, 1.0), Box((2,)), Box((2,), (-1.0, -np.inf), (1.0, 2.0)), Box((1, 2), 0.0, 1.0)]


def _inputs(space: Any) -> list[Any]:
    shape = (2,) + space.shape
    if isinstance(space, Discrete):
        return [np.array([0, 2]), np.array([0, 2], np.uint8), [1, 1], np.array([0, 3]), np.array([-1, 0]),
                np.array([0.0, 1.0]), np.array([True, False]), np.array([1]), 7]
    ok = np.full(shape, 0.5, np.float32)
    out = []
    for value in (np.nan, np.inf, -np.inf, 1.5, -1.5, 2.5, -3.0):
        a = ok.copy()
        a.reshape(-1)[-1] = value
        out.append(a)
    return [ok, ok.astype(np.float64), ok.astype(np.float16), ok.tolist(), ok.astype(np.int32), ok[:1],
            np.zeros((2, 5), np.float32), *out]


@pytest.mark.parametrize("space", SPACES, ids=repr)
def test_action_checker_equals_check_host_actions(space):
    """The same array back for every valid batch, the same exception and message for every invalid one."""
    check = action_checker(space, 2)
    for i, actions in enumerate(_inputs(space)):
        try:
            want = check_host_actions(space, actions, 2)
        except (TypeError, ValueError) as e:
            with pytest.raises(type(e)) as got:
                check(actions)
            assert str(got.value) == str(e), i
            continue
        got_array = check(actions)
        assert got_array.dtype == want.dtype and got_array.shape == want.shape, i
        np.testing.assert_array_equal(got_array, want)


def test_rule_spaces_are_built_once_and_rules_stay_hashable():
    """The host shell reads a rule's spaces every step: they are built once per rule (a new `Box`
    per step was the largest cost of the wrapper stack), and caching them changes neither equality
    nor hashing (JAX shells use rules as static arguments)."""
    obs_space, act_space = Box((4,)), Box((2,), -1.0, 1.0)
    rules = [ClipAction(obs_space, act_space), NormalizeObservation(obs_space, act_space, clip=5.0),
             PreviousActionReward(obs_space, Discrete(3)), MaskObservation(obs_space, act_space, keep=(0, 2))]
    for rule in rules:
        assert rule.observation_space is rule.observation_space
        assert rule.action_space is rule.action_space or not isinstance(rule, ClipAction)
        twin = dataclasses.replace(rule)
        assert twin == rule and hash(twin) == hash(rule)
