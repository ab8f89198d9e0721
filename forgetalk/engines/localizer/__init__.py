"""The project's own learned localizer: a tiny U-Net on the aligned crop (see docs/localizer.md)."""

from .model import LocalizerConfig, LocalizerNet

__all__ = ["LocalizerConfig", "LocalizerNet"]
