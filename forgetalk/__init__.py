"""forgetalk: offline face-forgery localization and explanation for forensic analysts."""

__version__ = "0.1.0"
