"""What a department runs against the trust's log, trusting only the log's public key.

``witness``: fetch the newest checkpoint, check its signature and that it extends the
checkpoint kept from last time (a consistency proof), then keep the new one. ``receipt``:
check a receipt's checkpoint signature and the entry's inclusion in that tree.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import merkle
from .note import Checkpoint, NoteError, Verifier, open_checkpoint

TIMEOUT_S = 30.0
MAX_RESPONSE = 1_000_000


class WitnessError(Exception):
    """The log could not be checked (unreachable, malformed answer): exit 2."""


class NotAnExtension(Exception):
    """The log is not what it showed before, or a proof does not verify: exit 1."""


@dataclass(frozen=True)
class Log:
    url: str  # the trust's base URL, e.g. http://127.0.0.1:8000
    verifier: Verifier

    def _get(self, path: str, query: dict[str, int] | None = None) -> bytes:
        url = self.url.rstrip("/") + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise WitnessError(f"{self.url} is not an http(s) URL")
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
                return bytes(response.read(MAX_RESPONSE))
        except urllib.error.HTTPError as exc:
            detail = exc.read(2_000).decode("utf-8", "replace")
            raise WitnessError(f"{url} answered {exc.code}: {_message(detail)}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise WitnessError(f"cannot reach {url}: {exc}") from exc

    def checkpoint(self) -> tuple[str, Checkpoint]:
        note = self._get("/ledger/checkpoint").decode("utf-8", "replace")
        try:
            return note, open_checkpoint(note, self.verifier)
        except NoteError as exc:
            raise NotAnExtension(f"the log's newest checkpoint is not valid: {exc}") from exc

    def consistency(self, old: int, new: int) -> list[bytes]:
        body = self._json("/ledger/consistency", {"from": old, "to": new})
        return _hashes(body, "consistency")

    def inclusion(self, entry: int, size: int) -> tuple[bytes, list[bytes]]:
        body = self._json("/ledger/proof", {"entry": entry, "size": size})
        (leaf,) = _hashes({"leaf": [body.get("leafHash")]}, "leaf")
        return leaf, _hashes(body, "inclusion")

    def _json(self, path: str, query: dict[str, int]) -> dict[str, Any]:
        try:
            body = json.loads(self._get(path, query))
        except ValueError as exc:
            raise WitnessError(f"{path} did not answer JSON") from exc
        if not isinstance(body, dict):
            raise WitnessError(f"{path} did not answer a JSON object")
        return body


def _message(text: str) -> str:
    try:
        return str(json.loads(text)["errors"][0]["message"])
    except (ValueError, KeyError, IndexError, TypeError):
        return text[:200]


def _hashes(body: dict[str, Any], key: str) -> list[bytes]:
    values = body.get(key)
    if not isinstance(values, list):
        raise WitnessError(f"the answer has no {key!r} list")
    try:
        hashes = [base64.b64decode(v, validate=True) for v in values]
    except (binascii.Error, TypeError, ValueError) as exc:
        raise WitnessError(f"{key!r} holds something that is not base64") from exc
    if any(len(h) != 32 for h in hashes):
        raise WitnessError(f"{key!r} holds something that is not a SHA-256 hash")
    return hashes


def witness(log: Log, state: Path) -> str:
    """Check the log extends what ``state`` holds, then keep its newest checkpoint.

    Returns what was seen; NotAnExtension if the log was truncated, rewritten or forked."""
    note, new = log.checkpoint()
    old: Checkpoint | None = None
    if state.is_file():
        try:
            old = open_checkpoint(state.read_text(encoding="utf-8"), log.verifier)
        except (NoteError, UnicodeDecodeError) as exc:
            raise WitnessError(f"the checkpoint kept in {state} is not valid: {exc}") from exc
    if old is None:
        said = f"first checkpoint of {new.origin}: {new.size} entries; kept in {state}"
    elif new.size < old.size:
        raise NotAnExtension(
            f"the log was truncated: it now has {new.size} entries, but this witness saw "
            f"{old.size} (its checkpoint is kept in {state})"
        )
    elif new.size == old.size:
        if new.root != old.root:
            raise NotAnExtension(
                f"the log was rewritten: two different trees of {new.size} entries "
                f"(the one this witness saw is kept in {state})"
            )
        said = f"{new.origin} unchanged: {new.size} entries"
    else:
        proof = log.consistency(old.size, new.size)
        try:
            merkle.verify_consistency(old.size, new.size, old.root, new.root, proof)
        except merkle.ProofError as exc:
            raise NotAnExtension(
                f"the log of {new.size} entries is not an extension of the {old.size} this "
                f"witness saw: it was rewritten or forked ({exc})"
            ) from exc
        said = f"{new.origin} grew from {old.size} to {new.size} entries, consistently"
    if old is None or new.size > old.size:
        _keep(state, note)
    return said


def _keep(state: Path, note: str) -> None:
    state.parent.mkdir(parents=True, exist_ok=True)
    temporary = state.with_name(f".{state.name}.{os.getpid()}.tmp")
    temporary.write_text(note, encoding="utf-8")
    os.replace(temporary, state)  # atomic: a crash leaves the old checkpoint or the new


def load_receipt(path: Path) -> dict[str, Any]:
    """A receipt: the ``extensions.receipt`` object, or a whole response that holds one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise WitnessError(f"{path} is not a JSON file: {exc}") from exc
    if isinstance(data, list) and data:  # a batch: the first operation's (all share one)
        data = data[0]
    if isinstance(data, dict) and isinstance(data.get("extensions"), dict):
        data = data["extensions"].get("receipt", data)
    keys = {"entry", "leafHash", "treeSize", "checkpoint"}
    if not isinstance(data, dict) or not keys <= set(data):
        raise WitnessError(f"{path} holds no receipt ({', '.join(sorted(keys))})")
    return data


def check_receipt(log: Log, receipt: dict[str, Any]) -> str:
    """The receipt's checkpoint is signed by the log and includes its entry, or
    NotAnExtension saying why not."""
    entry, size = receipt["entry"], receipt["treeSize"]
    if not all(type(v) is int for v in (entry, size)) or not 1 <= entry <= size:
        raise NotAnExtension(
            "the receipt's entry and treeSize are not whole numbers 1 <= entry <= size"
        )
    try:
        checkpoint = open_checkpoint(str(receipt["checkpoint"]), log.verifier)
    except NoteError as exc:
        raise NotAnExtension(f"the receipt's checkpoint is not signed by the log: {exc}") from exc
    if checkpoint.size != size:
        raise NotAnExtension(
            f"the receipt says treeSize {size}, its checkpoint is of {checkpoint.size} entries"
        )
    (leaf,) = _hashes({"leafHash": [receipt["leafHash"]]}, "leafHash")
    served_leaf, proof = log.inclusion(entry, size)
    try:
        merkle.verify_inclusion(entry - 1, size, leaf, proof, checkpoint.root)
    except merkle.ProofError as exc:
        raise NotAnExtension(
            f"entry {entry} with this leaf hash is not in the signed tree of {size} entries ({exc})"
        ) from exc
    if served_leaf != leaf:  # cannot happen once the proof verifies; said plainly if it does
        raise NotAnExtension(f"the log serves another leaf hash for entry {entry}")
    return (
        f"receipt verified: entry {entry} is in the tree of {size} entries signed by "
        f"{log.verifier.name}+{log.verifier.id.hex()}"
    )
