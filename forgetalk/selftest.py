"""Known-answer self-test: the reference photos in ``examples/`` analysed again and compared with
the answers recorded for the shipped code and weights (``examples/known_answers.json``).

Why: a report is only as good as the installation that wrote it. The requirements allow ranges of
OpenCV, onnxruntime and MediaPipe, and another build or another CPU's arithmetic can move a resize,
a landmark or a convolution: heat and scores would then change silently, with every hash in the
report still right. A forensic laboratory runs its method on known samples before casework (the
known-answer check of ISO/IEC 17025 method validation); ``forgetalk selftest`` does it offline in a
few seconds, and ``analyze --self-test`` / ``scan --self-test`` do it first, refuse to go on when
it fails (exit 8), and write the result into the report.

What is compared, per reference photo: its sha256 (the reference itself must be intact), the
number of faces, each face's verdict and first-ranked region exactly, its score within
:data:`SCORE_TOLERANCE`, and its heat on a :data:`HEAT_GRID` x :data:`HEAT_GRID` grid of the
aligned crop within :data:`HEAT_TOLERANCE` (mean absolute difference). The tolerances are far
above arithmetic noise (the same photos analysed with one and two threads agree to 1e-6) and far
below what a verdict needs: the nearest reference face is 0.051 from the verdict threshold.

Only the embedded default engine with the default face backend has recorded answers: the
ForgeryTalker weights are placed by the user and cannot be recorded here. Answers recorded with
other weights (a user-placed localizer) are ``not comparable``, never a pass.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import SelfTestError
from .io import is_sha256
from .results import SelfTestResult

if TYPE_CHECKING:
    from .pipeline import Analysis, AnalyzeOptions, Analyzer

SCHEMA = "forgetalk.known-answers/1"
ANSWERS_NAME = "known_answers.json"
#: The committed examples: an untouched portrait, a cross-face mouth swap, two self-made part swaps.
REFERENCE_PHOTOS = ("grace_hopper.jpg", "grace_hopper_mouth_from_astronaut.jpg", "grace_hopper_mouth_swap.jpg", "grace_hopper_nose_swap.jpg")
#: The sha256 of the answers file this code was released with (``python -m forgetalk.selftest --record``
#: prints the new one): an answers file edited to match a broken installation, or emptied, is refused
#: rather than compared, and the code digest in every report covers this pin.
ANSWERS_SHA256 = "5b3af468c63247cbf4168a7b2ab1d7486022e98798970812ee5a325097239ac6"
ENGINE = "fused"
FACE_BACKEND = "default"
SCORE_TOLERANCE = 0.02
HEAT_TOLERANCE = 0.02
HEAT_GRID = 16
_MAX_PROBLEMS = 8


def reference_dir() -> Path | None:
    """The reference photos and their answers: the checkout's ``examples/`` or the installed copy."""
    from .weights import shipped_data_dir

    return shipped_data_dir("examples")


def self_test_options() -> AnalyzeOptions:
    """The options the answers are recorded and checked with: the defaults, on the CPU."""
    from .pipeline import AnalyzeOptions

    return AnalyzeOptions(engine=ENGINE, face_backend=FACE_BACKEND, device="cpu")


def model_hashes(engine_info: Mapping[str, Any]) -> dict[str, str]:
    """Every sha256 the engine names (weights, calibrations), keyed by where it sits in ``engine_info``."""
    out: dict[str, str] = {}

    def walk(obj: object, path: str) -> None:
        if isinstance(obj, Mapping):
            for k, v in obj.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif is_sha256(obj):
            out[path] = obj

    walk(engine_info, "")
    return out


def coarse_heat(heat: np.ndarray, grid: int = HEAT_GRID) -> np.ndarray:
    """A face's heat averaged over ``grid`` x ``grid`` cells (the aligned crop is square)."""
    h = np.asarray(heat, np.float64)
    n = (h.shape[0] // grid) * grid
    return h[:n, :n].reshape(grid, n // grid, grid, n // grid).mean(axis=(1, 3))


def answers_of(analysis: Analysis) -> dict[str, Any]:
    """What is recorded of one reference photo's analysis."""
    rep = analysis.report
    return {
        "sha256": rep.input.sha256,
        "verdict": rep.verdict,
        "faces": [{"score": round(f.score, 6), "verdict": f.verdict, "first_region": f.top_region.name if f.top_region else None,
                   "heat": np.round(coarse_heat(a.heatmap), 4).tolist()}
                  for f, a in zip(rep.faces, analysis.faces, strict=True)],
    }


def record(analyzer: Analyzer, folder: Path) -> dict[str, Any]:
    """The known-answers document for the photos in ``folder``, as ``analyzer`` answers them."""
    from . import __version__
    from .environment import source_digest

    photos = {}
    info: Mapping[str, Any] = {}
    for name in REFERENCE_PHOTOS:
        analysis = analyzer.analyze_path(folder / name)
        photos[name] = answers_of(analysis)
        info = analysis.report.engine_info
    return {"schema": SCHEMA, "engine": ENGINE, "face_backend": FACE_BACKEND, "models": model_hashes(info),
            "recorded_with": {"forgetalk_source": source_digest().get("sha256"), "tool_version": __version__},
            "score_tolerance": SCORE_TOLERANCE, "heat_tolerance": HEAT_TOLERANCE, "heat_grid": HEAT_GRID, "photos": photos}


@dataclass(frozen=True)
class _Answers:
    doc: dict[str, Any]
    sha256: str


def _read_answers(folder: Path, pinned: str | None) -> _Answers:
    from .io import open_regular

    path = folder / ANSWERS_NAME
    try:
        with open(open_regular(path), "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise SelfTestError(f"known-answer self-test: {path} cannot be read ({exc.strerror or exc})") from None
    digest = hashlib.sha256(data).hexdigest()
    if pinned is not None and digest != pinned:
        raise SelfTestError(f"known-answer self-test: {path} is not the answers file this forgetalk was released with "
                            f"(sha256 {digest}, expected {pinned})")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise SelfTestError(f"known-answer self-test: {path} cannot be read ({type(exc).__name__ if isinstance(exc, RecursionError) else exc})") from None
    problem = _malformed(doc)
    if problem is not None:
        raise SelfTestError(f"known-answer self-test: {path} is not a usable {SCHEMA} file ({problem})")
    return _Answers(doc, digest)


def _finite(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _malformed(doc: object) -> str | None:
    """Why ``doc`` cannot be compared against, or None: every reference photo exactly once, the
    code's own tolerances, finite numbers and full heat grids (an answers file listing no photo
    passed "0 reference photos"; a NaN score compared as equal)."""
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        return f"schema is not {SCHEMA}"
    photos = doc.get("photos")
    if not isinstance(photos, dict) or set(photos) != set(REFERENCE_PHOTOS):
        return f"the photos must be exactly {', '.join(REFERENCE_PHOTOS)}"
    if doc.get("score_tolerance") != SCORE_TOLERANCE or doc.get("heat_tolerance") != HEAT_TOLERANCE:
        return f"it states other tolerances than this code's ({SCORE_TOLERANCE:g}, {HEAT_TOLERANCE:g})"
    if not isinstance(doc.get("models"), dict) or not doc["models"]:
        return "no models named"
    for name, want in photos.items():
        if not isinstance(want, dict) or not isinstance(want.get("sha256"), str) or not isinstance(want.get("faces"), list) or not want["faces"]:
            return f"{name}: no sha256 or no faces"
        for face in want["faces"]:
            heat = face.get("heat") if isinstance(face, dict) else None
            if not isinstance(face, dict) or not _finite(face.get("score")) or not isinstance(face.get("verdict"), str) \
                    or not isinstance(face.get("first_region"), (str, type(None))):
                return f"{name}: a face without a finite score, a verdict or a first region"
            if not isinstance(heat, list) or len(heat) != HEAT_GRID or not all(isinstance(r, list) and len(r) == HEAT_GRID and all(_finite(v) for v in r) for r in heat):
                return f"{name}: a face's heat is not a {HEAT_GRID} x {HEAT_GRID} grid of finite numbers"
    return None


def _compare_photo(name: str, want: Mapping[str, Any], analysis: Analysis, score_tol: float, heat_tol: float) -> tuple[list[str], list[float], list[float]]:
    """(problems, score differences, heat differences) of one reference photo."""
    rep = analysis.report
    if rep.input.sha256 != want.get("sha256"):
        return [f"{name}: the reference photo is not the recorded one (sha256 {rep.input.sha256[:12]}..., recorded {str(want.get('sha256'))[:12]}...)"], [], []
    faces = want.get("faces") or []
    if len(faces) != len(rep.faces):
        return [f"{name}: {len(rep.faces)} face(s) found, {len(faces)} recorded"], [], []
    problems: list[str] = []
    sd: list[float] = []
    hd: list[float] = []
    for i, (w, got, art) in enumerate(zip(faces, rep.faces, analysis.faces, strict=True), start=1):
        d = abs(got.score - float(w["score"]))
        sd.append(d)
        if d > score_tol:
            problems.append(f"{name} face {i}: score {got.score:.3f}, recorded {float(w['score']):.3f}")
        if got.verdict != w["verdict"]:
            problems.append(f"{name} face {i}: verdict '{got.verdict}', recorded '{w['verdict']}'")
        first = got.top_region.name if got.top_region else None
        if first != w.get("first_region"):
            problems.append(f"{name} face {i}: first region {first}, recorded {w.get('first_region')}")
        ref = np.asarray(w["heat"], np.float64)
        h = float(np.abs(coarse_heat(art.heatmap, ref.shape[0]) - ref).mean())
        hd.append(h)
        if h > heat_tol:
            problems.append(f"{name} face {i}: heat differs from the recorded heat by {h:.3f} on average")
    return problems, sd, hd


def run_self_test(analyzer: Analyzer | None = None, folder: Path | None = None, on_photo: Callable[[str], None] | None = None,
                  pinned: str | None = "released") -> SelfTestResult:
    """Analyse the reference photos and compare them with their recorded answers.

    Raises :class:`SelfTestError` only when there is nothing to test with (no reference folder,
    an answers file that is unreadable, malformed or, with ``pinned``, not the released one); a
    test that ran returns its result, passed or not. ``pinned=None`` (tests) compares against
    whatever answers the folder holds; the default, ``"released"``, is :data:`ANSWERS_SHA256`.
    """
    from .pipeline import Analyzer

    t0 = time.perf_counter()
    folder = folder if folder is not None else reference_dir()
    if folder is None:
        raise SelfTestError("known-answer self-test: the reference photos are not installed (examples/ in a checkout, share/forgetalk/examples in a wheel)")
    answers = _read_answers(folder, ANSWERS_SHA256 if pinned == "released" else pinned)
    doc = answers.doc
    score_tol, heat_tol = SCORE_TOLERANCE, HEAT_TOLERANCE
    analyzer = analyzer or Analyzer(self_test_options())
    problems: list[str] = []
    sd: list[float] = []
    hd: list[float] = []
    n_faces = 0
    status = "passed"
    models_checked = False
    for name, want in doc["photos"].items():
        if on_photo is not None:
            on_photo(name)
        try:
            analysis = analyzer.analyze_path(folder / name)
        except Exception as exc:  # noqa: BLE001 - a reference that cannot be analysed is a failed test, said in one line
            problems.append(f"{name}: could not be analysed ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")
            continue
        if not models_checked:  # the first photo analysed names the engine's models
            models_checked = True
            have, recorded = model_hashes(analysis.report.engine_info), doc.get("models") or {}
            if have != recorded:
                moved = sorted(k for k in set(have) | set(recorded) if have.get(k) != recorded.get(k))
                status = "not comparable"
                problems.append(f"the engine's models are not the ones the answers were recorded with ({', '.join(moved[:3])}"
                                f"{', ...' if len(moved) > 3 else ''})")
                break
        p, s, h = _compare_photo(name, want, analysis, score_tol, heat_tol)
        problems += p
        sd += s
        hd += h
        n_faces += len(analysis.report.faces)
    if problems and status == "passed":
        status = "failed"
    rw = doc.get("recorded_with") or {}
    return SelfTestResult(status=status, answers_sha256=answers.sha256, images=len(doc["photos"]), faces=n_faces,
                          max_score_diff=max(sd) if sd else None, max_heat_diff=max(hd) if hd else None, score_tolerance=score_tol,
                          heat_tolerance=heat_tol, problems=tuple(problems[:_MAX_PROBLEMS]) + ((f"{len(problems) - _MAX_PROBLEMS} more",) if len(problems) > _MAX_PROBLEMS else ()),
                          seconds=round(time.perf_counter() - t0, 3), recorded_with=str(rw.get("forgetalk_source") or "unknown"), device="cpu")


def check_applicable(engine: str, face_backend: str) -> None:
    """A :class:`UsageError` (exit 2) when the run's engine or face backend has no recorded answers:
    a self-test of the default engine would vouch for nothing that such a run computes."""
    from .errors import UsageError

    if engine != ENGINE or face_backend != FACE_BACKEND:
        raise UsageError(f"--self-test: known answers are recorded for engine {ENGINE} with face backend {FACE_BACKEND} only "
                         f"(this run: engine {engine}, face backend {face_backend})")


def self_tested(analyzer: Analyzer, on_photo: Callable[[str], None] | None = None) -> SelfTestResult:
    """The self-test before a run, reusing the run's analyzer when its options are the test's
    (models load once); raises :class:`SelfTestError` (exit 8) unless it passed."""
    same = analyzer.options == self_test_options()
    return require_passed(run_self_test(analyzer if same else None, on_photo=on_photo))


def require_passed(result: SelfTestResult) -> SelfTestResult:
    """``result`` if it passed; else the one-line :class:`SelfTestError` (exit 8) that stops a run before the evidence."""
    if not result.passed:
        raise SelfTestError(f"{result.describe()}; nothing was analysed (`forgetalk selftest` lists every difference)")
    return result


def main(argv: list[str] | None = None) -> None:
    """``python -m forgetalk.selftest --record``: record the answers of this checkout's code and weights."""
    import argparse

    from .io import atomic_write_bytes
    from .pipeline import Analyzer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--record", action="store_true", help=f"write examples/{ANSWERS_NAME} from this checkout's code and weights")
    args = ap.parse_args(argv)
    folder = reference_dir()
    if not args.record or folder is None:
        ap.error("nothing to do (give --record in a checkout)")
    doc = record(Analyzer(self_test_options()), folder)
    data = (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode("utf-8")
    atomic_write_bytes(folder / ANSWERS_NAME, data)
    digest = hashlib.sha256(data).hexdigest()
    print(f"wrote {folder / ANSWERS_NAME}, sha256 {digest}" + ("" if digest == ANSWERS_SHA256 else "; set ANSWERS_SHA256 in forgetalk/selftest.py to it"))


if __name__ == "__main__":
    main()
