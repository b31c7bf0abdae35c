"""Test-wide settings: 64-bit mode on (the exactness tests run in float64; cells still default to
float32, which the contract tests check), fixed keys everywhere."""

import jax

jax.config.update("jax_enable_x64", True)
