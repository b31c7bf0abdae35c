"""Fixtures for the TD(λ) learner tests (helpers live in td_helpers.py, a uniquely named module)."""

import jax
import pytest


@pytest.fixture
def x64():
    """64-bit mode for the exactness tests, restored afterwards."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)
