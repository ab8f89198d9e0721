"""Combine independently trained localizers into one ensemble file (logits averaged).

Why a file and not several: the engine, both runtimes, the weights manifest and the report
keep handling one localizer (one safetensors, one ONNX graph, one pinned hash each), and the
recipe names every member by its sha256, so what ran is still one verifiable thing. Members
must share the architecture and the data split (a member trained on another split would have
seen the validation or test faces), not the input size (each member is fed the crop at its own);
unlike a weight average (``forgetalk.train.soup``) they
need not come from one lineage. See :class:`~forgetalk.engines.localizer.model.LocalizerEnsemble`
for what was measured.

``python -m forgetalk.train.ensemble A.safetensors B.safetensors [C ...] OUT_DIR`` writes weights,
ONNX, recipe (the first member's split, so ``forgetalk.train.calibrate`` can run on it) and
manifest; calibrate it before use. ``--flip`` also averages every member with its pass on the
mirrored crop (one localizer is then enough). ``python -m forgetalk.train.ensemble --members
ENSEMBLE OUT_DIR`` takes a shipped ensemble apart again (:func:`extract_members`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

#: What a bundle records about the bytes it carries rather than about the split: its hash and
#: how many faces the face stack found in the split's photos, and which (their names' hash).
_BUNDLE_BYTES_KEYS = ("sha256", "counts", "faces", "face_ids_sha256")


def split_identity(split: object) -> object:
    """The part of a recipe's ``split`` that says which photos trained the model: the rule, the
    photo lists and, for a bundle, which split it holds and its parsing rule, not its hash or face
    counts. Why: a bundle rebuilt on another machine (measured: one web photo's face not found,
    188 faces against 189) has another hash but the same split; each member's recipe still
    names its own bundle, and the ensemble's recipe lists them."""
    if not isinstance(split, dict):
        return split
    out = dict(split)
    if isinstance(out.get("bundle"), dict):
        out["bundle"] = {k: v for k, v in out["bundle"].items() if k not in _BUNDLE_BYTES_KEYS}
    return out


def write_ensemble(paths: list[Path], out_dir: Path, flip: bool = False) -> dict[str, object]:
    """Average the localizers at ``paths`` into one network in ``out_dir`` (uncalibrated).

    ``flip``: each member's logits are also averaged with its pass on the mirrored crop
    (``LocalizerConfig.flip_average``); then one localizer is enough (itself and its mirror)."""
    from ..engines.localizer.infer import load_localizer
    from ..engines.localizer.model import build_localizer
    from ..io import sha256_file
    from .loop import DERIVED_RECIPE_KEYS, recipe_beside, write_weights

    if len(paths) < (1 if flip else 2):
        raise ValueError("an ensemble needs at least two localizers, or one with its mirrored pass (flip)")
    nets = [load_localizer(p) for p in paths]
    for p, n in zip(paths, nets, strict=True):
        if n.config.members > 1:
            raise ValueError(f"{p} is an ensemble already: give its members")
    base = replace(nets[0].config, flip_average=False)  # a network given with its flip on is the same network
    for p, n in zip(paths[1:], nets[1:], strict=True):
        if replace(n.config, input_size=base.input_size, flip_average=False) != base:  # frozen dataclasses: field-by-field equality
            raise ValueError(f"{paths[0]} and {p} are different architectures")
    sizes = tuple(n.config.input_size for n in nets)
    if len(set(sizes)) > 1:  # members at their own input sizes; the mask comes out at the largest
        base = replace(base, input_size=max(sizes), members=len(nets), member_sizes=sizes)
    recipes = [recipe_beside(p) for p in paths]
    splits = {json.dumps(split_identity(r.get("split")), sort_keys=True) for r in recipes}
    if len(splits) > 1:
        raise ValueError("the members were trained on different data splits: an ensemble of them would have seen held-out faces")
    model = build_localizer(replace(base, members=len(nets), flip_average=flip))
    prefix = [f"members.{i}." if len(nets) > 1 else "" for i in range(len(nets))]
    model.load_state_dict({prefix[i] + k: v for i, n in enumerate(nets) for k, v in n.state_dict().items()})
    recipe = {k: recipes[0][k] for k in DERIVED_RECIPE_KEYS if k in recipes[0]}
    recipe["command"] = "python -m forgetalk.train.ensemble " + " ".join(str(p) for p in [*paths, out_dir]) + (" --flip" if flip else "")
    recipe["ensemble"] = {
        "combine": "mean of mask and region logits" + (" over each member and its pass on the mirrored crop" if flip else ""),
        "members": [member_entry(p, sha256_file(p), r) for p, r in zip(paths, recipes, strict=True)],
    }
    return write_weights(model.eval(), out_dir, recipe)


def member_entry(path: Path, sha256: str, recipe: dict) -> dict[str, object]:
    """How an ensemble's recipe lists one member: its file and hash, and how it was trained.

    Why the second branch: a member taken out of a shipped ensemble (:func:`extract_members`) has
    no training command of its own beside it, only the ensemble's split and, under
    ``extracted_from.as_trained``, the entry the ensemble listed for it. Rebuilding an ensemble
    from such members must carry that entry forward, or the new recipe loses how its members were
    trained (each would read ``command: null``) and the run could no longer be reproduced.
    """
    source = recipe.get("extracted_from")
    extracted = isinstance(source, dict) and isinstance(source.get("as_trained"), dict)
    trained = source["as_trained"] if extracted else recipe
    split = recipe.get("split")
    bundle = trained.get("bundle") if extracted else (split.get("bundle") if isinstance(split, dict) else None)
    return {"path": str(path), "sha256": sha256, **{k: trained.get(k) for k in ("command", "init", "training")},
            "families": list(trained_families(recipe)),
            **({"bundle": bundle} if bundle is not None else {}),
            **({"extracted_from": {k: source.get(k) for k in ("path", "sha256", "member")}, "as_trained_sha256": trained.get("sha256")} if extracted else {})}


def trained_families(recipe: Mapping[str, object]) -> tuple[str, ...]:
    """Every forgery family the localizer of ``recipe`` was trained on, along its whole lineage:
    its own ``train_config``, the weights it was continued from (``init.previous_recipe``, at any
    depth) and, for an ensemble, every member (a member entry's ``families`` and its lineage).

    Why: an ensemble's ``train_config`` is its first member's, and the calibration drew its
    validation forgeries from that member's families alone. When the first member became v3
    continued on part and region swaps (2026-11-28), the shipped face score, fusion weight and
    region-cue weights were fitted on those two families although every member had been trained
    on all eight (docs/localizer_history.md, "The calibration's families"). Order: the synthesis
    registry's, unknown names after it.
    """
    from ..synth.families import FAMILY_NAMES

    seen: set[str] = set()

    def walk(node: object) -> None:
        if not isinstance(node, Mapping):
            return
        cfg = node.get("train_config")
        if isinstance(cfg, Mapping):
            seen.update(str(f) for f in cfg.get("families") or ())
        seen.update(str(f) for f in node.get("families") or ())
        init = node.get("init")
        if isinstance(init, Mapping):
            walk(init.get("previous_recipe"))
        source = node.get("extracted_from")
        if isinstance(source, Mapping):
            walk(source.get("as_trained"))
        ens = node.get("ensemble")
        for member in (ens.get("members") if isinstance(ens, Mapping) else None) or ():
            walk(member)

    walk(recipe)
    return tuple(f for f in FAMILY_NAMES if f in seen) + tuple(sorted(seen - set(FAMILY_NAMES)))


def extract_members(path: Path, out_dir: Path) -> list[Path]:
    """Write each member of the ensemble at ``path`` as its own localizer, OUT_DIR/member<i>/.

    Why: the members' own files live where they were trained (a lent GPU machine, an ignored
    folder) and are gone a session later; the shipped ensemble holds their exact weights. A member
    taken out (to continue its training, to drop or replace it) is byte-for-byte the network the
    ensemble ran, and its recipe keeps the ensemble's split and names where it came from, so an
    ensemble rebuilt from it passes :func:`write_ensemble`'s same-split check. Its ``train_config``
    (and the seed in the file's metadata) is the ensemble's, that is its first member's: enough for
    the calibration (the families), not the member's own; that member's command is under
    ``extracted_from.as_trained``.
    """
    from ..engines.localizer.infer import load_localizer
    from ..engines.localizer.model import build_localizer
    from ..io import sha256_file
    from .loop import DERIVED_RECIPE_KEYS, recipe_beside, write_weights

    ens = load_localizer(path)
    cfg = ens.config
    if cfg.members < 2:
        raise ValueError(f"{path} is a single localizer, not an ensemble")
    parent = recipe_beside(path)
    listed = (parent.get("ensemble") or {}).get("members") or []  # type: ignore[union-attr]
    state = ens.state_dict()
    out = []
    for i in range(cfg.members):
        member = build_localizer(replace(cfg.member_config(i), flip_average=False))  # the network; --flip is the ensemble's
        prefix = f"members.{i}."
        member.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
        recipe = {k: parent[k] for k in DERIVED_RECIPE_KEYS if k in parent}
        recipe["extracted_from"] = {"path": str(path), "sha256": sha256_file(path), "member": i, **({"as_trained": listed[i]} if i < len(listed) else {})}
        d = Path(out_dir) / f"member{i}"
        write_weights(member.eval(), d, recipe)
        out.append(d / "localizer.safetensors")
    return out


if __name__ == "__main__":  # pragma: no cover - thin command line over write_ensemble and extract_members
    import argparse

    ap = argparse.ArgumentParser(prog="python -m forgetalk.train.ensemble", description="Combine localizers trained on one split into an ensemble (then run forgetalk.train.calibrate on OUT_DIR).")
    ap.add_argument("paths", type=Path, nargs="+", help="two or more localizer.safetensors, then OUT_DIR")
    ap.add_argument("--members", action="store_true", help="the other way: write each member of one ensemble (ENSEMBLE OUT_DIR) as OUT_DIR/member<i>/")
    ap.add_argument("--flip", action="store_true", help="also average each member with its pass on the mirrored crop (then one localizer is enough)")
    args = ap.parse_args()
    if args.members:
        if len(args.paths) != 2 or args.flip:
            ap.error("--members takes ENSEMBLE OUT_DIR (and no --flip)")
        print(json.dumps([str(p) for p in extract_members(args.paths[0], args.paths[1])], indent=1))
    elif len(args.paths) < (2 if args.flip else 3):
        ap.error("give at least two localizers (one with --flip) and OUT_DIR")
    else:
        print(json.dumps(write_ensemble(args.paths[:-1], args.paths[-1], flip=args.flip)["files"], indent=1))
