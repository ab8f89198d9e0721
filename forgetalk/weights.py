"""Weights manifests: where each file lives, what its SHA-256 must be, and clear errors.

Each component (``localizer``, ``forgerytalker``, ``facexlib`` ...) has a folder under the
weights root holding ``manifest.json``::

    {"component": "facexlib",
     "description": "...",
     "files": [{"name": "parsing_bisenet.pth", "sha256": "...", "size": 53289463,
                "url": "https://...", "required": true, "description": "..."}]}

Run-time code only ever *reads* local files; the single place a download may happen is
``forgetalk weights fetch`` (see :mod:`forgetalk.commands.weights`).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from .errors import ForgetalkError, UsageError, WeightsError
from .io import atomic_write_json, is_sha256, mode_kind, open_regular, read_json_file, read_regular_text, sha256_file

T = TypeVar("T")

ENV_WEIGHTS = "FORGETALK_WEIGHTS"


_CHECKOUT_WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
#: Where a wheel installs the shipped weights (setup.cfg ``data_files``: ``share/forgetalk/weights``).
_DATA_SUBDIR = ("share", "forgetalk", "weights")


def _user_default() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "forgetalk" / "weights"


def weights_root() -> Path:
    """The folder for user-placed weights (one sub-folder per component).

    ``$FORGETALK_WEIGHTS`` (also set by ``forgetalk --weights-dir``); else, in a source
    checkout, its ``weights/`` folder; else ``$XDG_DATA_HOME/forgetalk/weights``
    (``~/.local/share/forgetalk/weights``), the way rembg keeps ``U2NET_HOME``.

    A folder named there that does not exist (or is not a folder) is a :class:`UsageError` (exit 2):
    a mistyped ``--weights-dir`` used to fall back, without a word, to the shipped weights, so a
    report could name weights the analyst never meant. An existing folder without a component's
    manifest still falls back to the shipped copy of that component (README "Weights").
    """
    env = os.environ.get(ENV_WEIGHTS)
    if env:
        return checked_weights_dir(Path(env).expanduser())
    if _CHECKOUT_WEIGHTS.is_dir():
        return _CHECKOUT_WEIGHTS.resolve()
    return _user_default()


def checked_weights_dir(folder: Path) -> Path:
    """``folder`` resolved, if it is an existing folder; else a one-line :class:`UsageError`.

    Separate from :func:`weights_root` so that the command line can refuse a bad ``--weights-dir``
    as it parses it, before any other work."""
    try:
        mode = os.stat(folder).st_mode
    except FileNotFoundError:
        raise UsageError(f"weights folder {folder} does not exist (--weights-dir or ${ENV_WEIGHTS}); check the name, or create "
                         "the folder (an existing folder without a component's manifest uses the shipped weights)") from None
    except OSError as exc:
        raise UsageError(f"weights folder {folder} cannot be used ({exc.strerror or exc}; --weights-dir or ${ENV_WEIGHTS})") from None
    if not stat.S_ISDIR(mode):
        kind = "file" if stat.S_ISREG(mode) else mode_kind(mode)
        raise UsageError(f"weights folder {folder} is a {kind}, not a folder (--weights-dir or ${ENV_WEIGHTS})")
    return folder.resolve()


def shipped_root() -> Path | None:
    """Where the weights that ship with forgetalk are: the checkout's ``weights/``, or the
    installed copy under the environment's data prefix (a wheel install)."""
    return shipped_data_dir("weights")


def shipped_data_dir(name: str) -> Path | None:
    """The checkout's top-level folder ``name``, or its copy a wheel installed under
    ``share/forgetalk/<name>`` (setup.cfg ``data_files``): shipped weights, reference photos."""
    import sys
    import sysconfig

    sub = (*_DATA_SUBDIR[:-1], name)
    cands = [_CHECKOUT_WEIGHTS.parent / name, Path(sys.prefix, *sub), Path(sysconfig.get_path("data"), *sub)]
    try:
        cands.append(Path(sysconfig.get_path("data", f"{os.name}_user"), *sub))
    except KeyError:  # pragma: no cover - scheme absent on some platforms
        pass
    for c in cands:
        if c.is_dir():
            return c.resolve()
    return None


def _manifest_place(component: str) -> tuple[Path, Path | None]:
    """(user folder, shipped folder or None) of a component, without reading anything."""
    user = weights_root() / component
    shipped = shipped_root()
    sc = shipped / component if shipped is not None else None
    if sc is not None and sc.resolve() == user.resolve():
        sc = None
    return user, sc


@dataclass(frozen=True)
class WeightFile:
    name: str
    sha256: str | None  # None = "unpinned": no verifiable published hash (see read_recorded)
    size: int | None = None
    url: str | None = None
    required: bool = True
    description: str = ""


@dataclass(frozen=True)
class Manifest:
    component: str
    folder: Path
    files: tuple[WeightFile, ...]
    description: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    def get(self, name: str) -> WeightFile:
        for f in self.files:
            if f.name == name:
                return f
        raise WeightsError(f"{name!r} is not listed in {self.folder / 'manifest.json'}")


def load_manifest(component: str, root: Path | None = None) -> Manifest:
    """Read and validate a component's ``manifest.json`` (a one-line :class:`WeightsError` if malformed).

    With ``root``, exactly ``<root>/<component>``. Otherwise the user folder
    (:func:`weights_root`) wins when it has its own manifest (a user can replace shipped
    weights, and tests can tamper with a copy); else the shipped manifest is read, and its
    files are looked up beside it when they are all there (shipped weights) or in the user
    folder (user-placed weights such as ForgeryTalker's, pinned by the shipped manifest).
    """
    if root is not None:
        folder = root / component
        path = folder / "manifest.json"
    else:
        folder, shipped = _manifest_place(component)
        path = folder / "manifest.json"
        if not path.is_file() and shipped is not None and (shipped / "manifest.json").is_file():
            path = shipped / "manifest.json"
    raw = read_json_file(path, WeightsError, f"no weights manifest for {component!r}: expected {path}")
    if not isinstance(raw, dict) or not isinstance(raw.get("files", []), list):
        raise WeightsError(f"{path}: malformed weights manifest (expected an object with a 'files' list)")
    files = tuple(_weight_file(f, i, path) for i, f in enumerate(raw.get("files", [])))
    if path.parent != folder and all((path.parent / f.name).is_file() for f in files if f.required):
        folder = path.parent  # shipped and complete: read the files where they were installed
    extra = {k: v for k, v in raw.items() if k not in ("component", "files", "description")}
    return Manifest(component=str(raw.get("component", component)), folder=folder, files=files, description=str(raw.get("description", "")), extra=extra)


def _weight_file(f: object, i: int, path: Path) -> WeightFile:
    def bad(why: str) -> WeightsError:
        return WeightsError(f"{path}: malformed weights manifest: files[{i}] {why}")

    if not isinstance(f, dict):
        raise bad("is not an object")
    name, sha, size = f.get("name"), f.get("sha256"), f.get("size")
    if not isinstance(name, str) or not name or name.startswith("/") or ".." in Path(name).parts:
        raise bad(f"has no valid relative 'name' ({name!r})")
    if sha is not None and not is_sha256(sha, any_case=True):
        raise bad(f"({name}) has an invalid 'sha256' ({sha!r}); expected 64 hex digits or null")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise bad(f"({name}) has an invalid 'size' ({size!r})")
    return WeightFile(name=name, sha256=sha.lower() if sha else None, size=size, url=f.get("url") if isinstance(f.get("url"), str) else None,
                      required=bool(f.get("required", True)), description=str(f.get("description", "")))


def file_sha256(path: Path) -> str:
    """SHA-256 of a weights file, hashed now.

    There is deliberately no cache: a cache keyed on size and mtime (or stored next to the
    weights) can be forged by whoever can edit the weights, and the shipped files hash in
    milliseconds. Multi-GB user-placed files cost a few seconds per start, which is small
    next to loading them.
    """
    return sha256_file(path)


@dataclass(frozen=True)
class FileIdentity:
    """What changes when a file is replaced or rewritten: ``(dev, ino)`` when another file is
    renamed over its name; size, mtime and ctime when it is written in place. The ctime cannot be
    set back (``os.utime`` restores an mtime and sets the ctime to now), short of changing the
    system clock; on kernels with coarse timestamps a rewrite in the same clock tick (a few ms) as
    the file's last change before the hash could go unseen."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileIdentity:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class HashedFiles:
    """Weights files hashed through descriptors that stay open until the load that follows is checked.

    Why: files too large to read into memory (multi-gigabyte checkpoints, which
    :func:`read_verified` would hold twice) are hashed and then loaded by their own loaders; a
    file renamed over, or rewritten, between the two would be loaded unverified. Each file is
    hashed from one descriptor and its :class:`FileIdentity` taken from that descriptor before
    and after; :meth:`source` names that very file for the loader (``/proc/self/fd/N``, where the
    system has it), and :meth:`check_unchanged`, called once the load is done, refuses if the
    file under the name or the hashed file itself changed. Holding the descriptors also keeps the
    hashed inode alive, so its number cannot be given to a new file meanwhile. Use as a context
    manager: the descriptors close on exit.
    """

    def __init__(self) -> None:
        self._held: dict[Path, tuple[int, FileIdentity]] = {}

    def __enter__(self) -> HashedFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __contains__(self, path: object) -> bool:
        return path in self._held

    def sha256(self, path: Path) -> str:
        """SHA-256 of ``path`` (a regular file), read through a descriptor kept for :meth:`source` and :meth:`check_unchanged`."""
        fd = open_regular(path)
        try:
            before = FileIdentity.of(os.fstat(fd))
            h = hashlib.sha256()
            while chunk := os.read(fd, 1 << 20):
                h.update(chunk)
            after = FileIdentity.of(os.fstat(fd))
        except BaseException:
            os.close(fd)
            raise
        if after != before:
            os.close(fd)
            raise WeightsError(f"{path}: changed while its sha256 was computed ({_change(before, after)}); nothing may write to "
                               "the weights while forgetalk loads them: start again")
        if path in self._held:
            os.close(self._held[path][0])
        self._held[path] = (fd, before)
        return h.hexdigest()

    def source(self, path: Path) -> Path:
        """Where a loader should open ``path``: the hashed file itself (``/proc/self/fd/N``, which
        reopens that inode whatever has been renamed over the name since) where the system offers
        it, else ``path`` (then :meth:`check_unchanged` still tells a swap)."""
        fd, ident = self._held[path]
        proc = Path(f"/proc/self/fd/{fd}")
        try:
            st = os.stat(proc)
        except OSError:
            return path
        return proc if (st.st_dev, st.st_ino) == (ident.dev, ident.ino) else path

    def check_unchanged(self) -> None:
        """A one-line :class:`WeightsError` naming the first file that is no longer the one hashed:
        its name now names another file or none (replaced, moved, removed), or the hashed file
        itself changed (rewritten: its descriptor's identity differs)."""
        for path, (fd, ident) in self._held.items():
            now = FileIdentity.of(os.fstat(fd))
            try:
                named = os.stat(path)
            except OSError as exc:
                why: str | None = f"moved or removed ({exc.strerror or exc})"
            else:
                why = "replaced by another file" if (named.st_dev, named.st_ino) != (ident.dev, ident.ino) else None
            if why is None and now != ident:
                why = (f"rewritten in place ({_change(ident, now)})" if (now.size, now.mtime_ns) != (ident.size, ident.mtime_ns) else
                       "changed in place (its ctime: renamed or linked, its mode or times set, or written with its mtime set back)")
            if why is not None:
                raise WeightsError(f"{path}: {why} after its sha256 was checked, while it was being loaded; the loaded model was "
                                   "discarded (nothing may write to the weights while forgetalk loads them: start again)")

    def close(self) -> None:
        for fd, _ in self._held.values():
            os.close(fd)
        self._held.clear()


def _change(a: FileIdentity, b: FileIdentity) -> str:
    """Which identity fields differ, e.g. ``size 10 -> 12, mtime``."""
    parts = [f"size {a.size} -> {b.size}" if a.size != b.size else "",
             "mtime" if a.mtime_ns != b.mtime_ns else "", "ctime" if a.ctime_ns != b.ctime_ns else "",
             "inode" if (a.dev, a.ino) != (b.dev, b.ino) else ""]
    return ", ".join(p for p in parts if p) or "identity"


def missing_message(manifest: Manifest, wf: WeightFile) -> str:
    where = f" (download: {wf.url})" if wf.url else ""
    expected = f"expected sha256 {wf.sha256}" if wf.sha256 else "no published sha256: it is recorded by `forgetalk weights fetch`"
    return (
        f"missing weights file {wf.name!r} for {manifest.component}: place it in {manifest.folder}/ "
        f"({expected}{', ' + str(wf.size) + ' bytes' if wf.size else ''}){where}; "
        f"then run `forgetalk weights verify {manifest.component}`"
    )


def expected_sha256(manifest: Manifest, wf: WeightFile) -> tuple[str | None, str]:
    """The hash a file must have and where it comes from: the manifest pin, else the hash that
    ``weights fetch`` recorded when it downloaded the file, else none (hand-placed, unpinned)."""
    if wf.sha256:
        return wf.sha256, "expected"
    rec = read_recorded(manifest).get(wf.name)
    if rec is not None:
        return str(rec["sha256"]), "recorded by `weights fetch`"
    return None, ""


def _mismatch(path: Path, want: str, kind: str, got: str, manifest: Manifest) -> WeightsError:
    return WeightsError(f"{path}: sha256 mismatch ({kind} {want}, found {got}); the file is corrupt, modified or a different release "
                        f"(folder {manifest.folder}; restore it or run `forgetalk weights fetch {manifest.component}`)")


def _unreadable(path: Path, exc: OSError, manifest: Manifest, want: str | None) -> WeightsError:
    return WeightsError(f"{path}: cannot read weights file ({exc.strerror or exc}; folder {manifest.folder}"
                        f"{'; expected sha256 ' + want if want else ''}); check its permissions or restore it")


def not_regular_error(path: Path, kind: str, manifest: Manifest, wf: WeightFile) -> WeightsError:
    """The one-line error for a folder, FIFO or device where a manifest's weights file should be."""
    want = expected_sha256(manifest, wf)[0]
    return WeightsError(f"{path}: not a regular file (a {kind}); weights file {wf.name!r} for {manifest.component} must be a regular file "
                        f"in {manifest.folder}/{' (expected sha256 ' + want + ')' if want else ''}")


def _file_kind(path: Path) -> str | None:
    """None for a regular file (symlinks followed); "missing" when absent; else what it is (folder, FIFO...)."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except OSError:  # e.g. a folder on the way that cannot be searched: the read reports it
        return None
    return None if stat.S_ISREG(mode) else mode_kind(mode)


def _locate(component: str, name: str, root: Path | None) -> tuple[Manifest, WeightFile, Path]:
    manifest = load_manifest(component, root)
    wf = manifest.get(name)
    path = manifest.folder / wf.name
    kind = _file_kind(path)
    if kind == "missing":
        raise WeightsError(missing_message(manifest, wf))
    if kind is not None:  # a folder or a FIFO in its place is not "missing": say what is there
        raise not_regular_error(path, kind, manifest, wf)
    return manifest, wf, path


def weights_path(component: str, name: str, root: Path | None = None) -> Path:
    """Where ``name`` of ``component`` is read from: the path every message about that file names.

    Why: the user folder (``--weights-dir``), the checkout and an installed copy all hold files of
    the same name, so a fixed ``weights/<component>/<name>`` in a message pointed at the wrong file
    (the shipped one, when the broken file was the user's copy)."""
    manifest = load_manifest(component, root)
    return manifest.folder / manifest.get(name).name


def resolve(component: str, name: str, root: Path | None = None, verify: bool = True) -> Path:
    """Path of a weights file whose sha256 was checked just now, or a :class:`WeightsError`.

    Callers that parse the file themselves should prefer :func:`read_verified`, which hashes
    exactly the bytes they then load.
    """
    manifest, wf, path = _locate(component, name, root)
    if verify:
        want, kind = expected_sha256(manifest, wf)
        if want:
            try:
                got = file_sha256(path)
            except OSError as exc:  # e.g. mode 0600 and another user: exit 5 with the file, folder and hash, not exit 1
                raise _unreadable(path, exc, manifest, want) from None
            if got != want:
                raise _mismatch(path, want, kind, got, manifest)
    return path


def read_verified(component: str, name: str, root: Path | None = None) -> bytes:
    """The bytes of a weights file, checked against its pinned (or fetch-recorded) sha256.

    Hashing and loading the same bytes leaves no window in which the file could be swapped
    between the check and the load.
    """
    return _read_checked(component, name, root)[0]


def _read_checked(component: str, name: str, root: Path | None) -> tuple[bytes, Path, Manifest, str | None]:
    manifest, wf, path = _locate(component, name, root)
    try:
        with os.fdopen(open_regular(path), "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise _unreadable(path, exc, manifest, expected_sha256(manifest, wf)[0]) from None
    want, kind = expected_sha256(manifest, wf)
    if want:
        got = hashlib.sha256(data).hexdigest()
        if got != want:
            raise _mismatch(path, want, kind, got, manifest)
    return data, path, manifest, want


def load_verified(component: str, name: str, parse: Callable[[bytes], T], what: str, root: Path | None = None,
                  errors: tuple[type[BaseException], ...] = (Exception,)) -> T:
    """``parse`` applied to the verified bytes of a weights file (:func:`read_verified`): the single
    door through which engines load what they parse.

    A parse failure (``errors``) is a one-line :class:`WeightsError` (exit 5) naming the file that
    was read, ``what`` it should have been, and why, instead of a traceback. A file can match its
    pinned hash and still be unloadable: a truncated or foreign file whose manifest entry was updated
    with it. A :class:`ForgetalkError` raised by ``parse`` passes through unchanged.
    """
    data, path, manifest, want = _read_checked(component, name, root)
    try:
        return parse(data)
    except (ForgetalkError, ImportError):  # already one line; a missing library is not the file's fault
        raise
    except errors as exc:
        detail = str(exc).splitlines()[0][:300] if str(exc) else ""
        why = (f"its sha256 matches the pin {want} in {manifest.folder}, so the file and its manifest entry were changed together: "
               "restore both from a forgetalk release" if want else
               f"folder {manifest.folder}; restore it or run `forgetalk weights fetch {manifest.component}`")
        raise WeightsError(f"{path}: {what} ({type(exc).__name__}{': ' + detail if detail else ''}); {why}") from None


@dataclass(frozen=True)
class FileStatus:
    name: str
    path: Path
    status: str  # "ok" | "missing" | "mismatch" | "unpinned" (present, no published hash to check against)
    expected_sha256: str | None
    actual_sha256: str | None
    required: bool
    note: str = ""


def verify_manifest(manifest: Manifest) -> list[FileStatus]:
    """Hash every listed file. Unpinned files are compared with the hash `weights fetch` recorded, if any."""
    out = []
    recorded = read_recorded(manifest)
    for wf in manifest.files:
        path = manifest.folder / wf.name
        kind = _file_kind(path)
        if kind == "missing":
            out.append(FileStatus(wf.name, path, "missing", wf.sha256, None, wf.required))
            continue
        if kind is not None:  # as an unreadable file: present but unusable
            out.append(FileStatus(wf.name, path, "mismatch", wf.sha256, None, wf.required, f"not a regular file (a {kind})"))
            continue
        try:
            got = file_sha256(path)
        except OSError as exc:
            out.append(FileStatus(wf.name, path, "mismatch", wf.sha256, None, wf.required, f"unreadable ({exc.strerror or exc})"))
            continue
        if wf.sha256:
            out.append(FileStatus(wf.name, path, "ok" if got == wf.sha256 else "mismatch", wf.sha256, got, wf.required))
            continue
        rec = recorded.get(wf.name, {}).get("sha256")
        if rec and rec != got:
            out.append(FileStatus(wf.name, path, "mismatch", None, got, wf.required, f"differs from the hash recorded at fetch ({rec})"))
        else:
            note = ("no published hash; matches the hash recorded at fetch (`weights fetch`)" if rec
                    else "no published hash and none recorded (placed by hand, not fetched by forgetalk)")
            out.append(FileStatus(wf.name, path, "unpinned", None, got, wf.required, note))
    return out


#: Per-folder record of the hashes of unpinned files, written only by ``weights fetch``.
RECORD_NAME = "recorded_sha256.json"


def read_recorded(manifest: Manifest) -> dict[str, dict[str, object]]:
    """name -> {"sha256", "size", "source": "fetch", ...} for files ``weights fetch`` downloaded.

    Entries not written by fetch (older versions recorded hand-placed files on first load,
    with a size/mtime cache) are ignored: they prove nothing about where the file came from.
    """
    try:
        raw = json.loads(read_regular_text(manifest.folder / RECORD_NAME))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    out: dict[str, dict[str, object]] = {}
    for name, rec in raw.items():
        sha = rec.get("sha256") if isinstance(rec, dict) else None
        if is_sha256(sha) and rec.get("source") == "fetch":
            out[name] = rec
    return out


def _record_fetched(manifest: Manifest, wf: WeightFile, sha256: str, size: int) -> None:
    """Remember the hash of a file `weights fetch` just downloaded (trust on first download)."""
    from datetime import datetime, timezone

    try:
        raw = json.loads(read_regular_text(manifest.folder / RECORD_NAME))
    except (OSError, ValueError):
        raw = {}
    rec = {k: v for k, v in (raw if isinstance(raw, dict) else {}).items() if isinstance(v, dict) and v.get("source") == "fetch"}
    rec[wf.name] = {"sha256": sha256, "size": size, "source": "fetch", "url": wf.url,
                    "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    atomic_write_json(manifest.folder / RECORD_NAME, rec)


def fetch_file(manifest: Manifest, wf: WeightFile, opener=None, chunk: int = 1 << 20) -> tuple[Path, str]:  # noqa: ANN001 - urllib-like opener
    """Download one file to its manifest place (the only network access forgetalk makes).

    Writes to a ``.part`` sibling, hashes while writing, checks the pinned sha256 (and the
    size when known) before the atomic rename; for an unpinned file the hash is recorded.
    Returns (path, sha256). ``opener`` is injectable for tests (defaults to urllib).
    """
    import urllib.request

    if not wf.url:
        raise WeightsError(f"{wf.name}: no download URL in {manifest.folder / 'manifest.json'}; place the file by hand")
    dest = manifest.folder / wf.name
    kind = _file_kind(dest)
    if kind not in (None, "missing"):  # the rename would fail on a folder, or replace a FIFO
        raise WeightsError(f"{dest}: not a regular file (a {kind}); move it away, then fetch again (nothing was downloaded)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    h = hashlib.sha256()
    size = 0
    open_url = opener or urllib.request.urlopen
    try:
        with open_url(wf.url) as resp, open(part, "wb") as out:
            while True:
                block = resp.read(chunk)
                if not block:
                    break
                h.update(block)
                out.write(block)
                size += len(block)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise WeightsError(f"{wf.name}: download from {wf.url} failed ({exc})") from None
    got = h.hexdigest()
    if (wf.sha256 and got != wf.sha256) or (wf.size and size != wf.size):
        part.unlink(missing_ok=True)
        raise WeightsError(f"{wf.name}: downloaded file does not match the manifest (sha256 {got}, {size} bytes); nothing was kept")
    os.replace(part, dest)
    if not wf.sha256:
        _record_fetched(manifest, wf, got, size)
    return dest, got


def list_components(root: Path | None = None) -> list[str]:
    """Components with a manifest: in ``root``, else in the user folder or shipped with forgetalk."""
    bases = [root] if root is not None else [weights_root(), shipped_root()]
    names: set[str] = set()
    for base in bases:
        if base is not None and base.is_dir():
            names.update(p.name for p in base.iterdir() if (p / "manifest.json").is_file())
    return sorted(names)
