"""Node and federation settings: frozen values, and the loader that builds them."""

from federation_config.loader import dump, load
from federation_config.settings import NodeSettings, did_web_for, is_loopback_url

__all__ = ["NodeSettings", "did_web_for", "dump", "is_loopback_url", "load"]
