"""Content Credentials (C2PA): manifest, validation state, generator, actions, ingredients.

Owns the use of the ``c2pa-python`` library, offline: remote manifests and OCSP are never
fetched and no trust list is loaded, so a manifest whose signature and hashes check out is
reported as "untrusted signer" (who signed cannot be confirmed offline), never as
"invalid"; "invalid" means a hash or signature check failed. The library (and its 100 ms
import) is loaded only when the bytes carry a JUMBF/C2PA box. Anything the library cannot
read is the state "unreadable" plus a note, never an exception.
"""

from __future__ import annotations

import io
import json
from typing import Any

from .model import (
    C2PA_INVALID,
    C2PA_TRUSTED,
    C2PA_UNREADABLE,
    C2PA_VALID_UNTRUSTED,
    C2paAction,
    C2paInfo,
    clip,
)

MIME = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "TIFF": "image/tiff",
        "HEIF": "image/heic", "AVIF": "image/avif", "GIF": "image/gif"}
#: Settings for every read: nothing leaves the machine.
OFFLINE = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
#: Failure codes that concern trust in the signer, not the integrity of the file.
TRUST_CODES = frozenset({"signingCredential.untrusted"})
AI_SOURCE_TYPES = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia")


def has_manifest_bytes(data: bytes) -> bool:
    """Cheap pre-check: a C2PA manifest store is a JUMBF box labelled ``c2pa``."""
    return b"jumb" in data and b"c2pa" in data


def _generator(m: dict[str, Any]) -> str | None:
    if isinstance(m.get("claim_generator"), str):
        return clip(m["claim_generator"], 200)
    infos = m.get("claim_generator_info")
    if isinstance(infos, list) and infos and isinstance(infos[0], dict):
        g = infos[0]
        return clip(" ".join(str(x) for x in (g.get("name"), g.get("version")) if x), 200) or None
    return None


def _actions(m: dict[str, Any]) -> list[C2paAction]:
    out: list[C2paAction] = []
    for a in m.get("assertions") or []:
        if not isinstance(a, dict) or not str(a.get("label", "")).startswith("c2pa.actions"):
            continue
        for act in (a.get("data") or {}).get("actions") or []:
            if not isinstance(act, dict):
                continue
            agent = act.get("softwareAgent")
            if isinstance(agent, dict):
                agent = " ".join(str(x) for x in (agent.get("name"), agent.get("version")) if x)
            out.append(C2paAction(action=clip(str(act.get("action", "?")), 100),
                                  digital_source_type=(clip(str(act["digitalSourceType"]), 200) if act.get("digitalSourceType") else None),
                                  software_agent=clip(str(agent), 200) if agent else None,
                                  when=clip(str(act["when"]), 64) if act.get("when") else None))
    return out


def _failures(store: dict[str, Any]) -> list[str]:
    codes: list[str] = []
    results = store.get("validation_results")
    if isinstance(results, dict):
        active = results.get("activeManifest") or {}
        for item in active.get("failure") or []:
            codes.append(f"{item.get('code')}: {item.get('explanation', '')}".strip(": "))
        for delta in results.get("ingredientDeltas") or []:
            for item in ((delta.get("validationDeltas") or {}).get("failure") or []):
                codes.append(f"ingredient {item.get('code')}: {item.get('explanation', '')}".strip(": "))
    elif isinstance(store.get("validation_status"), list):
        for item in store["validation_status"]:
            codes.append(f"{item.get('code')}: {item.get('explanation', '')}".strip(": "))
    return codes


def state_of(validation_state: str | None, failures: list[str]) -> str:
    """Our state from the library's word and the failure codes (trust is not integrity)."""
    if (validation_state or "").lower() == "trusted":
        return C2PA_TRUSTED
    integrity = [f for f in failures if f.split(":", 1)[0].removeprefix("ingredient ") not in TRUST_CODES]
    if integrity or (validation_state or "").lower() == "invalid":
        return C2PA_INVALID
    return C2PA_VALID_UNTRUSTED


def read_c2pa(data: bytes, fmt: str, notes: list[str]) -> C2paInfo:
    if not has_manifest_bytes(data):
        return C2paInfo()
    mime = MIME.get(fmt)
    if mime is None:
        notes.append(f"C2PA-like data found, but Content Credentials are not read for {fmt} files")
        return C2paInfo(present=True, state=C2PA_UNREADABLE)
    try:
        import c2pa

        ctx = c2pa.Context.from_dict(OFFLINE)
        reader = c2pa.Reader.try_create(mime, io.BytesIO(data), None, ctx)
        if reader is None:  # JUMBF/C2PA bytes are there, but no manifest store can be parsed from them
            notes.append("Content Credentials (C2PA) data present but no manifest could be read from it (damaged box)")
            return C2paInfo(present=True, state=C2PA_UNREADABLE)
        with reader:
            store = json.loads(reader.json())
            vstate = reader.get_validation_state()
    except Exception as exc:  # noqa: BLE001 - a broken manifest is a finding, never a crash
        msg = str(exc).splitlines()[0][:200] if str(exc) else exc.__class__.__name__
        notes.append(f"Content Credentials (C2PA) box present but unreadable ({msg})")
        return C2paInfo(present=True, state=C2PA_UNREADABLE)
    manifests = store.get("manifests") or {}
    active = manifests.get(store.get("active_manifest") or "", {}) if isinstance(manifests, dict) else {}
    sig = active.get("signature_info") or {}
    actions = _actions(active)
    failures = _failures(store)
    ingredients = tuple(clip(str(i.get("title") or i.get("instance_id") or "?"), 200) for i in active.get("ingredients") or [] if isinstance(i, dict))
    ai = any(a.digital_source_type and a.digital_source_type.rsplit("/", 1)[-1] in AI_SOURCE_TYPES for a in actions)
    return C2paInfo(
        present=True,
        state=state_of(vstate, failures),
        validation_state=vstate,
        manifests=len(manifests) if isinstance(manifests, dict) else 0,
        claim_generator=_generator(active),
        title=clip(str(active["title"]), 200) if active.get("title") else None,
        signer=clip(str(sig["common_name"]), 200) if sig.get("common_name") else None,
        issuer=clip(str(sig["issuer"]), 200) if sig.get("issuer") else None,
        signed_at=clip(str(sig["time"]), 64) if sig.get("time") else None,
        actions=tuple(actions),
        ingredients=ingredients,
        failures=tuple(failures),
        ai_generated=ai,
    )
