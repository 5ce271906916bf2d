"""The Ray layer: generator actors, the fault-tolerant pool, the checkpoint actor, the driver."""

from .driver import Report, generate

__all__ = ["Report", "generate"]
