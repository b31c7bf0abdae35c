"""Networks built from cells: dense layers (encoders and heads), convolutional vision stems
(`rtrl.networks.conv`: nature, impala, minatar on channel-first images) and recurrent stacks.

See `rtrl.networks.stack` for which gradients of a stack are exact under RTRL.
"""

from rtrl.networks.conv import (
    STEMS,
    apply_stem,
    check_stem_input,
    init_stem,
    stem_output_size,
)
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
    "STEMS",
    "Layer",
    "RecurrentStack",
    "StackCarry",
    "StackParams",
    "apply_dense",
    "apply_mlp",
    "apply_stem",
    "check_activation",
    "check_stem_input",
    "init_dense",
    "init_mlp",
    "init_sparse_dense",
    "init_stem",
    "layer_norm",
    "make_stack",
    "stem_output_size",
]
