"""Sub-commands attached to the CLI group by :mod:`forgetalk.cli` (one module, one command)."""
