"""analyze's warm-up thread imports nothing (a second thread importing while the main thread
imports can trip the import system's deadlock detection): what it calls must find every module
already imported by the main thread."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_warm_up_calls_import_nothing_once_the_main_thread_has_imported() -> None:
    code = textwrap.dedent(
        """
        import sys
        from forgetalk.engines.evidence.cues import warm_up_lab
        from forgetalk.render.fonts import font_set, import_font_modules
        import_font_modules()
        before = set(sys.modules)
        warm_up_lab()
        font_set()
        print(sorted(set(sys.modules) - before))
        """
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().splitlines()[-1] == "[]"
