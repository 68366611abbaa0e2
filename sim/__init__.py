"""painsim: how the brain's default mode network adapts to years lived with pain.

The package is organised one module per idea: ``brain`` (the DMN graph), ``metrics`` (graph
metrics), ``pain``, ``coping`` and ``drift`` (the model equations), ``patient`` and ``model``
(Mesa agents over cohort arrays), ``scenario`` (validated TOML input), ``runner`` (replicates and
results folders) and ``cli`` (the ``painsim`` command).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("painsim")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
