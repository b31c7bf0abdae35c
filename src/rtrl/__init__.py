"""rtrl: online training of recurrent networks with exact real-time recurrent learning, in JAX."""

from rtrl import cells

__version__ = "0.1.0"
__all__ = ["cells", "__version__"]
