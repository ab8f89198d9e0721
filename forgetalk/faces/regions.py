"""Region masks in the aligned crop, from dense landmarks or, as a fallback, 5 points.

Pure functions: landmark arrays in, boolean masks out. MediaPipe FaceMesh index groups are
written out here (they are constants of the published topology) so that training code and
tests can build masks without importing mediapipe.
"""

from __future__ import annotations

import cv2
import numpy as np

from .base import CROP_SIZE, REGION_NAMES, SKIN_AREAS

# MediaPipe FaceMesh topology (478 points with iris). "LEFT" = the subject's left.
MESH_LEFT_EYE = [249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466]
MESH_RIGHT_EYE = [7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246]
MESH_LEFT_BROW = [276, 282, 283, 285, 293, 295, 296, 300, 334, 336]
MESH_RIGHT_BROW = [46, 52, 53, 55, 63, 65, 66, 70, 105, 107]
MESH_NOSE = [1, 2, 4, 5, 6, 19, 45, 48, 64, 94, 97, 98, 115, 168, 195, 197, 220, 275, 278, 294, 326, 327, 344, 440]
MESH_LIPS = [0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191,
             267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415]
MESH_OVAL_PATH = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
                  152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]
MESH_CHIN = 152
MESH_FOREHEAD_TOP = 10


def _hull_mask(points: np.ndarray, size: int) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    hull = cv2.convexHull(np.round(points).astype(np.int32).reshape(-1, 1, 2))
    cv2.fillConvexPoly(mask, hull, 1)
    return mask.astype(bool)


def _poly_mask(points: np.ndarray, size: int) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32).reshape(-1, 1, 2)], 1)
    return mask.astype(bool)


def _dilate(mask: np.ndarray, px: int) -> np.ndarray:
    if px <= 0:
        return mask
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(mask.astype(np.uint8), k).astype(bool)


def _erode(mask: np.ndarray, px: int) -> np.ndarray:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.erode(mask.astype(np.uint8), k).astype(bool)


def _split_regions(
    size: int,
    oval: np.ndarray,
    left_eye: np.ndarray,
    right_eye: np.ndarray,
    left_brow: np.ndarray,
    right_brow: np.ndarray,
    nose: np.ndarray,
    mouth: np.ndarray,
    face_scale: float,
) -> dict[str, np.ndarray]:
    """Derive cheeks, forehead, chin/jaw, boundary band and skin from the organ masks.

    The organs are dilated slightly so that a pasted organ's blending margin is counted
    inside the organ, which is where an analyst would look for it.
    """
    pad = max(2, int(round(face_scale * 0.025)))
    organs = {
        "left_eye": _dilate(left_eye, pad) & oval,
        "right_eye": _dilate(right_eye, pad) & oval,
        "left_brow": _dilate(left_brow, pad) & oval,
        "right_brow": _dilate(right_brow, pad) & oval,
        "nose": _dilate(nose, pad // 2) & oval,
        "mouth": _dilate(mouth, pad) & oval,
    }
    yy, xx = np.mgrid[0:size, 0:size]
    brow_any = organs["left_brow"] | organs["right_brow"]
    brow_top = yy[brow_any].min() if brow_any.any() else int(size * 0.40)
    eye_any = organs["left_eye"] | organs["right_eye"]
    eye_bottom = yy[eye_any].max() if eye_any.any() else int(size * 0.50)
    mouth_ys = yy[organs["mouth"]]
    mouth_mid = int(np.median(mouth_ys)) if mouth_ys.size else int(size * 0.72)
    nose_xs = xx[organs["nose"]]
    nose_left_x = nose_xs.min() if nose_xs.size else size // 2 - 20
    nose_right_x = nose_xs.max() if nose_xs.size else size // 2 + 20
    organ_union = np.zeros((size, size), bool)
    for m in organs.values():
        organ_union |= m

    band = max(3, int(round(face_scale * 0.045)))
    boundary = _dilate(oval, band // 2) & ~_erode(oval, band)
    inner = oval & ~boundary

    forehead = inner & (yy < brow_top) & ~organ_union
    # The subject's left cheek is on the image's right side of the nose.
    cheek_band = inner & (yy > eye_bottom) & (yy < mouth_mid) & ~organ_union
    left_cheek = cheek_band & (xx > nose_right_x)
    right_cheek = cheek_band & (xx < nose_left_x)
    chin_jaw = inner & (yy >= mouth_mid) & ~organ_union
    skin = oval & ~(organs["left_eye"] | organs["right_eye"] | organs["left_brow"] | organs["right_brow"] | organs["mouth"])

    out = dict(organs)
    out.update(
        left_cheek=left_cheek,
        right_cheek=right_cheek,
        forehead=forehead,
        chin_jaw=chin_jaw,
        face_boundary=boundary,
        skin=skin,
    )
    return {k: out[k] for k in REGION_NAMES if k in out}


def regions_from_mesh(points: np.ndarray, size: int = CROP_SIZE) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Region masks and face oval from 468/478 FaceMesh points in crop pixel coordinates."""
    pts = np.asarray(points, dtype=np.float32)[:, :2]
    oval_pts = pts[MESH_OVAL_PATH]
    oval = _poly_mask(oval_pts, size)
    face_scale = float(np.linalg.norm(pts[MESH_CHIN] - pts[MESH_FOREHEAD_TOP]))
    regions = _split_regions(
        size,
        oval,
        _hull_mask(pts[MESH_LEFT_EYE], size),
        _hull_mask(pts[MESH_RIGHT_EYE], size),
        _hull_mask(pts[MESH_LEFT_BROW], size),
        _hull_mask(pts[MESH_RIGHT_BROW], size),
        _hull_mask(pts[MESH_NOSE], size),
        _hull_mask(pts[MESH_LIPS], size),
        face_scale,
    )
    return regions, oval


def _ellipse(size: int, center: tuple[float, float], axes: tuple[float, float]) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    cv2.ellipse(mask, (int(round(center[0])), int(round(center[1]))), (max(1, int(axes[0])), max(1, int(axes[1]))), 0, 0, 360, 1, -1)
    return mask.astype(bool)


def regions_from_5pts(lm5_crop: np.ndarray, size: int = CROP_SIZE) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Coarse geometric regions when dense landmarks are unavailable (tiny or profile faces).

    Shapes are proportions of the inter-ocular distance measured on FFHQ-aligned faces;
    the report flags faces that used this fallback.
    """
    p = np.asarray(lm5_crop, dtype=np.float32).reshape(5, 2)
    eye_img_left, eye_img_right, nose_tip, mouth_l, mouth_r = p
    iod = float(np.linalg.norm(eye_img_right - eye_img_left))
    eye_mid = (eye_img_left + eye_img_right) / 2
    mouth_mid = (mouth_l + mouth_r) / 2
    center = (eye_mid + mouth_mid) / 2
    oval = _ellipse(size, (center[0], center[1] - 0.15 * iod), (0.95 * iod, 1.35 * iod))
    # image-left eye is the subject's right eye
    right_eye = _ellipse(size, tuple(eye_img_left), (0.28 * iod, 0.13 * iod))
    left_eye = _ellipse(size, tuple(eye_img_right), (0.28 * iod, 0.13 * iod))
    right_brow = _ellipse(size, (eye_img_left[0], eye_img_left[1] - 0.32 * iod), (0.33 * iod, 0.09 * iod))
    left_brow = _ellipse(size, (eye_img_right[0], eye_img_right[1] - 0.32 * iod), (0.33 * iod, 0.09 * iod))
    nose = _ellipse(size, ((eye_mid[0] + nose_tip[0]) / 2, (eye_mid[1] + nose_tip[1]) / 2 + 0.1 * iod), (0.2 * iod, 0.45 * iod))
    mouth_w = float(np.linalg.norm(mouth_r - mouth_l))
    mouth = _ellipse(size, tuple(mouth_mid), (0.6 * mouth_w + 2, 0.22 * iod + 2))
    regions = _split_regions(size, oval, left_eye, right_eye, left_brow, right_brow, nose, mouth, 2.7 * iod)
    return regions, oval


# --- Face parsing (BiSeNet / ParseNet, CelebAMask-HQ vocabulary) ------------------------------

#: BiSeNet (facexlib parsing_bisenet.pth, face-parsing.PyTorch) class ids.
BISENET_CLASSES: dict[str, int] = {
    "background": 0, "skin": 1, "l_brow": 2, "r_brow": 3, "l_eye": 4, "r_eye": 5, "eye_g": 6, "l_ear": 7, "r_ear": 8, "ear_r": 9,
    "nose": 10, "mouth": 11, "u_lip": 12, "l_lip": 13, "neck": 14, "neck_l": 15, "cloth": 16, "hair": 17, "hat": 18,
}  # fmt: skip
#: ParseNet (facexlib parsing_parsenet.pth) class ids: CelebAMask-HQ's own order.
PARSENET_CLASSES: dict[str, int] = {
    "background": 0, "skin": 1, "nose": 2, "eye_g": 3, "l_eye": 4, "r_eye": 5, "l_brow": 6, "r_brow": 7, "l_ear": 8, "r_ear": 9,
    "mouth": 10, "u_lip": 11, "l_lip": 12, "hair": 13, "hat": 14, "ear_r": 15, "neck_l": 16, "neck": 17, "cloth": 18,
}  # fmt: skip

#: Parsing classes that make up the face proper (the oval); ears, neck, hair and hat are outside it.
_FACE_CLASSES = ("skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "nose", "mouth", "u_lip", "l_lip")


def _classes_mask(label_map: np.ndarray, classes: dict[str, int], names: tuple[str, ...]) -> np.ndarray:
    return np.isin(label_map, [classes[n] for n in names])


def _filled_component_at(mask: np.ndarray, point: np.ndarray) -> np.ndarray:
    """The connected component of ``mask`` nearest ``point``, with its holes filled.

    The face oval must be one solid region: eyes closed by glasses or a beard parsed as
    background would otherwise punch holes in it, and a stray skin blob (a hand, another
    face) would be counted as this face.
    """
    m = mask.astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n <= 1:
        return mask.astype(bool)
    h, w = mask.shape
    px, py = int(np.clip(round(float(point[0])), 0, w - 1)), int(np.clip(round(float(point[1])), 0, h - 1))
    pick = int(labels[py, px])
    if pick == 0:  # the point itself is not face: take the component closest to it
        ys, xs = np.nonzero(labels)
        k = int(np.argmin((xs - px) ** 2 + (ys - py) ** 2))
        pick = int(labels[ys[k], xs[k]])
    comp = (labels == pick).astype(np.uint8)
    contours, _ = cv2.findContours(comp, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros_like(comp)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool)


def parsing_face_fraction(label_map: np.ndarray, lm5_crop: np.ndarray, classes: dict[str, int] = BISENET_CLASSES) -> float:
    """Parsed face area relative to the 5-point geometric oval: ~1 for a good parse, ~0 for a failed one."""
    _, ref_oval = regions_from_5pts(lm5_crop, label_map.shape[0])
    face = _classes_mask(label_map, classes, _FACE_CLASSES)
    return float((face & ref_oval).sum()) / max(1.0, float(ref_oval.sum()))


def regions_from_parsing(
    label_map: np.ndarray,
    lm5_crop: np.ndarray,
    size: int = CROP_SIZE,
    classes: dict[str, int] = BISENET_CLASSES,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Region masks and face oval from a per-pixel parsing label map of the aligned crop.

    Organs (eyes, brows, nose, mouth incl. lips), skin and hair come from the parser; cheeks,
    forehead, chin/jaw and the boundary band have no parsing class and are cut out of the
    face with the same geometric split as the landmark path (:func:`_split_regions`), then
    restricted to parsed skin so that hair fringes, glasses or hands are not called skin.
    Left/right are assigned by position relative to the eye midline from ``lm5_crop`` (the
    subject's left is on the image's right) rather than trusted from the class names, whose
    side convention differs between datasets.
    """
    lab = np.asarray(label_map)
    if lab.shape != (size, size):
        raise ValueError(f"label map must be ({size}, {size}), got {lab.shape}")
    p = np.asarray(lm5_crop, dtype=np.float32).reshape(5, 2)
    iod = float(np.linalg.norm(p[1] - p[0]))
    mid_x = float(p[0, 0] + p[1, 0]) / 2
    _, xx = np.mgrid[0:size, 0:size]
    image_right = xx >= mid_x

    eyes = _classes_mask(lab, classes, ("l_eye", "r_eye"))
    brows = _classes_mask(lab, classes, ("l_brow", "r_brow"))
    nose = _classes_mask(lab, classes, ("nose",))
    mouth = _classes_mask(lab, classes, ("mouth", "u_lip", "l_lip"))
    skin_px = _classes_mask(lab, classes, ("skin", "nose"))
    hair = _classes_mask(lab, classes, ("hair",))

    center = (p[:2].mean(0) + p[3:].mean(0)) / 2
    oval = _filled_component_at(_classes_mask(lab, classes, _FACE_CLASSES), center)
    regions = _split_regions(
        size,
        oval,
        eyes & image_right,
        eyes & ~image_right,
        brows & image_right,
        brows & ~image_right,
        nose,
        mouth,
        2.7 * max(iod, 1.0),
    )
    # Close pinholes in the parse (specular highlights, stubble) before restricting to skin.
    skin_ok = _dilate(skin_px, 2)
    for name in SKIN_AREAS:
        regions[name] = regions[name] & skin_ok
    organs = regions["left_eye"] | regions["right_eye"] | regions["left_brow"] | regions["right_brow"] | regions["mouth"]
    regions["skin"] = skin_px & oval & ~organs
    regions["hair"] = hair
    return {k: regions[k] for k in REGION_NAMES if k in regions}, oval
