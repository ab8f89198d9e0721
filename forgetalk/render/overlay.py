"""Pure raster renderers: the photo-sized heatmap overlay and the per-face panel.

Both functions take results in, return a fresh RGB uint8 array out and never touch the
disk, so the same pixels can go into the PNG and the PDF and tests can inspect them.

Design choices an analyst can rely on:

* The heatmap uses matplotlib's *inferno* map (via OpenCV), which is perceptually
  ordered and monotonic in lightness, so "brighter = hotter" holds also when printed in
  grey. It is blended only where heat exceeds :data:`ALPHA_LOW`, so cold pixels show the
  untouched photo rather than a dark tint that could hide detail.
* Face boxes are cyan, a hue inferno never produces, so they cannot be read as heat.
* Text size follows the image size; on tiny images region labels are dropped (the PDF
  table carries them) rather than covering the face.
* Large photos are blended in row bands, so an 8000 px photo costs a bounded amount of
  float memory on top of the output array itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from ..results import Analysis, FaceArtifacts, FaceResult

#: Heat below this is not tinted at all; between LOW and HIGH opacity ramps up linearly.
ALPHA_LOW = 0.15
ALPHA_HIGH = 0.6
#: Maximum opacity of the heat tint, so the photo stays visible under the hottest pixels.
ALPHA_MAX = 0.65
#: How many top-ranked regions get a label next to each face on the overlay.
TOP_REGIONS = 3
#: A face's labels are at most 1/7 of its box width tall ("face 12  score 0.75" is then about
#: 1.7 box widths long), and never under 10 px, the smallest size that stays legible.
FACE_WIDTH_PER_TEXT_PX = 7
MIN_FACE_TEXT_PX = 10
#: A face box shorter than this many lines of MIN_FACE_TEXT_PX text gets no rings and no legend
#: (a box about 80 px tall): the rings and their numbers would cover the face they point into.
RING_MIN_LINES = 4
COLORMAP_NAME = "inferno"
_COLORMAP = cv2.COLORMAP_INFERNO

BOX_RGB = (0, 255, 255)  # cyan: outside inferno's gamut
TEXT_RGB = (255, 255, 255)
TEXT_BG_RGB = (0, 0, 0)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_BAND_ROWS = 512
#: Regions whose outline/label adds clutter without locating anything (they cover the face).
_DIFFUSE_REGIONS = frozenset({"skin"})


def render_params() -> dict[str, object]:
    """The rendering constants, for the JSON sidecar (so the overlay is reproducible)."""
    return {
        "colormap": COLORMAP_NAME,
        "alpha_low": ALPHA_LOW,
        "alpha_high": ALPHA_HIGH,
        "alpha_max": ALPHA_MAX,
        "labelled_regions_per_face": TOP_REGIONS,
        # Listed in a face's legend with their rank, but not ringed (they cover the face).
        "regions_listed_not_ringed": sorted(_DIFFUSE_REGIONS),
        # A face box shorter than this many lines of the smallest face text gets no rings and no legend.
        "ring_min_text_lines": RING_MIN_LINES,
    }


# --------------------------------------------------------------------------- helpers


def as_rgb8(image: np.ndarray) -> np.ndarray:
    """Any HxW / HxWx1 / HxWx3 / HxWx4 array -> contiguous RGB uint8 copy.

    The pipeline already hands over RGB, but renderers must not crash on a grayscale or
    RGBA array passed by a caller or a test.
    """
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = np.clip(np.nan_to_num(arr.astype(np.float32)), 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] >= 4:
        arr = arr[..., :3]
    return np.ascontiguousarray(arr).copy()


def _heat_for(shape_hw: tuple[int, int], heat: np.ndarray | None) -> np.ndarray:
    """Heat as float32 [0,1] with the given shape (resized if a caller got it wrong)."""
    h, w = shape_hw
    if heat is None or np.asarray(heat).size == 0:
        return np.zeros((h, w), np.float32)
    hm = np.asarray(heat, dtype=np.float32)
    if hm.ndim == 3:
        hm = hm[..., 0]
    if hm.shape != (h, w):
        hm = cv2.resize(hm, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(np.nan_to_num(hm, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)


def colorize(heat: np.ndarray) -> np.ndarray:
    """Heat in [0,1] -> inferno RGB uint8."""
    u8 = np.clip(heat * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(u8, _COLORMAP), cv2.COLOR_BGR2RGB)


def heat_alpha(heat: np.ndarray) -> np.ndarray:
    """Per-pixel opacity of the tint: 0 below ALPHA_LOW, ramping to ALPHA_MAX at ALPHA_HIGH."""
    return np.clip((heat - ALPHA_LOW) / (ALPHA_HIGH - ALPHA_LOW), 0.0, 1.0) * ALPHA_MAX


def blend_heat(rgb: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """Alpha-blend the colourised heat into ``rgb`` in place, in row bands; returns ``rgb``."""
    for y0 in range(0, rgb.shape[0], _BAND_ROWS):
        hb = heat[y0 : y0 + _BAND_ROWS]
        if float(hb.max(initial=0.0)) <= ALPHA_LOW:
            continue  # nothing meaningful here; leave the photo untouched
        a = heat_alpha(hb)[..., None]
        band = rgb[y0 : y0 + _BAND_ROWS].astype(np.float32)
        band = band * (1.0 - a) + colorize(hb).astype(np.float32) * a
        rgb[y0 : y0 + _BAND_ROWS] = np.clip(band + 0.5, 0, 255).astype(np.uint8)
    return rgb


@dataclass(frozen=True)
class _Style:
    """Text and line metrics derived from the image size."""

    text_px: int
    scale: float
    thickness: int
    line: int
    pad: int

    @classmethod
    def for_size(cls, h: int, w: int) -> _Style:
        short = min(h, w)
        text_px = int(np.clip(round(short * 0.03), 7, 160))
        (_, base_h), _ = cv2.getTextSize("Ag", _FONT, 1.0, 1)
        scale = text_px / max(base_h, 1)
        thickness = max(1, round(text_px / 14))
        line = max(1, round(short / 350))
        return cls(text_px=text_px, scale=scale, thickness=thickness, line=line, pad=max(1, text_px // 4))

    @property
    def tiny(self) -> bool:
        return self.text_px < 9

    def for_face(self, box_w: float) -> _Style:
        """This style, its text shrunk to suit a face ``box_w`` pixels wide (never grown, never
        below the legible minimum): in a group photo the text sized for the whole image was
        several faces wide, so each face's header covered its neighbours and sat nearer to
        them than to its own face (a hostile test pass, 4 x 4 faces)."""
        px = min(self.text_px, max(MIN_FACE_TEXT_PX, int(box_w) // FACE_WIDTH_PER_TEXT_PX))
        if px == self.text_px:
            return self
        (_, base_h), _ = cv2.getTextSize("Ag", _FONT, 1.0, 1)
        return replace(self, text_px=px, scale=px / max(base_h, 1), thickness=max(1, round(px / 14)), pad=max(1, px // 4))


def _text_size(text: str, st: _Style) -> tuple[int, int, int]:
    (tw, th), base = cv2.getTextSize(text, _FONT, st.scale, st.thickness)
    return tw, th, base


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])


def _free_y(x: int, y: int, bw: int, bh: int, h: int, taken: Sequence[tuple[int, int, int, int]], prefer_down: bool = False) -> int:
    """The in-bounds y nearest to ``y`` where a bw x bh box at x overlaps nothing in ``taken``
    (earlier labels, and the face boxes a caller adds).

    Candidates are the preferred spot and the positions just below / above each taken
    rectangle (with ``prefer_down``, spots below ``y`` win over spots above it); if nothing is
    free the preferred spot is kept (overlap beats losing a label).
    """
    cands = {y}
    for r in taken:
        cands.update((r[3] + 1, r[1] - bh - 1))
    for cy in sorted((c for c in cands if 0 <= c <= h - bh), key=lambda c: (prefer_down and c < y, abs(c - y), c)):
        rect = (x, cy, x + bw, cy + bh)
        if not any(_overlaps(rect, r) for r in taken):
            return cy
    return y


def _draw_label(img: np.ndarray, text: str, x: int, y: int, st: _Style, taken: list[tuple[int, int, int, int]], fg: tuple[int, int, int] = TEXT_RGB,
                prefer_down: bool = False, avoid: Sequence[tuple[int, int, int, int]] = ()) -> None:
    """Draw ``text`` on a dark box with its top-left near (x, y), nudged to avoid earlier labels
    and the ``avoid`` rectangles (face boxes).

    Labels are clamped inside the image so nothing is silently cut off at the border.
    """
    h, w = img.shape[:2]
    tw, th, base = _text_size(text, st)
    bw, bh = tw + 2 * st.pad, th + base + 2 * st.pad
    x = int(np.clip(x, 0, max(0, w - bw)))
    y = int(np.clip(y, 0, max(0, h - bh)))
    y = _free_y(x, y, bw, bh, h, [*taken, *avoid], prefer_down)
    rect = (x, y, x + bw, y + bh)
    taken.append(rect)
    x1, y1 = min(rect[2], w), min(rect[3], h)
    roi = img[y:y1, x:x1]
    if roi.size:
        roi[:] = (roi.astype(np.float32) * 0.35 + np.array(TEXT_BG_RGB, np.float32) * 0.65).astype(np.uint8)
    cv2.putText(img, text, (x + st.pad, y + st.pad + th), _FONT, st.scale, fg, st.thickness, cv2.LINE_AA)


def _outlined_text(img: np.ndarray, text: str, x: int, y: int, st: _Style) -> None:
    """Cyan text with a black outline at top-left (x, y): readable on any heat colour, no box."""
    _, th, _ = _text_size(text, st)
    org = (int(x), int(y) + th)
    cv2.putText(img, text, org, _FONT, st.scale, (0, 0, 0), st.thickness + 2 * max(1, st.thickness), cv2.LINE_AA)
    cv2.putText(img, text, org, _FONT, st.scale, BOX_RGB, st.thickness, cv2.LINE_AA)


def _block_width(lines: list[str], st: _Style) -> int:
    return max((_text_size(t, st)[0] for t in lines), default=0) + 2 * st.pad


def _draw_block(img: np.ndarray, lines: list[str], spots: list[tuple[int, int | None]], st: _Style, taken: list[tuple[int, int, int, int]],
                avoid: Sequence[tuple[int, int, int, int]] = ()) -> None:
    """Stack ``lines`` as labels at the first spot where the whole block fits and is free.

    A spot is a top-left (x, y); y=None means "ending just above the last placed label"
    (the face header). Keeping the block together keeps the ranking readable top-down;
    when no spot is free the first one is used with per-label nudging.
    """
    if not lines:
        return
    h, w = img.shape[:2]
    sizes = [_text_size(t, st) for t in lines]
    bw = _block_width(lines, st)
    lh = max(th + base for _, th, base in sizes) + 2 * st.pad + 1
    bh = lh * len(lines)
    chosen: tuple[int, int] | None = None
    for x, y in spots:
        if y is None:
            y = (taken[-1][1] if taken else 0) - bh - 1
        if x < 0 or y < 0 or x + bw > w or y + bh > h:
            continue
        if not any(_overlaps((x, y, x + bw, y + bh), r) for r in [*taken, *avoid]):
            chosen = (x, y)
            break
    if chosen is None:
        x0, y0 = spots[0]
        for i, text in enumerate(lines):
            _draw_label(img, text, x0, (y0 or 0) + i * lh, st, taken, prefer_down=True, avoid=avoid)
        return
    x, y = chosen
    for i, text in enumerate(lines):
        _draw_label(img, text, x, y + i * lh, st, taken)


def mask_centroid(mask: np.ndarray) -> tuple[float, float] | None:
    """(x, y) centroid of a boolean mask in its own (crop) coordinates; None when empty."""
    m = np.asarray(mask)
    if m.size == 0:
        return None
    mom = cv2.moments(m.astype(np.uint8), binaryImage=True)
    if mom["m00"] <= 0:
        return None
    return mom["m10"] / mom["m00"], mom["m01"] / mom["m00"]


def region_anchor(mask: np.ndarray, heat: np.ndarray | None = None) -> tuple[float, float] | None:
    """Where to pin a region's label, in crop coordinates.

    The mask centroid, when it lies inside the region. For ring- or crescent-shaped
    regions (face boundary, hair, jaw) the centroid falls outside them, e.g. on the nose;
    then the hottest pixel of the region is used, or failing heat, the region pixel
    closest to the centroid, so a marker always sits on the region it names.
    """
    c = mask_centroid(mask)
    if c is None:
        return None
    m = np.asarray(mask).astype(bool)
    cx, cy = int(round(c[0])), int(round(c[1]))
    if 0 <= cy < m.shape[0] and 0 <= cx < m.shape[1] and m[cy, cx]:
        return c
    ys, xs = np.nonzero(m)
    if heat is not None and np.asarray(heat).shape[:2] == m.shape:
        k = int(np.argmax(np.asarray(heat)[ys, xs]))
    else:
        k = int(np.argmin((xs - c[0]) ** 2 + (ys - c[1]) ** 2))
    return float(xs[k]), float(ys[k])


def crop_to_photo(point: tuple[float, float], inverse: np.ndarray) -> tuple[float, float]:
    """Map a crop-space point through the 2x3 crop->photo affine."""
    m = np.asarray(inverse, dtype=np.float64).reshape(2, 3)
    x, y = point
    return float(m[0, 0] * x + m[0, 1] * y + m[0, 2]), float(m[1, 0] * x + m[1, 1] * y + m[1, 2])


def _labelled_regions(face: FaceResult, k: int) -> list:
    """The face's top ``k`` regions, exactly the ranks 1..k that page 1 and the table list (a
    diffuse region among them is listed in the legend but gets no ring: see :func:`_legend_line`).

    Why not skip the diffuse ones: the overlay then ringed "1. nose, 3. left cheek, 4. right cheek"
    beside a page-1 list "1 nose, 2 facial skin, 3 left cheek", under a caption saying the rings are
    numbered as in the list."""
    return list(face.regions[:k])


def _legend_line(region, ringed: bool) -> str:  # noqa: ANN001 - a RegionResult
    value = f"{100 * region.suspicion:.0f}%" if region.suspicion is not None else f"{region.saliency:.2f}"
    if ringed:
        return f"{region.rank}. {region.label} {value}"
    # Short: a longer legend line fits fewer free spots beside the face box.
    return f"{region.rank}. {region.label} {value} ({'not ringed' if region.name in _DIFFUSE_REGIONS else 'not located'})"


def _ring_room(box: Sequence[float], st: _Style) -> bool:
    """Whether a face box is tall enough for rings: at least :data:`RING_MIN_LINES` lines of the
    smallest text a face gets (:data:`MIN_FACE_TEXT_PX`: a box about 80 px tall), on a photo not so small that
    its text is dropped. The bound was once 4 lines of the face's own text, which grows with the box
    width: a square box of any size then failed it (a 400 px face on a 6000 px photo had no rings)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    small = st.for_face(0)  # the face text floor (or the photo's own text, when that is smaller)
    _, th, base = _text_size("face 0  score 0.00", small)
    return not st.tiny and (y2 - y1) >= RING_MIN_LINES * (th + base + 2 * small.pad)


def faces_without_rings(analysis: Analysis) -> tuple[int, ...]:
    """Face numbers (1-based, as on the overlay) that :func:`render_overlay` draws with a box and a
    header only, no numbered rings and no region legend: the face is too small in the photo (or the
    photo too small) for legible text. A caption that promises rings should name them."""
    st = _Style.for_size(*np.asarray(analysis.image).shape[:2])
    return tuple(f.index + 1 for i, f in enumerate(analysis.report.faces)
                 if f.regions and (i >= len(analysis.faces) or not _ring_room(f.box, st)))


#: Narrowest image (px) that gets a heat legend: the bar needs a few columns and a pixel of margin.
LEGEND_MIN_PX = 10


def _draw_colorbar(img: np.ndarray, st: _Style, taken: list[tuple[int, int, int, int]], caption: str = "heat (saliency)") -> None:
    """Horizontal inferno bar, bottom-left, with 0 / 1 ticks: the legend for the tint.

    None on an image too small to hold one (under ``LEGEND_MIN_PX`` wide, or not a pixel taller
    than the bar): a 2 x 2 photo left the bar no columns, and cv2 crashed the process (SIGFPE) on
    the empty gradient."""
    h, w = img.shape[:2]
    bar_w = int(min(max(w * 0.28, 16), w - 2))
    bar_h = max(3, int(st.text_px * 0.7))
    if w < LEGEND_MIN_PX or h < bar_h + 2:
        return
    if st.tiny:
        x0, y0 = 1, h - bar_h - 1
        img[y0 : y0 + bar_h, x0 : x0 + bar_w] = colorize(np.tile(np.linspace(0, 1, bar_w, dtype=np.float32), (bar_h, 1)))
        return
    pad = st.pad
    tw0, th, base = _text_size("0", st)
    tw1, _, _ = _text_size("1", st)
    twc, _, _ = _text_size(caption, st)
    panel_w = min(w, max(bar_w + tw0 + tw1 + 4 * pad, twc + 2 * pad))
    bar_w = max(8, min(bar_w, panel_w - tw0 - tw1 - 4 * pad))
    panel_h = th + base + bar_h + 3 * pad
    x0, y0 = 0, max(0, h - panel_h)
    roi = img[y0:h, x0 : x0 + panel_w]
    roi[:] = (roi.astype(np.float32) * 0.3).astype(np.uint8)
    cv2.putText(img, caption, (x0 + pad, y0 + pad + th), _FONT, st.scale, TEXT_RGB, st.thickness, cv2.LINE_AA)
    by = y0 + th + base + 2 * pad
    bx = x0 + pad + tw0 + pad
    grad = np.tile(np.linspace(0, 1, bar_w, dtype=np.float32), (bar_h, 1))
    img[by : by + bar_h, bx : bx + bar_w] = colorize(grad)[: max(0, min(bar_h, h - by)), : max(0, min(bar_w, w - bx))]
    cv2.putText(img, "0", (x0 + pad, by + bar_h), _FONT, st.scale, TEXT_RGB, st.thickness, cv2.LINE_AA)
    cv2.putText(img, "1", (bx + bar_w + pad, by + bar_h), _FONT, st.scale, TEXT_RGB, st.thickness, cv2.LINE_AA)
    # Mark ALPHA_LOW: heat below it is deliberately left untinted.
    tx = bx + int(ALPHA_LOW * (bar_w - 1))
    cv2.line(img, (tx, by), (tx, by + bar_h - 1), TEXT_RGB, 1)
    taken.append((x0, y0, x0 + panel_w, h))


# --------------------------------------------------------------------------- overlay


def render_overlay(analysis: Analysis) -> np.ndarray:
    """The photo with heat tint, face boxes, face numbers, top region labels and a legend.

    Same height and width as ``analysis.image``; RGB uint8. Face numbers are 1-based
    (``FaceResult.index + 1``), matching the CLI summary and the PDF.
    """
    return _render_overlay(analysis)[0]


def _render_overlay(analysis: Analysis) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """:func:`render_overlay`'s image and where each face's header landed (x0, y0, x1, y1), in
    face order, so a test can check that a header sits by its own face and on no other."""
    headers: list[tuple[int, int, int, int]] = []
    out = as_rgb8(analysis.image)
    h, w = out.shape[:2]
    heat = _heat_for((h, w), analysis.heatmap)
    blend_heat(out, heat)
    st = _Style.for_size(h, w)
    taken: list[tuple[int, int, int, int]] = []
    _draw_colorbar(out, st, taken)

    faces = analysis.report.faces
    # Label blocks must not cover any face, so every box (plus its line) is off limits to them.
    boxes = [(int(f.box[0]) - st.line, int(f.box[1]) - st.line, int(f.box[2]) + st.line + 1, int(f.box[3]) + st.line + 1) for f in faces]
    for face in faces:  # every box first: a label placed later must see all of them
        x1, y1, x2, y2 = (int(round(v)) for v in face.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), BOX_RGB, st.line, cv2.LINE_AA)
    for i, face in enumerate(faces):
        x1, y1, x2, y2 = (int(round(v)) for v in face.box)
        fst = st.for_face(x2 - x1)  # text sized to this face, so it stays next to it in a group photo
        header = f"{face.index + 1}" if st.tiny else f"face {face.index + 1}  score {face.score:.2f}"
        _, th, base = _text_size(header, fst)
        hy = y1 - th - base - 2 * fst.pad - st.line
        others = [b for j, b in enumerate(boxes) if j != i]
        _draw_label(out, header, x1, hy if hy >= 0 else y1 + st.line, fst, taken, fg=BOX_RGB, avoid=others)
        headers.append(taken[-1])
        art = analysis.faces[i] if i < len(analysis.faces) else None
        if art is None or not _ring_room(face.box, st):
            continue  # too small to label legibly (faces_without_rings names it); the PDF table has the ranking
        # Numbered rings at the region centroids (mapped crop -> photo), and the legend
        # "rank. label saliency" stacked under the box, so text never hides the heat itself.
        # The legend lists the same top ranks as page 1; a region without a ring says so.
        lines: list[str] = []
        for region in _labelled_regions(face, TOP_REGIONS):
            mask = art.regions.get(region.name) if art.regions and region.name not in _DIFFUSE_REGIONS else None
            c = region_anchor(mask, art.heatmap) if mask is not None else None
            if c is None:
                lines.append(_legend_line(region, ringed=False))
                continue
            px, py = (int(round(v)) for v in crop_to_photo(c, art.inverse))
            r = max(3, fst.text_px // 3)
            cv2.circle(out, (px, py), r, (0, 0, 0), st.line + 2, cv2.LINE_AA)
            cv2.circle(out, (px, py), r, BOX_RGB, st.line, cv2.LINE_AA)
            _outlined_text(out, str(region.rank), px + r + fst.pad, py - r, fst)
            lines.append(_legend_line(region, ringed=True))
        below = y2 + st.line + 1
        bw = _block_width(lines, fst)
        spots = [(x1, below), (x2 - bw, below), (x2 + st.line + 1, y1), (x1 - bw - st.line - 1, y1), (x1, None)]
        _draw_block(out, lines, spots, fst, taken, avoid=boxes)

    if not faces and not st.tiny:
        _draw_label(out, "no face found", 0, 0, st, taken)
    return out, headers


# --------------------------------------------------------------------------- thumbnail


def face_thumbnail(crop: np.ndarray, heatmap: np.ndarray, size: int = 192) -> np.ndarray:
    """Aligned face crop with its heat blended in exactly as on the overlay (same colour map,
    same untinted cold pixels), downscaled to ``size`` x ``size``: the scan index thumbnail."""
    rgb = as_rgb8(crop)
    blend_heat(rgb, _heat_for(rgb.shape[:2], heatmap))
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)


# --------------------------------------------------------------------------- face panel


def _outline(img: np.ndarray, mask: np.ndarray, color: tuple[int, int, int], thickness: int) -> None:
    m = np.asarray(mask).astype(np.uint8)
    if m.shape[:2] != img.shape[:2]:
        m = cv2.resize(m, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(img, contours, -1, color, thickness, cv2.LINE_AA)


def render_face_panel(face_artifacts: FaceArtifacts, face_result: FaceResult, numbered: int = 5) -> np.ndarray:
    """Aligned crop (left) and heat over a dimmed grey crop (right) with region outlines.

    The right half uses a grey, dimmed background and full-range colour so weak heat is
    still visible; the ``numbered`` top regions are outlined in cyan and numbered with
    their rank (the PDF table next to it maps rank -> region), the rest in thin grey.
    """
    crop = as_rgb8(face_artifacts.crop)
    h, w = crop.shape[:2]
    heat = _heat_for((h, w), face_artifacts.heatmap)
    grey = cv2.cvtColor(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB).astype(np.float32) * 0.55
    a = np.clip(heat / ALPHA_HIGH, 0.0, 1.0)[..., None] * 0.85
    right = np.clip(grey * (1 - a) + colorize(heat).astype(np.float32) * a + 0.5, 0, 255).astype(np.uint8)

    st = _Style.for_size(h, w)
    regions = face_artifacts.regions or {}
    ranked: Sequence = [r for r in face_result.regions if r.name not in _DIFFUSE_REGIONS]
    top = {r.name for r in ranked[:numbered]}
    for r in ranked:
        if r.name in regions and r.name not in top:
            _outline(right, regions[r.name], (150, 150, 150), 1)
    taken: list[tuple[int, int, int, int]] = []
    for r in ranked[:numbered]:
        if r.name not in regions:
            continue
        _outline(right, regions[r.name], BOX_RGB, max(1, st.line + 1))
        c = region_anchor(regions[r.name], heat)
        if c is not None:
            tw, th, _ = _text_size(str(r.rank), st)
            _draw_label(right, str(r.rank), int(c[0] - tw / 2), int(c[1] - th / 2), st, taken, fg=BOX_RGB)

    gap = max(2, w // 64)
    strip_h = max(12, int(st.text_px * 3.2))
    panel = np.full((h + strip_h, 2 * w + gap, 3), 255, np.uint8)
    panel[:h, :w] = crop
    panel[:h, w + gap :] = right
    strip = np.zeros((strip_h, 2 * w + gap, 3), np.uint8)
    _draw_colorbar(strip, _Style.for_size(max(strip_h * 8, h), w), [], caption="heat (0 = none, 1 = maximum)")
    panel[h:] = strip
    return panel
