"""rtrl: online training of recurrent networks with exact real-time recurrent learning, in JAX.

Packages: `rtrl.cells` (cells and their RTRL traces), `rtrl.grad` (RTRL, T-BPTT, the BPTT
reference), `rtrl.learners` (online TD(λ) prediction learners), `rtrl.networks` (encoders and recurrent stacks), `rtrl.cost` (FLOPs and memory per step),
`rtrl.tasks` (the classical-conditioning prediction tasks, true returns and the oracle), `rtrl.envs`
(partially observable environments: JAX-native POPGym ports, popgym, MuJoCo POMDPs, Atari), `rtrl.agents`
(PPO agents: Real-Time PPO with RTRL, recurrent PPO with T-BPTT, MLP PPO).
"""

from rtrl import agents, cells, cost, envs, grad, learners, networks, tasks

__version__ = "0.1.0"
__all__ = ["agents", "cells", "cost", "envs", "grad", "learners", "networks", "tasks", "__version__"]
