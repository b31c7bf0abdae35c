"""rtrl: online training of recurrent networks with exact real-time recurrent learning, in JAX.

Packages: `rtrl.cells` (cells and their RTRL traces), `rtrl.grad` (RTRL, T-BPTT, the BPTT
reference), `rtrl.networks` (encoders and recurrent stacks), `rtrl.cost` (FLOPs and memory per step),
`rtrl.tasks` (the classical-conditioning prediction tasks, true returns and the oracle).
"""

from rtrl import cells, cost, grad, networks, tasks

__version__ = "0.1.0"
__all__ = ["cells", "cost", "grad", "networks", "tasks", "__version__"]
