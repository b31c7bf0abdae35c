"""Does R2AC's pixel pipeline learn? MinAtar through the *host* actors and the *Nature* stem, at 84 x 84.

Atari Breakout at 1M frames does not move off the uniform policy with R2AC (README, "Atari"); this check
separates the pipeline from the game. It runs `rtrl train --agent r2ac` on a MinAtar game whose JAX-native
env is stepped from the host (the path `atari/` takes: `rtrl.agents.r2ac_actors`, one jitted network step per
env step, the overlap thread at ``--lag 1``), its (C, 10, 10) frames upsampled 8x and padded to (C, 84, 84)
so that the Nature CNN reads them as it reads Atari frames:

    python benchmarks/r2ac_pixel_check.py --preset irie/minatar-breakout --total-steps 48000 \\
        --gradient none --lag 1 --stem nature --upsample --out runs/pixel-check

Any `rtrl train` flags pass through. Compare with the JAX-native run (`rtrl train` with the same flags, no
``--upsample``, ``--stem minatar``): the entropy should leave log(actions) within the first ~20k steps in both.
"""

from __future__ import annotations

import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import rtrl.envs
from rtrl.envs import registry
from rtrl.envs.host import HostEnv
from rtrl.envs.jax_env import JaxEnv, VmapEnv
from rtrl.envs.spaces import Box

SIDE = 84  # Atari's preprocessed side


class JaxEnvOnHost(HostEnv):
    """A batched JAX env stepped from the host, numpy in and out (same-step auto-reset, as the JAX env)."""

    def __init__(self, env: VmapEnv, upsample: bool):
        self.env, self.upsample = env, upsample
        self.num_envs = env.num_envs
        channels = env.observation_space.shape[0]
        self.observation_space = Box((channels, SIDE, SIDE), 0.0, 1.0) if upsample else env.observation_space
        self.action_space = env.action_space
        self._reset, self._step = jax.jit(env.reset), jax.jit(env.step)
        self._key, self._state = jax.random.PRNGKey(0), None

    @property
    def name(self) -> str:
        return f"host:{self.env.env.name}"

    def _frames(self, obs: Any) -> np.ndarray:
        obs = np.asarray(obs, np.float32)
        if not self.upsample:
            return obs
        scale = SIDE // obs.shape[-1]
        big = obs.repeat(scale, -1).repeat(scale, -2)
        pad = (SIDE - big.shape[-1]) // 2
        return np.pad(big, [(0, 0)] * (big.ndim - 2) + [(pad, SIDE - big.shape[-2] - pad), (pad, SIDE - big.shape[-1] - pad)])

    def reset(self, *, seed: int | None = None) -> np.ndarray:
        self._key, key = jax.random.split(jax.random.PRNGKey(0 if seed is None else seed))
        self._state, obs = self._reset(key)
        return self._frames(obs)

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        self._key, key = jax.random.split(self._key)
        self._state, obs, reward, done, info = self._step(self._state, jnp.asarray(actions), key)
        return (self._frames(obs), np.asarray(reward), np.asarray(done),
                {"terminated": np.asarray(info["terminated"]), "truncated": np.asarray(info["truncated"]),
                 "final_obs": self._frames(info["final_obs"])})


def main(argv: list[str]) -> int:
    upsample = "--upsample" in argv
    argv = [a for a in argv if a != "--upsample"]
    make = registry.make

    def make_on_host(name: str, **options: Any) -> Any:
        num_envs = options.pop("num_envs", None)
        env = make(name, **options)
        if not name.startswith("minatar/") or not isinstance(env, JaxEnv):
            return env
        return JaxEnvOnHost(VmapEnv(env, num_envs or 16), upsample)

    registry.make = rtrl.envs.make = make_on_host
    from rtrl.cli import main as rtrl_main

    return rtrl_main(["train", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
