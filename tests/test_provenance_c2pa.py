"""Content Credentials (C2PA) signed by a certificate the test makes, read offline."""

from __future__ import annotations

from datetime import datetime

import provenance_files as pf
import pytest

from forgetalk.provenance import inspect
from forgetalk.provenance.credentials import OFFLINE, state_of
from forgetalk.provenance.model import C2PA_INVALID, C2PA_NONE, C2PA_UNREADABLE, C2PA_VALID_UNTRUSTED

NOW = datetime(2026, 1, 1)


@pytest.fixture(scope="module")
def pems() -> tuple[bytes, bytes]:
    return pf.make_signer_pems()


@pytest.fixture(scope="module")
def photo() -> bytes:
    return pf.jpeg_bytes(pf.face_image(), quality=88)


def test_valid_manifest_from_an_untrusted_signer_is_not_invalid(pems, photo) -> None:
    r = inspect(pf.c2pa_signed(photo, pems), "JPEG", now=NOW)
    c = r.c2pa
    assert c.present and c.state == C2PA_VALID_UNTRUSTED, c
    assert c.signer == "forgetalk test signer" and c.issuer == "forgetalk tests"
    assert c.claim_generator.startswith("forgetalk-tests") and c.title == "photo.jpg"
    assert [a.action for a in c.actions] == ["c2pa.created"] and not c.ai_generated
    assert all("untrusted" in f for f in c.failures)  # the only failed check is trust, never integrity
    assert "c2pa_invalid" not in r.flags and r.flags == ()
    sentence = next(f.sentence for f in r.findings if f.code == "c2pa_untrusted_signer")
    assert "intact" in sentence and "cannot be confirmed" in sentence and "invalid" not in sentence


def test_tampered_after_signing_is_invalid(pems, photo) -> None:
    r = inspect(pf.tamper_pixels(pf.c2pa_signed(photo, pems)), "JPEG", now=NOW)
    assert r.c2pa.state == C2PA_INVALID
    assert any("dataHash.mismatch" in f for f in r.c2pa.failures)
    assert "c2pa_invalid" in r.flags
    assert "changed after signing" in next(f.sentence for f in r.findings if f.code == "c2pa_invalid")


def test_declared_ai_generated(pems, photo) -> None:
    r = inspect(pf.c2pa_signed(photo, pems, ai_generated=True), "JPEG", now=NOW)
    assert r.c2pa.ai_generated and r.c2pa.state == C2PA_VALID_UNTRUSTED
    assert r.c2pa.actions[0].digital_source_type == pf.AI_SOURCE
    assert "c2pa_ai_generated" in r.flags
    assert "trainedAlgorithmicMedia" in next(f.sentence for f in r.findings if f.code == "c2pa_ai_generated")


def test_broken_c2pa_box_is_a_note(pems, photo) -> None:
    r = inspect(pf.break_c2pa_box(pf.c2pa_signed(photo, pems)), "JPEG", now=NOW)
    assert r.c2pa.present and r.c2pa.state in (C2PA_UNREADABLE, C2PA_INVALID)
    assert r.notes or r.c2pa.failures


def test_no_manifest_never_loads_the_library(photo) -> None:
    r = inspect(photo, "JPEG", now=NOW)
    assert not r.c2pa.present and r.c2pa.state == C2PA_NONE


def test_offline_settings_and_state_mapping() -> None:
    assert OFFLINE["verify"]["remote_manifest_fetch"] is False and OFFLINE["verify"]["ocsp_fetch"] is False
    assert state_of("Valid", ["signingCredential.untrusted: signing certificate untrusted"]) == C2PA_VALID_UNTRUSTED
    assert state_of("Invalid", ["signingCredential.untrusted: x", "assertion.dataHash.mismatch: y"]) == C2PA_INVALID
    assert state_of("Trusted", []) == "trusted"
