"""The learning check on RepeatFirstEasy (slow: run with ``-m slow``; ≈5 minutes on 2 CPU cores under the test flags).

Real-Time PPO with a nonlinear RTU (n = 64, RTRL) behind the RTU paper's wrapper stack (obs/reward
normalisation, previous action + reward) reaches a mean return ≥ 0.9 within 800k steps (seed 0),
while memoryless PPO on the raw observations stays at chance (≈ −0.5 ≤ 0).

The memoryless side runs without the paper's previous-reward feature on purpose: with it, a
memoryless policy can play win-stay/lose-shift (keep the suit that was just rewarded, else try the
next) and beats chance (MLP PPO reached +0.30 at 400k steps). On observations with the previous
action but no reward, the contrast that needs memory, GRU (T-BPTT 32) reaches +0.83 at 800k steps
while the RTU (RTRL or T-BPTT, several rings and learning rates) stays below +0.3: see the README
("Learning checks").
"""

import jax
import numpy as np
import pytest

import rtrl
from rtrl import agents


def _train(config, env, steps):
    agent = agents.make(config, env)
    state = agent.init(jax.random.PRNGKey(0))
    returns = []
    for _ in range(steps // config.rollout_size):
        state, m = agent.iteration(state)
        m = agents.to_numpy(m)
        returns.append((m["episode_return"] * m["episodes"], m["episodes"]))
    last = returns[-20:]
    return sum(r for r, _ in last) / max(sum(n for _, n in last), 1)


@pytest.mark.slow
def test_real_time_ppo_rtu_remembers_the_first_card():
    cfg = agents.PPOConfig(agent="real-time-ppo", cell="rtu-nonlinear", hidden_size=64, num_envs=8, num_steps=256,
                           learning_rate=1e-3)
    env = rtrl.envs.wrappers.standard(rtrl.envs.make("jax/RepeatFirstEasy"))
    assert _train(cfg, env, 800_000) >= 0.9


@pytest.mark.slow
def test_memoryless_ppo_cannot():
    cfg = agents.PPOConfig(agent="mlp-ppo", num_envs=8, num_steps=256, learning_rate=1e-3)
    ret = _train(cfg, rtrl.envs.make("jax/RepeatFirstEasy"), 400_000)
    assert np.isfinite(ret) and ret <= 0.0
