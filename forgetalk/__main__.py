"""``python -m forgetalk``: the console script's entry (:func:`forgetalk.entry.run`), so Ctrl-C
while the CLI imports is one line and exit 130 here too (``python -m forgetalk.cli`` runs the CLI
module directly and cannot guard its own imports)."""

from .entry import run

run()
