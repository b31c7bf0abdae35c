"""Exact RTRL for any element-wise recurrence, from its transition function alone.

A recurrence is element-wise when unit i of the new state depends only on unit i of the previous
state (in each of K state components: K = 1 diagonal, K = 2 a complex pair kept as real and
imaginary parts) and only on the parameter entries ``θ[..., i]`` — every recurrent parameter has
the unit axis last. Then the sensitivity ds_t^c[i]/dθ[..., j] is zero for j ≠ i, and the exact
RTRL trace of a parameter has the parameter's own shape per batch element and component:

    e_t^c = Σ_{c'} J_t^{c c'} ⊙ e_{t-1}^{c'} + ∂s_t^c/∂θ           (Williams & Zipser 1989)

with J_t^{c c'}[i] = ∂s_t^c[i]/∂s_{t-1}^{c'}[i]. Both factors come from automatic
differentiation of the transition, at O(K²·|θ|) per step:

* J^{· c'} is one forward-mode product with an all-ones tangent on component c' (exact because
  the Jacobian is diagonal per component pair);
* ∂s^c/∂θ[..., i] is one reverse-mode product per example with an all-ones cotangent on
  component c (exact because only unit i depends on θ[..., i]).

A new element-wise cell therefore needs no hand-derived traces (the eLSTM and RTU tests compare
their hand-written rules against this engine).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

from rtrl.cells.protocol import Params, State
from rtrl.cells.complex_diagonal import batch_sum, unit_broadcast

Traces = tuple[dict[str, jax.Array], ...]  # one dict per state component: name -> (B, *θ.shape)


@dataclasses.dataclass(frozen=True)
class ElementwiseRTRL:
    """The generic trace rule. ``transition(rec, state, x) -> state`` is batched."""

    transition: Callable[[Params, State, jax.Array], State]

    def init(self, rec: Params, state_0: State) -> Traces:
        units = state_0[0].shape[1]
        if any(s.shape[1] != units for s in state_0):
            raise ValueError("ElementwiseRTRL: every state component must have the same number of units, "
                             f"got sizes {[s.shape[1] for s in state_0]}.")
        for name, p in rec.items():
            if p.ndim == 0 or p.shape[-1] != units:
                raise ValueError(f"ElementwiseRTRL: recurrent parameter {name!r} has shape {p.shape}; an "
                                 f"element-wise recurrence needs the unit axis ({units}) last.")
        batch = state_0[0].shape[0]
        return tuple({k: jnp.zeros((batch,) + p.shape, p.dtype) for k, p in rec.items()} for _ in state_0)

    def update(self, rec: Params, state_tm1: State, traces_tm1: Traces, x_t: jax.Array):
        k = len(state_tm1)
        state_t, linear = jax.linearize(lambda s: self.transition(rec, s, x_t), state_tm1)
        # jac[c][c'] = ds_t^c / ds_{t-1}^{c'} per unit, (B, n)
        columns = [linear(_one_hot_tuple(state_tm1, c)) for c in range(k)]
        jac = [[columns[cp][c] for cp in range(k)] for c in range(k)]
        immediate = _immediate(self.transition, rec, state_tm1, x_t)
        traces_t = tuple(
            {
                name: sum(unit_broadcast(jac[c][cp], e) * traces_tm1[cp][name] for cp in range(k))
                + immediate[c][name]
                for name, e in traces_tm1[c].items()
            }
            for c in range(k)
        )
        return state_t, traces_t

    def contract(self, rec: Params, traces_t: Traces, delta_t: State) -> Params:
        return {
            name: batch_sum(sum(unit_broadcast(d, tr[name]) * tr[name] for d, tr in zip(delta_t, traces_t)))
            for name in rec
        }


def _one_hot_tuple(like: State, c: int) -> State:
    return tuple(jnp.ones_like(a) if i == c else jnp.zeros_like(a) for i, a in enumerate(like))


def _immediate(transition, rec: Params, state_tm1: State, x_t: jax.Array) -> list[Params]:
    """∂s_t^c/∂θ[..., i] per example and component, each (B, *θ.shape)."""

    def per_example(state, x):
        state = tuple(s[None] for s in state)
        out, vjp = jax.vjp(lambda p: transition(p, state, x[None]), rec)
        return [vjp(_one_hot_tuple(out, c))[0] for c in range(len(out))]

    return jax.vmap(per_example)(state_tm1, x_t)
