"""Source-balanced host draw: each photo source gets an equal share of the forged hosts.

Why it exists (docs/localizer_history.md, the unpaired AUC): the training faces are about 700 parsing-set
portraits and 200 web photos, and the shipped engine scores untouched small parsing-set faces
above web photos' forgeries. The default (uniform) draw must replay every shipped member's stream.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from forgetalk.engines.localizer.model import LocalizerConfig
from forgetalk.synth import FaceRecord
from forgetalk.synth.samples import public_domain_face
from forgetalk.train import loop
from forgetalk.train.loop import TrainConfig, draw_host, host_draw_error, make_batch, source_groups

TINY = LocalizerConfig(input_size=64, widths=(4, 8, 8, 8))


def _recs(sources: list[str]) -> list[FaceRecord]:
    f = public_domain_face()
    base = FaceRecord.from_crop(f.crop, f.dense_landmarks, 96)
    return [replace(base, source=s) for s in sources]


def test_the_uniform_draw_is_the_stream_every_shipped_member_was_trained_with() -> None:
    a, b = np.random.default_rng(4), np.random.default_rng(4)
    assert [draw_host(900, a) for _ in range(200)] == [int(b.integers(0, 900)) for _ in range(200)]


def test_the_source_draw_gives_each_source_an_equal_share_whatever_their_sizes() -> None:
    recs = _recs(["parsing"] * 90 + ["faces"] * 10)
    groups = source_groups(recs)
    rng = np.random.default_rng(0)
    drawn = [draw_host(len(recs), rng, groups) for _ in range(20000)]
    web = np.mean([recs[i].source == "faces" for i in drawn])
    assert 0.48 < web < 0.52  # uniform would give 0.10
    counts = np.bincount(drawn, minlength=len(recs))
    assert counts[90:].min() > 0.7 * counts[90:].mean() and counts[:90].min() > 0  # uniform within a source


def test_source_groups_do_not_depend_on_the_order_of_the_sources() -> None:
    a = source_groups(_recs(["faces", "parsing", "faces"]))
    b = source_groups(_recs(["parsing", "faces", "faces"]))
    assert [g.tolist() for g in a] == [[0, 2], [1]] and [g.tolist() for g in b] == [[1, 2], [0]]  # "faces" first in both


@pytest.mark.parametrize(("sources", "families", "draw", "message"), [
    (["faces", "parsing"], ("part_swap",), "source", None),
    (["faces", "parsing"], (), "source", "needs family training"),
    (["faces", ""], ("part_swap",), "source", "photo source"),
    (["parsing", "parsing"], ("part_swap",), "source", "two or more photo sources"),
    (["", ""], ("part_swap",), "uniform", None),
    (["faces", "parsing"], ("part_swap",), "sideways", "unknown host draw"),
])
def test_host_draw_errors(sources: list[str], families: tuple[str, ...], draw: str, message: str | None) -> None:
    problem = host_draw_error(TrainConfig(families=families, host_draw=draw), _recs(sources))
    assert problem is None if message is None else message in problem


def test_make_batch_draws_family_hosts_by_source_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch maker passes the source groups to the draw for family pairs, never for a fixed
    ``order`` (the guard batch) and never with the uniform draw."""
    seen: list[object] = []
    real = loop.draw_host

    def spy(n: int, rng: np.random.Generator, groups: list[np.ndarray] | None = None) -> int:
        seen.append(None if groups is None else [g.tolist() for g in groups])
        return real(n, rng, groups)

    monkeypatch.setattr(loop, "draw_host", spy)
    recs = _recs(["parsing", "faces", "parsing"])
    cfg = TrainConfig(seed=1, synth_size=96, model=TINY, families=("region_swap",), host_draw="source")
    make_batch(recs, np.random.default_rng(0), cfg, 4)
    assert seen == [[[1], [0, 2]]] * 2
    seen.clear()
    make_batch(recs, np.random.default_rng(0), replace(cfg, host_draw="uniform"), 4)
    assert seen == [None, None]
    seen.clear()
    make_batch(recs, np.random.default_rng(0), cfg, 4, order=[0, 1])
    assert seen == []


def test_training_records_know_their_source(tmp_path: Path) -> None:
    """From the caches (a part map means the parsing set) and from a bundle (its counts)."""
    from forgetalk.train.bundle import load, pack, record_sources
    from forgetalk.train.loop import build_records

    f = public_domain_face()

    class Web:
        crop, landmarks = f.crop, f.dense_landmarks

    class Parsed(Web):
        parts = np.zeros(f.crop.shape[:2], np.uint8)

    assert [r.source for r in build_records([Web(), Parsed()], 96)] == ["faces", "parsing"]
    pack([Web(), Parsed(), Parsed()], 96, {"counts": {"faces": 1, "parsing": 2}}, tmp_path / "b.npz")
    assert [r.source for r in load(tmp_path / "b.npz").records] == ["faces", "parsing", "parsing"]
    assert record_sources({"counts": {"faces": 2}}, 2) == ["faces", "faces"]
    assert record_sources({"counts": {"faces": 1}}, 3) == ["", "", ""]  # counts that do not add up: unknown, not a guess
    assert record_sources({}, 2) == ["", ""]


def test_the_command_refuses_a_source_draw_over_one_source(tmp_path: Path) -> None:
    """One clear line and exit code 2 before any training step, not a traceback from the loop."""
    from click.testing import CliRunner

    from forgetalk.cli import main
    from forgetalk.train.bundle import pack

    f = public_domain_face()

    class Web:
        crop, landmarks = f.crop, f.dense_landmarks

    pack([Web(), Web()], 96, {"split": "train", "counts": {"faces": 2}}, tmp_path / "b.npz")
    res = CliRunner().invoke(main, ["train", "localizer", "--bundle", str(tmp_path / "b.npz"), "--no-calibrate", "--families", "part_swap",
                                    "--host-draw", "source", "--out", str(tmp_path / "w")], env={"CI": "1"})
    assert res.exit_code == 2, res.output
    assert "two or more photo sources" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "w").exists()
