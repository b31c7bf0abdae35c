"""Networks built from cells: dense layers (encoders and heads) and recurrent stacks.

See `rtrl.networks.stack` for which gradients of a stack are exact under RTRL.
"""

from rtrl.networks.mlp import (
    ACTIVATIONS,
    Layer,
    apply_dense,
    apply_mlp,
    check_activation,
    init_dense,
    init_mlp,
    init_sparse_dense,
    layer_norm,
)
from rtrl.networks.stack import RecurrentStack, StackCarry, StackParams, make_stack

__all__ = [
    "ACTIVATIONS",
    "Layer",
    "RecurrentStack",
    "StackCarry",
    "StackParams",
    "apply_dense",
    "apply_mlp",
    "check_activation",
    "init_dense",
    "init_mlp",
    "init_sparse_dense",
    "layer_norm",
    "make_stack",
]
