"""Named training runs after the RTU paper's experiments (``rtrl train --preset NAME``).

Each preset is a mapping of `TrainConfig` fields; a YAML file and flags given with it override
them. Defaults are the paper's PPO settings (`PPOConfig`): one environment, rollout 2048,
4 epochs × 32 minibatches, Adam 1e-4, the standard wrapper stack, and a linear RTU of 192 units
trained with RTRL (Real-Time PPO) — 24,960 recurrent parameters on Ant-P, the size the paper
matched its architectures at. Swap the agent with flags, e.g.
``--agent tbptt-ppo --cell gru --hidden-size 64 --sequence-length 32`` or ``--agent mlp-ppo``.

The ``streaming/`` presets run stream AC(λ) (`StreamConfig`: one environment, an update every step)
with a linear RTU of 64 units learning by exact RTRL, as in Farr et al. 2026 (arXiv 2605.24709):
MemoryChain of length L (``streaming/memorychain-<L>``), the POPGym ports for 2M steps and MuJoCo
Hopper with hidden velocities (Hopper-P) for 1M. Swap the learner with ``--gradient tbptt`` (T-BPTT(1)),
``--gradient none`` (feed-forward), ``--cell gru`` or ``--agent stream-q``.

The ``irie/`` presets run R2AC (`R2ACConfig`: IMPALA's V-trace actor-critic, 16 environments,
segments of M = 10 steps) with an eLSTM of 128 units learning by exact RTRL, as in Irie et al. 2024
(arXiv 2305.19044): the POPGym ports (``irie/popgym-<task>``, 2M steps); MemoryChain of length 40
(``irie/memorychain-40``, the paper's eLSTM initialisation), a memory four segments long, where
T-BPTT(M) cannot see the context, and of lengths 16 and 24 (``irie/memorychain-16``/``-24``, 1M steps,
the eLSTM's forget gate starting near 1); the MinAtar games (``irie/minatar-<game>``, the ``minatar``
extra: M = 20, the minatar conv stem, 5M steps; gymnax's episode limit of 1000 steps and no sticky
actions, where the original MinAtar uses 0.1); and Atari (``irie/atari-<game>``, the ``atari``
extra: the paper's five games and Pong, Table 2's M = 50, 4 stacked frames, a Nature-CNN stem under
an eLSTM of 256 units, the stem learning by back-propagation through the segment; 200M agent steps,
i.e. 800M frames at frame skip 4 — the paper says "200M steps" without naming the unit).
Swap the learner with ``--gradient tbptt`` (T-BPTT(M)) or ``--gradient none`` (feed-forward).
"""

from __future__ import annotations

from typing import Any

POPGYM = {"countrecall": "CountRecallEasy", "repeatfirst": "RepeatFirstEasy", "repeatprevious": "RepeatPreviousEasy",
          "autoencode": "AutoencodeEasy", "concentration": "ConcentrationEasy", "higherlower": "HigherLowerEasy"}
MUJOCO = ("Ant", "HalfCheetah", "Hopper", "Walker2d")
REAL_TIME_PPO = {"agent": "real-time-ppo", "cell": "rtu-linear", "hidden_size": 192}
STREAM_AC = {"agent": "stream-ac", "gradient": "rtrl", "cell": "rtu-linear", "hidden_size": 64}
MEMORY_CHAIN_LENGTHS = (4, 16, 64, 128)
R2AC = {"agent": "r2ac", "gradient": "rtrl", "cell": "elstm", "hidden_size": 128, "num_envs": 16, "unroll": 10}
# The eLSTM's forget gate starts at f ≈ 0.95 (the paper's b_f = 0 gives 0.5, a memory of a few steps, and
# learns no MemoryChain here, not even L = 8)
LONG_MEMORY = {"forget_bias": 3.0}
MINATAR = ("Asterix", "Breakout", "Freeway", "Seaquest", "SpaceInvaders")
# Irie et al.'s five Atari games (their Table 2), and Pong as a quick check that the pipeline learns
ATARI = ("Breakout", "Gravitar", "MsPacman", "Qbert", "Seaquest", "Pong")


def _presets() -> dict[str, dict[str, Any]]:
    presets: dict[str, dict[str, Any]] = {}
    for short, task in POPGYM.items():
        presets[f"rtu-paper/popgym-{short}"] = {"env": f"jax/{task}", "total_steps": 1_000_000,
                                                "ppo": dict(REAL_TIME_PPO)}
    for robot in MUJOCO:
        for split in ("P", "V"):
            presets[f"rtu-paper/{robot.lower()}-{split.lower()}"] = {
                "env": f"mujoco/{robot}-{split}", "total_steps": 5_000_000, "ppo": dict(REAL_TIME_PPO)}
    presets["rtu-paper/reacher-memory"] = {"env": "mujoco/Reacher-Memory", "total_steps": 5_000_000,
                                           "ppo": {**REAL_TIME_PPO, "cell": "rtu-nonlinear"}}
    for length in MEMORY_CHAIN_LENGTHS:
        presets[f"streaming/memorychain-{length}"] = {
            # no previous action appended: a memoryless policy could otherwise carry the context in its
            # own actions (act the context at t = 0, then repeat the previous action)
            "env": "jax/MemoryChain", "env_options": {"length": length}, "wrappers": "no-previous",
            "total_steps": memory_chain_steps(length), "stream": dict(STREAM_AC)}
    for short, task in POPGYM.items():
        presets[f"streaming/popgym-{short}"] = {"env": f"jax/{task}", "total_steps": 2_000_000,
                                                "stream": dict(STREAM_AC)}
    presets["streaming/hopper-p"] = {"env": "mujoco/Hopper-P", "total_steps": 1_000_000, "stream": dict(STREAM_AC)}
    for short, task in POPGYM.items():
        presets[f"irie/popgym-{short}"] = {"env": f"jax/{task}", "total_steps": 2_000_000, "r2ac": dict(R2AC)}
    presets["irie/memorychain-40"] = {"env": "jax/MemoryChain", "env_options": {"length": 40}, "wrappers": "no-previous",
                                      "total_steps": 2_000_000, "r2ac": dict(R2AC)}
    for length in (16, 24):  # longer than M = 10, short enough for the eLSTM with a forget bias
        presets[f"irie/memorychain-{length}"] = {
            "env": "jax/MemoryChain", "env_options": {"length": length}, "wrappers": "no-previous",
            "total_steps": 1_000_000, "r2ac": {**R2AC, "cell_options": dict(LONG_MEMORY)}}
    for game in MINATAR:  # the minatar stem (one 3x3 conv, Dense 128) under the eLSTM
        presets[f"irie/minatar-{game.lower()}"] = {"env": f"minatar/{game}", "total_steps": 5_000_000,
                                                   "r2ac": {**R2AC, "unroll": 20, "stem": "minatar"}}
    for game in ATARI:  # Table 2's setting: M = 50, 200M steps; a Nature-CNN stem, 4 stacked frames
        presets[f"irie/atari-{game.lower()}"] = {
            "env": f"atari/{game}", "env_options": {"frame_stack": 4}, "total_steps": 200_000_000,
            "r2ac": {**R2AC, "hidden_size": 256, "unroll": 50, "stem": "nature"}}
    return presets


def memory_chain_steps(length: int) -> int:
    """Steps of a MemoryChain run of chain length L: 4,000 episodes of L + 1 steps, at least 100k."""
    return max(100_000, 4_000 * (length + 1))


PRESETS = _presets()


def names() -> list[str]:
    return list(PRESETS)


def get(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        import difflib

        close = difflib.get_close_matches(name, list(PRESETS), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}.{hint}")
    preset = PRESETS[name]
    return {key: dict(value) if isinstance(value, dict) else value for key, value in preset.items()}
