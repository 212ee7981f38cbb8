"""Signed notes and checkpoints against the reference vector of Go's sumdb/note."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from gql_trust.ledger.note import (
    Checkpoint,
    NoteError,
    Signer,
    Verifier,
    key_id,
    load_signer,
    open_checkpoint,
)

# golang.org/x/mod/sumdb/note: the documented example key pair and its signed note.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_signing_reproduces_gos_note_byte_for_byte() -> None:
    signer = Signer.parse(GO_SKEY)
    assert str(signer) == GO_SKEY
    assert str(signer.verifier) == GO_VKEY
    assert signer.sign(GO_TEXT) == GO_NOTE  # Ed25519 is deterministic
    assert Verifier.parse(GO_VKEY).open(GO_NOTE) == GO_TEXT


def test_key_id_is_the_first_four_bytes_of_the_specs_hash() -> None:
    public = base64.b64decode(GO_VKEY.split("+")[2])[1:]
    assert key_id("PeterNeumann", public).hex() == "c74f20a3"


@pytest.mark.parametrize(
    "forged",
    [
        GO_NOTE.replace("cryptography", "cryptographY"),
        GO_NOTE.replace("x08go", "x08gp"),
        GO_NOTE.replace("\n\n", "\n"),
        GO_NOTE.replace("PeterNeumann", "EnochRoot"),
        GO_NOTE[:-1],
        GO_NOTE.replace("problem,", "problem,\r"),
    ],
)
def test_a_changed_note_is_refused(forged: str) -> None:
    with pytest.raises(NoteError):
        Verifier.parse(GO_VKEY).open(forged)


def test_a_note_signed_by_another_key_of_the_same_name_is_refused() -> None:
    other = Signer.generate("PeterNeumann")
    with pytest.raises(NoteError, match="not signed by"):
        Verifier.parse(GO_VKEY).open(other.sign(GO_TEXT))


@pytest.mark.parametrize(
    "vkey",
    [
        GO_VKEY.replace("c74f20a3", "c74f20a4"),
        GO_VKEY.replace("PeterNeumann", "Peter"),
        GO_VKEY[:-2],
        "PeterNeumann+c74f20a3+AhpC2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "",
    ],
)
def test_malformed_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(NoteError):
        Verifier.parse(vkey)


def test_a_checkpoint_round_trips_and_checks_its_origin() -> None:
    signer = Signer.generate("gql-trust.demo/ledger")
    checkpoint = Checkpoint("gql-trust.demo/ledger", 12, bytes(range(32)))
    note = signer.sign(checkpoint.text())
    assert note.startswith(
        "gql-trust.demo/ledger\n12\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n"
    )
    assert open_checkpoint(note, signer.verifier) == checkpoint
    with pytest.raises(NoteError, match="not 'other/log'"):
        open_checkpoint(note, signer.verifier, origin="other/log")
    for bad in ("x\n012\nAA==\n", "x\n-1\n" + "A" * 44 + "\n", "x\n1\n"):
        with pytest.raises(NoteError):
            Checkpoint.parse(bad)


def test_load_signer_creates_one_key_and_its_vkey(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "ledger.key"
    first = load_signer(path, "gql-trust.demo/ledger", create=True)
    again = load_signer(path, "gql-trust.demo/ledger", create=True)
    assert str(first) == str(again)
    assert (tmp_path / "keys" / "ledger.vkey").read_text().strip() == str(first.verifier)
    assert path.stat().st_mode & 0o077 == 0
    with pytest.raises(NoteError, match="not the origin"):
        load_signer(path, "another/origin")
    with pytest.raises(NoteError, match="no ledger signing key"):
        load_signer(tmp_path / "missing.key", "x")
