"""NIR statistics pipeline: ingest, transform, gate and publish the introduction register."""

__version__ = "0.1.0"
