"""Named training runs after the RTU paper's experiments (``rtrl train --preset NAME``).

Each preset is a mapping of `TrainConfig` fields; a YAML file and flags given with it override
them. Defaults are the paper's PPO settings (`PPOConfig`): one environment, rollout 2048,
4 epochs × 32 minibatches, Adam 1e-4, the standard wrapper stack, and a linear RTU of 192 units
trained with RTRL (Real-Time PPO) — 24,960 recurrent parameters on Ant-P, the size the paper
matched its architectures at. Swap the agent with flags, e.g.
``--agent tbptt-ppo --cell gru --hidden-size 64 --sequence-length 32`` or ``--agent mlp-ppo``.
"""

from __future__ import annotations

from typing import Any

POPGYM = {"countrecall": "CountRecallEasy", "repeatfirst": "RepeatFirstEasy", "repeatprevious": "RepeatPreviousEasy",
          "autoencode": "AutoencodeEasy", "concentration": "ConcentrationEasy", "higherlower": "HigherLowerEasy"}
MUJOCO = ("Ant", "HalfCheetah", "Hopper", "Walker2d")
REAL_TIME_PPO = {"agent": "real-time-ppo", "cell": "rtu-linear", "hidden_size": 192}


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
    return presets


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
    return {**preset, "ppo": dict(preset["ppo"])}
