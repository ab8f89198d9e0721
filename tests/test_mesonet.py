"""The MesoNet peer (benchmarks/mesonet.py) loads the released Keras weights and gives sane outputs.

The weight files live in ../shared/pretrained, which CI does not have: the tests skip then.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _helpers import load_benchmark

REPO = Path(__file__).resolve().parent.parent
PRETRAINED = REPO.parent / "shared" / "pretrained"


def _module():  # noqa: ANN202
    return load_benchmark("mesonet")


M = _module()
FILES = [PRETRAINED / n for n in M.WEIGHT_FILES]
needs_weights = pytest.mark.skipif(not all(p.is_file() for p in FILES), reason="MesoNet weights not present (../shared/pretrained)")


def test_not_hdf5_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 8)
    with pytest.raises(ValueError):
        M.read_h5_tensors(bad)
    bad.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(ValueError):
        M._MiniH5(bad.read_bytes())


@needs_weights
def test_four_released_models_load_and_disagree(grace_rgb: np.ndarray) -> None:
    h, w = grace_rgb.shape[:2]
    s = min(h, w) // 2
    face = np.ascontiguousarray(grace_rgb[h // 8 : h // 8 + s, w // 2 - s // 2 : w // 2 + s // 2])
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (300, 280, 3), dtype=np.uint8)
    outs = []
    for path in FILES:
        model = M.load_mesonet(path)
        assert model.inception == ("Inception" in path.name)
        ps = [M.mesonet_fake_prob(model, img) for img in (face, noise)]
        assert all(0.0 <= p <= 1.0 and np.isfinite(p) for p in ps)
        outs.append(ps)
    arr = np.array(outs)
    for i in range(len(FILES)):
        for j in range(i + 1, len(FILES)):
            assert np.abs(arr[i] - arr[j]).max() > 1e-4, (FILES[i].name, FILES[j].name)


@needs_weights
def test_keras_layouts_are_mapped() -> None:
    tensors = M.read_h5_tensors(PRETRAINED / "meso_Meso4_DF.h5")
    kernels = [v for k, v in tensors.items() if k.endswith("kernel:0")]
    assert sorted(k.shape for k in kernels if k.ndim == 4) == sorted([(3, 3, 3, 8), (5, 5, 8, 8), (5, 5, 8, 16), (5, 5, 16, 16)])
    assert sorted(k.shape for k in kernels if k.ndim == 2) == [(16, 1), (1024, 16)]
    assert all((v > 0).all() for k, v in tensors.items() if k.endswith("moving_variance:0"))
