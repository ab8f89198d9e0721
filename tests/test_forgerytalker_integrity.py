"""ForgeryTalker's untrusted checkpoints: the bytes that run are the bytes that were hashed.

Regressions:

* ``resolve_official`` hashed each file by name, then the loaders opened them by name again: a
  file renamed over (or rewritten) in between was loaded unverified, under a report naming the
  hash of the file that was checked; a converted folder (``--model-dir``) hashed its
  ``model.safetensors`` by name *after* loading it, so a swap recorded the hash of a file that
  never ran;
* the loaded tensors stayed mapped onto the files (``mmap=True``, safetensors), so a file
  rewritten in place after the checks changed the weights of the running model;
* a legacy (non-zip) ``.pth`` whose pickle declares storages larger than the file had torch
  allocate them (terabytes, from a few hundred bytes) before it read the data.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import struct
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from forgetalk.engines.forgerytalker import loading  # noqa: E402
from forgetalk.engines.forgerytalker.tiny import tiny_forgerytalker  # noqa: E402
from forgetalk.errors import WeightsError  # noqa: E402
from forgetalk.weights import HashedFiles  # noqa: E402
from tests.test_forgerytalker_loading import _official_layout  # noqa: E402

TOKENS = "mask_decoder.mask_tokens"
PAST_NS = 1_000_000_000 * 1_000_000_000  # 2001-09-09: any write after it sets a different mtime
#: Where the hashed descriptor can be reopened (Linux); elsewhere the loaders read by name and only the check protects.
PROC_FD = Path("/proc/self/fd").is_dir()


@pytest.fixture(scope="module")
def ft():
    return tiny_forgerytalker(seed=5)


# ----------------------------------------------------------------------------- HashedFiles


def _dated(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    os.utime(path, ns=(PAST_NS, PAST_NS))
    return path


def test_a_file_renamed_over_after_hashing_is_never_read_and_is_refused(tmp_path):
    path = _dated(tmp_path / "w.pth", b"verified bytes")
    with HashedFiles() as held:
        assert held.sha256(path) == hashlib.sha256(b"verified bytes").hexdigest()
        held.check_unchanged()
        _dated(tmp_path / "evil", b"swapped in!!!!").replace(path)
        assert held.source(path).read_bytes() == (b"verified bytes" if PROC_FD else b"swapped in!!!!")  # the hashed file, not the name
        with pytest.raises(WeightsError) as err:
            held.check_unchanged()
    msg = str(err.value)
    assert msg.startswith(f"{path}: replaced by another file after its sha256 was checked") and "\n" not in msg and err.value.exit_code == 5


def _overwrite_first_byte(path: Path) -> None:
    with path.open("r+b") as f:
        f.write(b"R")


# The ctime is not asserted: a coarse clock can give the rewrite the tick of the utime before it.
@pytest.mark.parametrize("change, words", [
    (lambda p: p.write_bytes(b"rewritten bytes"), "rewritten in place (size 14 -> 15, mtime"),
    (_overwrite_first_byte, "rewritten in place (mtime"),  # same size, same inode
    (lambda p: p.unlink(), "moved or removed"),
])
def test_a_file_rewritten_or_removed_after_hashing_is_refused(tmp_path, change, words):
    path = _dated(tmp_path / "w.pth", b"verified bytes")
    with HashedFiles() as held:
        held.sha256(path)
        change(path)
        with pytest.raises(WeightsError, match="after its sha256 was checked") as err:
            held.check_unchanged()
    assert str(err.value).startswith(f"{path}: {words}")


def test_a_file_growing_while_it_is_hashed_is_refused(tmp_path, monkeypatch):
    path = _dated(tmp_path / "w.pth", b"verified bytes")
    real = os.read

    def read_then_append(fd: int, n: int) -> bytes:
        monkeypatch.setattr(os, "read", real)
        with path.open("ab") as f:
            f.write(b"+more")
        return real(fd, n)

    monkeypatch.setattr(os, "read", read_then_append)
    with HashedFiles() as held, pytest.raises(WeightsError) as err:
        held.sha256(path)
    assert str(err.value).startswith(f"{path}: changed while its sha256 was computed (size 14 -> 19, mtime") and path not in held


# ----------------------------------------------------------------------------- resolve_official


def _released(ft, root: Path) -> Path:
    """A weights root whose forgerytalker/ holds the tiny model in the released layout, every file pinned."""
    folder = root / loading.COMPONENT
    folder.mkdir(parents=True)
    _official_layout(ft, folder)
    (folder / loading.T5_DIR / "config.json").write_text("{}")
    ft.t5_tokenizer.save_pretrained(str(folder / loading.T5_DIR))
    ft.qformer_tokenizer.save_pretrained(str(folder / loading.BERT_DIR))
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    manifest = {"component": loading.COMPONENT, "files": [
        {"name": p.relative_to(folder).as_posix(), "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for p in files]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture()
def released(ft, tmp_path, monkeypatch):
    """The released layout, with the tiny config standing in for the official one (read from config.json all the same)."""
    real = loading.config_from_t5_folder
    monkeypatch.setattr(loading, "config_from_t5_folder", lambda *a, **kw: (real(*a, **kw), ft.config)[1])
    return _released(ft, tmp_path)


def _resolve(root: Path):
    from forgetalk.engines.forgerytalker.engine import resolve_official

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return resolve_official("cpu", "fp32", root)


def _tamper_before_assemble(monkeypatch, tamper) -> list:  # noqa: ANN001
    """Run ``tamper`` after the files were hashed, just before they are loaded; return the models assembled."""
    real = loading.assemble
    built: list = []

    def assemble(model, sources):  # noqa: ANN001, ANN202
        tamper()
        report = real(model, sources)
        built.append(model)
        return report

    monkeypatch.setattr(loading, "assemble", assemble)
    return built


def _other_dff(ft, path: Path) -> None:
    obj = torch.load(path, weights_only=True)
    obj["model"][TOKENS] = torch.zeros_like(obj["model"][TOKENS])
    torch.save(obj, path)


def test_released_weights_load_with_the_hashes_of_what_ran(ft, released):
    loaded, info = _resolve(released.parent)
    assert info["weights"][loading.DFF] == hashlib.sha256((released / loading.DFF).read_bytes()).hexdigest()
    assert all(info["pinned"].values())
    assert torch.equal(dict(loaded.model.named_parameters())[TOKENS], dict(ft.model.named_parameters())[TOKENS])


def test_a_checkpoint_swapped_after_hashing_is_not_loaded_and_the_load_is_refused(ft, released, monkeypatch, tmp_path):
    """Before: the swapped file (all-zero mask tokens, never hashed) was loaded and returned."""
    dff = released / loading.DFF
    evil = tmp_path / "evil.pth"
    evil.write_bytes(dff.read_bytes())
    _other_dff(ft, evil)
    built = _tamper_before_assemble(monkeypatch, lambda: evil.replace(dff))
    with pytest.raises(WeightsError) as err:
        _resolve(released.parent)
    assert str(err.value).startswith(f"{dff}: replaced by another file after its sha256 was checked") and err.value.exit_code == 5
    if PROC_FD:  # what was assembled came from the hashed file, not from the name
        assert torch.equal(dict(built[0].named_parameters())[TOKENS], dict(ft.model.named_parameters())[TOKENS])


def test_a_shard_rewritten_in_place_after_hashing_is_refused(released, monkeypatch):
    shard = released / loading.T5_DIR / loading.T5_SHARDS[1]
    os.utime(shard, ns=(PAST_NS, PAST_NS))

    def rewrite() -> None:
        with shard.open("r+b") as f:  # a float of the last tensor: same size, same header
            f.seek(-4, os.SEEK_END)
            f.write(struct.pack("<f", 7.0))

    _tamper_before_assemble(monkeypatch, rewrite)
    with pytest.raises(WeightsError, match=r"model-00002-of-00002\.safetensors: rewritten in place \(mtime.*\) after its sha256"):
        _resolve(released.parent)


def _zero_tensor_bytes_in_place(path: Path, tensor: torch.Tensor) -> None:
    raw = path.read_bytes()
    data = tensor.detach().contiguous().numpy().tobytes()
    at = raw.find(data)
    assert at >= 0 and raw.count(data) == 1
    with path.open("r+b") as f:
        f.seek(at)
        f.write(bytes(len(data)))


def test_a_checkpoint_rewritten_after_the_load_does_not_change_the_running_model(ft, released):
    """Before: the parameters read the files' pages (mmap), and the model ran with zeroed mask tokens."""
    loaded, _ = _resolve(released.parent)
    want = dict(ft.model.named_parameters())
    t5_name = "t5_model.encoder.block.0.layer.0.SelfAttention.q.weight"
    _zero_tensor_bytes_in_place(released / loading.DFF, want[TOKENS])
    shard = next(p for p in (released / loading.T5_DIR).glob("*.safetensors") if want[t5_name].detach().numpy().tobytes() in p.read_bytes())
    _zero_tensor_bytes_in_place(shard, want[t5_name])
    got = dict(loaded.model.named_parameters())
    assert torch.equal(got[TOKENS], want[TOKENS]) and torch.equal(got[t5_name], want[t5_name])


# ----------------------------------------------------------------------------- converted folder (--model-dir)


def test_a_converted_folder_swapped_after_hashing_is_refused(ft, tmp_path, monkeypatch):
    """Before: model.safetensors was hashed by name after the load, so the report recorded the swapped file's hash."""
    from forgetalk.engines import get_engine
    from forgetalk.engines.forgerytalker import runtime

    folder = ft.save_pretrained(tmp_path / "m")
    other = tiny_forgerytalker(seed=6).save_pretrained(tmp_path / "other")
    real = runtime.load_pretrained

    def swapped(*a, **kw):  # noqa: ANN002, ANN003, ANN202
        (other / runtime.WEIGHTS_NAME).replace(folder / runtime.WEIGHTS_NAME)
        return real(*a, **kw)

    monkeypatch.setattr(runtime, "load_pretrained", swapped)
    with warnings.catch_warnings(), pytest.raises(WeightsError) as err:
        warnings.simplefilter("ignore")
        get_engine("forgerytalker", device="cpu", model_dir=str(folder))
    assert str(err.value).startswith(f"{folder / runtime.WEIGHTS_NAME}: replaced by another file after its sha256 was checked")


# ----------------------------------------------------------------------------- legacy (non-zip) .pth


def _legacy(path: Path, obj: object, claim: object = None) -> Path:
    """``obj`` written as torch's legacy ``_save`` does (protocol 2 pickles, storages after them);
    with ``claim``, every storage declares that many elements in the pickle and in its data header."""
    from torch.serialization import MAGIC_NUMBER, PROTOCOL_VERSION

    storages: dict[str, torch.storage.TypedStorage] = {}

    class Saver(pickle.Pickler):
        def persistent_id(self, o):  # noqa: ANN001, ANN202
            if not isinstance(o, torch.storage.TypedStorage):
                return None
            key = next((k for k, s in storages.items() if s._cdata == o._cdata), str(len(storages)))
            storages[key] = o
            return ("storage", getattr(torch, o.pickle_storage_type()), key, "cpu", o.size() if claim is None else claim, None)

    with warnings.catch_warnings(), path.open("wb") as f:
        warnings.simplefilter("ignore")  # TypedStorage is deprecated
        for head in (MAGIC_NUMBER, PROTOCOL_VERSION, {"protocol_version": PROTOCOL_VERSION, "little_endian": True,
                                                      "type_sizes": {"short": 2, "int": 4, "long": 4}}):
            pickle.dump(head, f, protocol=2)
        Saver(f, protocol=2).dump(obj)
        pickle.dump(list(storages), f, protocol=2)
        for s in storages.values():
            f.write(struct.pack("<q", s.size() if isinstance(claim, str) or claim is None else claim))
            f.write(bytes(s._untyped_storage.tolist()))
    return path


@pytest.fixture()
def torch_loads(monkeypatch):
    """Every ``torch.load`` call's ``mmap`` flag (the legacy load is the one without mmap)."""
    calls: list[bool] = []
    real = torch.load

    def spy(*a, **kw):  # noqa: ANN002, ANN003, ANN202
        calls.append(bool(kw.get("mmap")))
        return real(*a, **kw)

    monkeypatch.setattr(torch, "load", spy)
    return calls


@pytest.mark.parametrize("claim, words", [
    (1 << 28, "1 storage(s) declare 1073741824 bytes, more than the"),  # 1 GiB: granted by the allocator, then "unexpected EOF"
    (1 << 50, "1 storage(s) declare 4503599627370496 bytes, more than the"),  # 4 PiB: refused by the allocator
    ("x" * 8, "declaring a storage size that is not a count (str)"),
    (-4, "declaring a storage of -4 elements"),
])
def test_a_legacy_file_claiming_more_storage_than_it_holds_is_refused_before_torch_allocates(tmp_path, torch_loads, claim, words):
    path = _legacy(tmp_path / loading.DFF, {"model": {"w": torch.arange(4, dtype=torch.float32)}}, claim=claim)
    with pytest.raises(WeightsError) as err:
        loading.safe_torch_load(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: refused to load: a legacy (non-zip) torch file") and words in msg, msg
    assert "nothing was allocated" in msg and "\n" not in msg and err.value.exit_code == 5
    assert torch_loads == [True]  # only the mmap attempt, which refuses a legacy file before reading it


def _cut_after_first_storage(path: Path) -> None:
    """Truncate a legacy file just after its object pickle declares its first storage."""
    import io
    import pickletools

    raw = path.read_bytes()
    f = io.BytesIO(raw)
    for _ in range(3):  # magic, protocol version, sys_info
        pickle.load(f)
    at = next(pos for op, _arg, pos in pickletools.genops(f) if op.name == "BINPERSID")
    path.write_bytes(raw[:at + 1])


def test_a_legacy_file_cut_after_its_claim_is_refused_before_torch_allocates(tmp_path, torch_loads):
    """torch allocates each storage as its pickle declares it, before it reaches the end of a broken pickle."""
    path = _legacy(tmp_path / loading.DFF, {"model": {"w": torch.arange(4, dtype=torch.float32)}}, claim=1 << 28)
    _cut_after_first_storage(path)
    with pytest.raises(WeightsError, match=r"1 storage\(s\) declare 1073741824 bytes, more than the \d+ bytes"):
        loading.safe_torch_load(path)
    assert torch_loads == [True]


def test_consistent_legacy_files_still_load(tmp_path):
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    state = {"model": {"w": base, "row": base[1], "h": torch.ones(5, dtype=torch.float16), "n": torch.tensor([7], dtype=torch.int64),
                       "b": torch.zeros(3, dtype=torch.bool), "bf": torch.full((2, 2), 0.5, dtype=torch.bfloat16)}, "epoch": 3}
    for name, write in (("torch.pth", lambda p: torch.save(state, p, _use_new_zipfile_serialization=False)), ("ours.pth", lambda p: _legacy(p, state))):
        path = tmp_path / name
        write(path)
        got = loading.safe_torch_load(path)
        assert got["epoch"] == 3 and set(got["model"]) == set(state["model"]), name
        for k, v in state["model"].items():
            assert got["model"][k].dtype == v.dtype and torch.equal(got["model"][k], v), (name, k)


class _WritesAFile:
    def __init__(self, path) -> None:  # noqa: ANN001
        self.path = str(path)

    def __reduce__(self):  # noqa: ANN204
        return (open, (self.path, "w"))


def test_the_legacy_size_scan_runs_nothing_and_torch_still_names_the_refused_global(tmp_path):
    marker = tmp_path / "payload-ran"
    path = _legacy(tmp_path / loading.DFF, {"model": {"w": torch.zeros(2)}, "hook": _WritesAFile(marker)})
    with pytest.raises(WeightsError) as err:
        loading.safe_torch_load(path)
    assert not marker.exists()
    assert "nothing in it was executed" in str(err.value) and "nsupported" in str(err.value) and "open" in str(err.value)


def test_the_legacy_scan_reads_no_further_than_the_file(tmp_path):
    """A pickle string declaring 4 GB is read as the few bytes the file has (no 4 GB read buffer)."""
    import io

    blob = io.BytesIO()
    for head in (loading._LEGACY_MAGIC, 1001, {}):
        pickle.dump(head, blob, protocol=2)
    path = tmp_path / "x.pth"
    path.write_bytes(blob.getvalue() + b"\x80\x02X" + struct.pack("<I", 0xFFFFFFFF) + b"abc")
    reads: list[int] = []

    class Counting(io.FileIO):
        def read(self, n: int = -1) -> bytes:  # noqa: D102
            reads.append(n)
            return super().read(n)

    with Counting(path, "rb") as fh:
        loading.refuse_legacy_overclaim(fh, path)  # not the legacy layout: torch reports it
    assert reads and max(reads) <= path.stat().st_size
