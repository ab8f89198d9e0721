"""Training of the project's own localizer (see docs/localizer.md).

Nothing here is imported at analysis time; only :mod:`forgetalk.engines.localizer` is.
"""
