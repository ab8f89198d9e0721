"""MesoNet (Afchar et al., WIFS 2018) as a published peer: the original Keras weights, run in torch.

    python benchmarks/mesonet.py --faces ../shared/faces [--parsing ../shared/parsing/celebamask_hq_1000]

Prints one table: for each of the four released weight files, the mean fake-probability and
the fraction called fake (p > 0.5) on the *validation* real faces. Benchmark code, not
product code: nothing in ``forgetalk`` imports it.

Faithful to DariusAf/MesoNet ``classifiers.py``:

* ``Meso4``: 4 x [Conv(relu) -> BatchNorm -> MaxPool] (8 3x3, 8 5x5, 16 5x5, 16 5x5; pools 2, 2,
  2, 4), Flatten, Dropout(0.5), Dense(16), LeakyReLU(0.1), Dropout(0.5), Dense(1, sigmoid).
* ``MesoInception4``: two Inception layers (1x1 | 1x1->3x3 | 1x1->3x3 dil 2 | 1x1->3x3 dil 3, all
  relu, concatenated; widths (1, 4, 4, 2) then (2, 4, 4, 2)), each followed by BatchNorm and
  MaxPool 2, then the same two 5x5 blocks and head as Meso4.
* Input: RGB 256x256 scaled by 1/255 (the released ``example.py`` uses
  ``ImageDataGenerator(rescale=1./255)``). Keras layouts: conv kernels HWIO -> OIHW, BatchNorm
  (gamma, beta, moving_mean, moving_variance) with Keras' epsilon 1e-3, Dense kernels (in, out)
  -> transposed, and Flatten runs over channels-last tensors, so the torch feature map is
  permuted to NHWC before flattening. Dropout is inactive at inference.
* Sign: the sigmoid output is P(**real**). ``example.py`` reads ``test_images/`` with
  ``flow_from_directory(class_mode='binary')``, whose class indices are the sub-folders in
  alphabetical order (``df`` -> 0, ``real`` -> 1). Checked empirically: on real faces the
  output is high (see the table), so ``mesonet_fake_prob`` returns ``1 - output``.
* Face framing: the original pipeline (``pipeline.py``: ``find_coordinates`` and
  ``get_aligned_face``) cuts a square of side 1.3 * 2.2 * max(eye distance, eye-to-mouth
  distance) centred on the nose, rotated upright, then resized to 256. :func:`mesonet_crop`
  reproduces that square from our aligned crop and its FaceMesh points.

Weights are read as plain tensors (never unpickled): with h5py when it is installed,
otherwise with the small read-only HDF5 reader below (superblock v0, old-style groups,
contiguous or compact datasets: the layout Keras 2 ``save_weights`` writes).
"""

from __future__ import annotations

import argparse
import re
import struct
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parent.parent
IMG = 256
BN_EPS = 1e-3
WEIGHT_FILES = ("meso_Meso4_DF.h5", "meso_Meso4_F2F.h5", "meso_MesoInception_DF.h5", "meso_MesoInception_F2F.h5")


# ------------------------------------------------------------------------------ HDF5 reading
class H5FormatError(ValueError):
    """The file is not an HDF5 layout this reader understands (or is corrupt)."""


class _MiniH5:
    """Read-only walk of an HDF5 file's groups and datasets (no h5py, no pickle).

    Only what Keras 2 weight files use: superblock version 0/1, symbol-table groups (v1
    B-trees + local heaps), version-1 object headers, contiguous or compact little/big-endian
    float and integer datasets. Every offset is bounds-checked; anything else raises
    :class:`H5FormatError`.
    """

    MAX_OBJECTS = 10_000

    def __init__(self, data: bytes) -> None:
        self.d = data
        self.seen = 0
        if data[:8] != b"\x89HDF\r\n\x1a\n":
            raise H5FormatError("not an HDF5 file")
        ver = data[8]
        if ver not in (0, 1):
            raise H5FormatError(f"superblock version {ver} not supported")
        if data[13] != 8 or data[14] != 8:
            raise H5FormatError("only 8-byte offsets/lengths are supported")
        p = 24 + (4 if ver == 1 else 0)
        self.base = self._u64(p)
        self.root_entry = p + 32

    def _need(self, off: int, n: int) -> None:
        if off < 0 or n < 0 or off + n > len(self.d):
            raise H5FormatError(f"read past end of file at {off}+{n}")

    def _u64(self, off: int) -> int:
        self._need(off, 8)
        return struct.unpack_from("<Q", self.d, off)[0]

    def _u32(self, off: int) -> int:
        self._need(off, 4)
        return struct.unpack_from("<I", self.d, off)[0]

    def _u16(self, off: int) -> int:
        self._need(off, 2)
        return struct.unpack_from("<H", self.d, off)[0]

    def _cstr(self, off: int) -> str:
        self._need(off, 1)
        end = self.d.find(b"\x00", off, min(off + 4096, len(self.d)))
        if end < 0:
            raise H5FormatError("unterminated name")
        return self.d[off:end].decode("utf-8", "replace")

    def _messages(self, addr: int) -> list[tuple[int, int, int]]:
        """(type, data offset, size) of every message of a version-1 object header."""
        self._need(addr, 16)
        if self.d[addr] != 1:
            raise H5FormatError(f"object header version {self.d[addr]} at {addr} not supported")
        n = self._u16(addr + 2)
        blocks = [(addr + 16, self._u32(addr + 8))]
        out: list[tuple[int, int, int]] = []
        while blocks and len(out) < n:
            start, size = blocks.pop(0)
            p, end = start, start + size
            self._need(start, size)
            while p + 8 <= end and len(out) < n:
                mtype, msize = self._u16(p), self._u16(p + 2)
                self._need(p + 8, msize)
                out.append((mtype, p + 8, msize))
                if mtype == 0x10:  # continuation
                    blocks.append((self._u64(p + 8) + self.base, self._u64(p + 16)))
                p += 8 + msize
        return out

    def _group_entries(self, btree: int, heap: int) -> list[tuple[str, int]]:
        self._need(heap, 32)
        if self.d[heap : heap + 4] != b"HEAP":
            raise H5FormatError("bad local heap")
        heap_data = self._u64(heap + 24) + self.base
        out: list[tuple[str, int]] = []
        stack = [btree + self.base]
        while stack:
            node = stack.pop()
            self._need(node, 24)
            if self.d[node : node + 4] != b"TREE" or self.d[node + 4] != 0:
                raise H5FormatError("bad group B-tree node")
            level, used = self.d[node + 5], self._u16(node + 6)
            p = node + 24 + 8  # skip key 0
            for _ in range(used):
                child = self._u64(p) + self.base
                p += 16  # child, next key
                if level > 0:
                    stack.append(child)
                    continue
                self._need(child, 8)
                if self.d[child : child + 4] != b"SNOD":
                    raise H5FormatError("bad symbol table node")
                for k in range(self._u16(child + 6)):
                    e = child + 8 + 40 * k
                    out.append((self._cstr(heap_data + self._u64(e)), self._u64(e + 8) + self.base))
                    self.seen += 1
                    if self.seen > self.MAX_OBJECTS:
                        raise H5FormatError("too many objects")
        return out

    def _dataset(self, msgs: list[tuple[int, int, int]]) -> np.ndarray:
        types = {t: (o, s) for t, o, s in msgs}
        if 0x0B in types:
            raise H5FormatError("filtered (compressed) datasets are not supported")
        o, _ = types[0x01]
        ver, ndim = self.d[o], self.d[o + 1]
        p = o + (8 if ver == 1 else 4)
        shape = tuple(self._u64(p + 8 * i) for i in range(ndim))
        o, _ = types[0x03]
        cls, bits, size = self.d[o] & 0x0F, self.d[o + 1], self._u32(o + 4)
        order = ">" if bits & 1 else "<"
        if cls == 1 and size in (2, 4, 8):
            dtype = np.dtype(f"{order}f{size}")
        elif cls == 0 and size in (1, 2, 4, 8):
            dtype = np.dtype(f"{order}{'i' if bits & 8 else 'u'}{size}")
        else:
            raise H5FormatError(f"datatype class {cls} size {size} not supported")
        o, _ = types[0x08]
        lver = self.d[o]
        count = int(np.prod(shape)) if shape else 1
        nbytes = count * dtype.itemsize
        if lver == 3:
            lclass = self.d[o + 1]
            if lclass == 1:
                addr, length = self._u64(o + 2), self._u64(o + 10)
                if count == 0 or addr == 0xFFFFFFFFFFFFFFFF:
                    return np.zeros(shape, dtype.newbyteorder("="))
                addr += self.base
            elif lclass == 0:
                length, addr = self._u16(o + 2), o + 4
            else:
                raise H5FormatError("chunked datasets are not supported")
        elif lver in (1, 2):
            lclass = self.d[o + 2]
            if lclass != 1:
                raise H5FormatError("only contiguous version-1/2 layouts are supported")
            addr, length = self._u64(o + 8) + self.base, nbytes
        else:
            raise H5FormatError(f"layout version {lver} not supported")
        if length < nbytes:
            raise H5FormatError("dataset storage smaller than its shape")
        self._need(addr, nbytes)
        return np.frombuffer(self.d, dtype, count, addr).reshape(shape).astype(dtype.newbyteorder("="))

    def datasets(self) -> dict[str, np.ndarray]:
        """Every dataset in the file, by '/'-joined path."""
        e = self.root_entry
        out: dict[str, np.ndarray] = {}
        stack = [("", self._u64(e + 8) + self.base, 0)]
        while stack:
            path, addr, depth = stack.pop()
            if depth > 16:
                raise H5FormatError("groups nested too deep")
            msgs = self._messages(addr)
            sym = [(o, s) for t, o, s in msgs if t == 0x11]
            if sym:
                o, _ = sym[0]
                for name, child in self._group_entries(self._u64(o), self._u64(o + 8) + self.base):
                    stack.append((f"{path}/{name}" if path else name, child, depth + 1))
            elif any(t == 0x08 for t, _, _ in msgs):
                out[path] = self._dataset(msgs)
            elif any(t in (0x02, 0x06) for t, _, _ in msgs):
                raise H5FormatError("new-style (link message) groups are not supported; install h5py")
        return out


def read_h5_tensors(path: Path) -> dict[str, np.ndarray]:
    """All datasets of a Keras weights file as float arrays, by path (e.g. 'conv2d_5/conv2d_5/kernel:0')."""
    try:
        import h5py  # type: ignore[import-not-found]
    except ImportError:
        data = Path(path).read_bytes()
        return _MiniH5(data).datasets()
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, np.asarray(obj[()])) if isinstance(obj, h5py.Dataset) else None)
    return out


# ------------------------------------------------------------------------------ networks
class _Block(nn.Module):
    """Conv(relu) -> BatchNorm -> MaxPool, as in MesoNet."""

    def __init__(self, cin: int, cout: int, k: int, pool: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.pool = nn.MaxPool2d(pool)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.bn(torch.relu(self.conv(x))))


class _Inception(nn.Module):
    def __init__(self, cin: int, a: int, b: int, c: int, d: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList([
            nn.Conv2d(cin, a, 1),
            nn.Conv2d(cin, b, 1), nn.Conv2d(b, b, 3, padding=1),
            nn.Conv2d(cin, c, 1), nn.Conv2d(c, c, 3, padding=2, dilation=2),
            nn.Conv2d(cin, d, 1), nn.Conv2d(d, d, 3, padding=3, dilation=3),
        ])  # fmt: skip  (Keras creation order: the order of the weight file's conv2d_N suffixes)
        self.bn = nn.BatchNorm2d(a + b + c + d, eps=BN_EPS)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = torch.relu
        cv = self.convs
        y = torch.cat([r(cv[0](x)), r(cv[2](r(cv[1](x)))), r(cv[4](r(cv[3](x)))), r(cv[6](r(cv[5](x))))], dim=1)
        return self.pool(self.bn(y))


class MesoNet(nn.Module):
    """Meso4 (``inception=False``) or MesoInception4; forward returns the sigmoid output P(real)."""

    def __init__(self, inception: bool) -> None:
        super().__init__()
        self.inception = inception
        if inception:
            self.features = nn.Sequential(_Inception(3, 1, 4, 4, 2), _Inception(11, 2, 4, 4, 2), _Block(12, 16, 5, 2), _Block(16, 16, 5, 4))
        else:
            self.features = nn.Sequential(_Block(3, 8, 3, 2), _Block(8, 8, 5, 2), _Block(8, 16, 5, 2), _Block(16, 16, 5, 4))
        self.fc1 = nn.Linear(8 * 8 * 16, 16)
        self.fc2 = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (N, 3, 256, 256) in [0, 1]
        f = self.features(x).permute(0, 2, 3, 1).flatten(1)  # Keras Flatten is channels-last
        return torch.sigmoid(self.fc2(nn.functional.leaky_relu(self.fc1(f), 0.1)))[:, 0]


def _suffix(name: str) -> int:
    m = re.search(r"_(\d+)$", name)
    return int(m.group(1)) if m else 0


def _layers(tensors: dict[str, np.ndarray], kind: str) -> list[dict[str, np.ndarray]]:
    """Weights of every layer of one Keras kind ('conv2d', 'batch_normalization', 'dense') in creation order."""
    by_layer: dict[str, dict[str, np.ndarray]] = {}
    for path, arr in tensors.items():
        parts = path.strip("/").split("/")
        layer = parts[0]
        if re.fullmatch(rf"{kind}(_\d+)?", layer):
            by_layer.setdefault(layer, {})[parts[-1].split(":")[0]] = np.asarray(arr, np.float32)
    return [by_layer[k] for k in sorted(by_layer, key=_suffix)]


def load_mesonet(path: Path) -> MesoNet:
    """Build Meso4 or MesoInception4 (from the file name, checked against the tensors) and load its Keras weights."""
    tensors = read_h5_tensors(Path(path))
    convs, bns, dense = _layers(tensors, "conv2d"), _layers(tensors, "batch_normalization"), _layers(tensors, "dense")
    inception = len(convs) == 16
    if len(convs) not in (4, 16) or len(bns) != 4 or len(dense) != 2:
        raise ValueError(f"{path}: not a MesoNet weights file ({len(convs)} conv, {len(bns)} batch-norm, {len(dense)} dense layers)")
    if ("Inception" in Path(path).name) != inception:
        raise ValueError(f"{path}: file name and layer count disagree about the architecture")
    model = MesoNet(inception).eval()
    tconvs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    tbns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for mod, w in zip(tconvs, convs, strict=True):
            k = torch.from_numpy(w["kernel"]).permute(3, 2, 0, 1)  # HWIO -> OIHW
            if tuple(k.shape) != tuple(mod.weight.shape):
                raise ValueError(f"{path}: conv kernel {tuple(w['kernel'].shape)} does not fit {tuple(mod.weight.shape)}")
            mod.weight.copy_(k)
            mod.bias.copy_(torch.from_numpy(w["bias"]))
        for mod, w in zip(tbns, bns, strict=True):
            for ours, theirs in (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"), ("running_var", "moving_variance")):
                t = torch.from_numpy(w[theirs])
                if t.shape != getattr(mod, ours).shape:
                    raise ValueError(f"{path}: batch-norm {theirs} shape {tuple(t.shape)} does not fit")
                getattr(mod, ours).copy_(t)
        for mod, w in zip((model.fc1, model.fc2), dense, strict=True):
            k = torch.from_numpy(w["kernel"]).T  # (in, out) -> (out, in)
            if k.shape != mod.weight.shape:
                raise ValueError(f"{path}: dense kernel {tuple(w['kernel'].shape)} does not fit")
            mod.weight.copy_(k)
            mod.bias.copy_(torch.from_numpy(w["bias"]))
    return model


def mesonet_fake_prob(model: MesoNet, rgb_uint8_face: np.ndarray) -> float:
    """P(fake) for one RGB uint8 face crop (any size; resized to 256x256, scaled by 1/255).

    MesoNet's sigmoid output is P(real) (class 1 = 'real' in the released generator), so
    this returns ``1 - output``.
    """
    img = np.asarray(rgb_uint8_face)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got {img.shape}")
    interp = cv2.INTER_AREA if min(img.shape[:2]) > IMG else cv2.INTER_LINEAR
    x = cv2.resize(img, (IMG, IMG), interpolation=interp).astype(np.float32) / 255.0
    with torch.no_grad():
        p_real = float(model(torch.from_numpy(x).permute(2, 0, 1)[None])[0])
    return 1.0 - p_real


def mesonet_crop(crop: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The original pipeline's face square from an upright aligned crop and its FaceMesh points.

    Side 1.3 * 2.2 * max(eye distance, eye-to-mouth distance), centred on the nose (mean of
    tip and bridge); reflected at the crop border like ``get_image_slice``.
    """
    lm = np.asarray(landmarks, np.float64)[:, :2]
    e1, e2 = lm[[33, 133]].mean(0), lm[[263, 362]].mean(0)
    eyes = (e1 + e2) / 2
    mouth = lm[[13, 14, 61, 291]].mean(0)
    nose = (lm[[1, 4]].mean(0) + lm[[6, 168, 197]].mean(0)) / 2
    side = int(1.3 * 2.2 * max(np.linalg.norm(e1 - e2), np.linalg.norm(mouth - eyes)))
    x0, y0 = int(nose[0] - side / 2), int(nose[1] - side / 2)
    pad = max(0, -x0, -y0, x0 + side - crop.shape[1], y0 + side - crop.shape[0])
    big = np.pad(crop, ((pad, pad), (pad, pad), (0, 0)), mode="reflect") if pad else crop
    return np.ascontiguousarray(big[y0 + pad : y0 + pad + side, x0 + pad : x0 + pad + side])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="MesoNet on validation real faces (mean fake-probability per released weight file)")
    ap.add_argument("--faces", type=Path, required=True)
    ap.add_argument("--parsing", type=Path, default=None, help="also the parsing set's validation faces")
    ap.add_argument("--pretrained", type=Path, default=REPO.parent / "shared" / "pretrained")
    ap.add_argument("--full-crop", action="store_true", help="feed the whole 512 px aligned crop instead of MesoNet's own face square")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from forgetalk.train.data import load_split_faces

    sets = {"faces": [(f.crop, f.landmarks) for f in load_split_faces(args.faces, "val")]}
    if args.parsing is not None:
        from forgetalk.train.parsing import load_parsing_split

        sets["parsing"] = [(f.crop, f.landmarks) for f in load_parsing_split(args.parsing, "val")]
    inputs = {k: [c if args.full_crop else mesonet_crop(c, lm) for c, lm in v] for k, v in sets.items()}
    cols = "".join(f"  {k + ' mean p(fake)':>22s}  {k + ' called fake':>18s}" for k in inputs)
    print(f"MesoNet on validation REAL faces ({', '.join(f'{k}: {len(v)}' for k, v in inputs.items())}); lower is better")
    print(f"{'weights':28s}{cols}")
    for name in WEIGHT_FILES:
        model = load_mesonet(args.pretrained / name)
        row = f"{name:28s}"
        for faces in inputs.values():
            p = np.array([mesonet_fake_prob(model, f) for f in faces])
            row += f"  {p.mean():22.3f}  {(p > 0.5).mean():18.1%}"
        print(row)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
