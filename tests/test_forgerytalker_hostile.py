"""ForgeryTalker files that are not what their names promise: one line, exit 5 (or 2/3), no hang, no traceback.

Regressions (hostile pass on loading untrusted checkpoints):

* a converted folder (``--model-dir``) whose config was malformed, or whose ``model.safetensors``
  had a wrong shape, was a traceback and exit 1; one whose config claimed large sizes
  (``num_layers: 1000000``, ``num_beams: 1000000``, or the full release over a file of a few
  bytes) allocated what it claimed until the machine ran out of memory;
* NaN or int tensors in a converted folder loaded (NaN weights: "no evidence of manipulation");
* a tokenizer folder with a malformed ``tokenizer_config.json`` loaded a tokenizer without a
  padding token, and the first face was a traceback; a FIFO in that folder blocked forever;
* a folder, FIFO or ``/dev/zero`` link in a released file's place was reported "missing";
* ``evaluate``: a FIFO named as DATA, --predictions or a mask blocked forever, ``/dev/zero`` as
  DATA filled memory, and a mask PNG declaring gigapixels was decoded (Pillow's bomb check is off
  in forgetalk); its ``--json-out`` did not say which weights (hashes) or quantization ran.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from forgetalk.cli import main  # noqa: E402
from forgetalk.engines.forgerytalker.runtime import CONFIG_NAME, WEIGHTS_NAME  # noqa: E402
from forgetalk.engines.forgerytalker.tiny import tiny_forgerytalker  # noqa: E402
from forgetalk.errors import WeightsError  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ft():
    return tiny_forgerytalker(seed=2)


class Blocked(BaseException):
    """Not an OSError (as TimeoutError is): the code under test must not be able to catch it as a bad file."""


@contextlib.contextmanager
def deadline(seconds: int = 20):
    """Turn a hang (a FIFO opened for reading) into a test failure instead of a stuck run."""
    def boom(*_a):  # noqa: ANN002
        raise Blocked(f"still blocked after {seconds} s")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def build(folder: Path, **kw: object):
    from forgetalk.engines import get_engine

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return get_engine("forgerytalker", device="cpu", model_dir=str(folder), **kw)


def edit_config(folder: Path, change) -> None:  # noqa: ANN001
    cfg = json.loads((folder / CONFIG_NAME).read_text())
    change(cfg)
    (folder / CONFIG_NAME).write_text(json.dumps(cfg))


# ----------------------------------------------------------------------------- converted folder (--model-dir)


@pytest.mark.parametrize("change, shown", [
    (lambda c: c["t5"].update(num_layers=1_000_000), "t5.num_layers=1000000"),
    (lambda c: c["generation"].update(num_beams=1_000_000), "generation.num_beams=1000000"),
    (lambda c: c["t5"].update(num_hidden_layers=1_000_000), "t5.num_hidden_layers=1000000"),  # a transformers alias
    (lambda c: c["vision"].update(hidden_size="64"), "vision.hidden_size='64'"),
    (lambda c: c["mask"].update(mask_size=-5), "mask.mask_size=-5"),
])
def test_config_sizes_are_checked_before_anything_is_built(ft, tmp_path, change, shown):
    folder = ft.save_pretrained(tmp_path / "m")
    edit_config(folder, change)
    with pytest.raises(WeightsError) as err:
        build(folder)
    assert str(err.value).startswith(f"{folder / CONFIG_NAME}: sizes that are not integers") and shown in str(err.value)


def test_a_config_claiming_more_parameters_than_the_file_holds_is_refused(ft, tmp_path):
    """The release's sizes over a tiny file: 5e9 parameters would be allocated (20 GB) before the file was read."""
    from forgetalk.engines.forgerytalker.config import ForgeryTalkerConfig

    folder = ft.save_pretrained(tmp_path / "m")
    official = ForgeryTalkerConfig.official()
    official.vision.num_layers = 1  # still ~3e9 parameters; keeps the meta-device build quick
    official.save(folder / CONFIG_NAME)
    with pytest.raises(WeightsError, match=r"bytes cannot hold the \d+ parameters its forgerytalker_config\.json describes"):
        build(folder)


@pytest.mark.parametrize("text", ["{", "[]", '{"vision": 5}', '{"vision": {"evil": 1}}'])
def test_a_malformed_config_is_one_weights_error(ft, tmp_path, text):
    folder = ft.save_pretrained(tmp_path / "m")
    (folder / CONFIG_NAME).write_text(text)
    with pytest.raises(WeightsError) as err:
        build(folder)
    msg = str(err.value)
    assert msg.startswith(f"cannot load the converted ForgeryTalker folder {folder}/ (") and "\n" not in msg


@pytest.mark.parametrize("bad, words", [
    (lambda t: torch.full_like(t, float("nan")), "holds NaN or infinite values"),
    (lambda t: t.to(torch.int32), "has dtype int32, the model expects float32"),
    (lambda t: torch.zeros(3, 3), "has shape (3, 3), model expects (1, 1, 64)"),
    (lambda t: torch.full_like(t, 1e300, dtype=torch.float64), "holds NaN or infinite values"),  # finite in the file, Inf as float32
])
def test_unusable_tensors_in_a_converted_folder_are_named(ft, tmp_path, bad, words):
    from safetensors.torch import load_file, save_file

    folder = ft.save_pretrained(tmp_path / "m")
    sd = load_file(str(folder / WEIGHTS_NAME))
    sd["mask_decoder.mask_tokens"] = bad(sd["mask_decoder.mask_tokens"])
    save_file(sd, str(folder / WEIGHTS_NAME))
    with pytest.raises(WeightsError) as err:
        build(folder)
    assert str(err.value) == f"{folder / WEIGHTS_NAME}: mask_decoder.mask_tokens {words}"


def test_a_converted_folder_s_weights_are_read_once(ft, tmp_path, monkeypatch):
    """Each tensor was read twice, once to check it and once by ``load_model`` (gigabytes for the
    real model); the check now reads the file's header and the loaded values."""
    import safetensors
    import safetensors.torch as st

    reads: list[str] = []
    real = safetensors.safe_open

    class Counting:
        def __init__(self, *a, **kw) -> None:
            self._f = real(*a, **kw)

        def __enter__(self):  # noqa: ANN204
            self._inner = self._f.__enter__()
            return self

        def __exit__(self, *exc: object) -> None:
            self._f.__exit__(*exc)

        def get_tensor(self, name: str):  # noqa: ANN201
            reads.append(name)
            return self._inner.get_tensor(name)

        def get_tensors(self):  # noqa: ANN201 - what load_model's load_file calls
            got = self._inner.get_tensors()
            reads.extend(got)
            return got

        def __getattr__(self, name: str):  # noqa: ANN204 - keys, get_slice, metadata
            return getattr(self._inner, name)

    folder = ft.save_pretrained(tmp_path / "m")
    monkeypatch.setattr(safetensors, "safe_open", Counting)
    monkeypatch.setattr(st, "safe_open", Counting)
    build(folder)
    assert reads and len(reads) == len(set(reads))


def test_a_tokenizer_without_padding_or_with_a_fifo_is_refused(ft, tmp_path):
    folder = ft.save_pretrained(tmp_path / "m")
    (folder / "t5_tokenizer" / "tokenizer_config.json").write_text("{")  # the fallback loads tokenizer.json alone: no pad token
    with pytest.raises(WeightsError, match=r"t5_tokenizer: the tokenizer has no padding token"):
        build(folder)
    shutil.rmtree(folder / "t5_tokenizer")
    ft.t5_tokenizer.save_pretrained(str(folder / "t5_tokenizer"))
    os.mkfifo(folder / "t5_tokenizer" / "added_tokens.json")
    with deadline(), pytest.raises(WeightsError, match=r"t5_tokenizer: tokenizer folder holds what is not a regular file: added_tokens\.json \(a FIFO\)"):
        build(folder)


# ----------------------------------------------------------------------------- released layout


@pytest.mark.parametrize("kind", ["folder", "FIFO", "character device"])
def test_a_released_file_replaced_by_a_non_file_is_named_not_missing(tmp_path, kind):
    from forgetalk.engines.forgerytalker.engine import resolve_official

    comp = tmp_path / "forgerytalker"
    comp.mkdir()
    shutil.copy(REPO / "weights" / "forgerytalker" / "manifest.json", comp / "manifest.json")
    dff = comp / "2111_checkpoint_best.pth"
    {"folder": dff.mkdir, "FIFO": lambda: os.mkfifo(dff), "character device": lambda: os.symlink("/dev/zero", dff)}[kind]()
    with deadline(), pytest.raises(WeightsError) as err:
        resolve_official("cpu", "fp32", tmp_path)
    assert str(err.value).startswith(f"{dff}: not a regular file (a {kind})") and "missing" not in str(err.value)


# ----------------------------------------------------------------------------- evaluate


@pytest.fixture()
def mmtt(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "img0.png")
    gt = np.zeros((64, 64), np.uint8)
    gt[:32] = 255
    Image.fromarray(gt).save(tmp_path / "gt0.png")
    rec = {"image_id": "a", "caption": "the left eye is blurred", "img_path": "img0.png", "mask_path": "gt0.png", "multilabel": [0] * 21}
    (tmp_path / "eval.json").write_text(json.dumps([rec]))
    return tmp_path


def evaluate(*args: object):
    with deadline(60):
        return CliRunner().invoke(main, ["evaluate", *map(str, args)], env={"CI": "1"})


@pytest.mark.parametrize("kind", ["FIFO", "/dev/zero"])
@pytest.mark.parametrize("which", ["DATA", "--predictions"])
def test_a_fifo_or_device_as_evaluation_json_is_usage_not_a_hang(mmtt, kind, which):
    odd = mmtt / "odd.json"
    os.mkfifo(odd) if kind == "FIFO" else os.symlink("/dev/zero", odd)
    args = [odd, "--predictions", mmtt / "eval.json"] if which == "DATA" else [mmtt / "eval.json", "--predictions", odd]
    res = evaluate(*args)
    assert res.exit_code == 2, res.output
    assert "not a regular file" in res.output and "Traceback" not in res.output


def _png_declaring(width: int, height: int) -> bytes:
    """A 1x1 grey PNG whose header claims ``width`` x ``height`` (decoding would need that many bytes)."""
    import io

    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


@pytest.mark.parametrize("mask", ["fifo", "bomb"])
def test_an_unusable_ground_truth_mask_is_skipped_without_hanging_or_decoding(mmtt, mask):
    from forgetalk.engines.forgerytalker.evaluation import load_mmtt, score

    if mask == "fifo":
        (mmtt / "gt0.png").unlink()
        os.mkfifo(mmtt / "gt0.png")
    else:
        (mmtt / "gt0.png").write_bytes(_png_declaring(100_000, 100_000))  # 10 gigapixels
    with deadline():
        res = score(load_mmtt(mmtt / "eval.json"), {"a": {"caption": "x", "mask": np.zeros((8, 8), np.float32)}}, mmtt)
    assert res.summary["masks"] == 0 and res.rows[0]["mask_skipped"]


def test_evaluate_json_out_records_weights_hashes_and_quantization(ft, mmtt):
    from forgetalk.io import sha256_file

    folder = ft.save_pretrained(mmtt / "model")
    res = evaluate(mmtt / "eval.json", "--model-dir", folder, "--quant", "bf16", "--json-out", mmtt / "o.json", "--no-progress")
    assert res.exit_code == 0, res.output
    info = json.loads((mmtt / "o.json").read_text())["engine_info"]
    assert info["weights"] == {WEIGHTS_NAME: sha256_file(folder / WEIGHTS_NAME)}
    assert info["quant"] == "bf16" and info["precision"]["t5"]["policy"] == "bf16"
