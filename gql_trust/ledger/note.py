"""Signed checkpoints: the C2SP ``signed-note`` and ``tlog-checkpoint`` formats, Ed25519.

A checkpoint is the note text ``<origin>\\n<tree size>\\n<base64 root>\\n``, then a blank
line and a signature line ``— <key name> <base64(key id || signature)>``. Key files use
the signed-note encodings: the verifier key ``<name>+<hex key id>+<base64(0x01 || key)>``
and the signer key ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>``, so Go's
``golang.org/x/mod/sumdb/note`` and the transparency-dev witnesses read them too.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519 = b"\x01"  # the signed-note signature type of Ed25519
DASH = "\u2014"  # em dash: starts a signature line
_NAME = re.compile(r"[^\s+\u2014]+")  # a key name: no spaces, no '+', no em dash
MAX_NOTE = 16_384  # a checkpoint is ~150 bytes; anything much larger is not one


class NoteError(ValueError):
    """A key, note or checkpoint that is malformed or does not verify."""


def key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public).digest()[:4]


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class Verifier:
    name: str
    id: bytes
    key: Ed25519PublicKey

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """A verifier key ``<name>+<hex id>+<base64(0x01 || key)>``."""
        name, _, rest = vkey.strip().partition("+")
        hex_id, _, material = rest.partition("+")
        try:
            if not _NAME.fullmatch(name) or len(hex_id) != 8:
                raise ValueError
            raw = base64.b64decode(material, validate=True)
            if len(raw) != 33 or raw[:1] != ED25519:
                raise ValueError
            public = raw[1:]
            wanted = bytes.fromhex(hex_id)
        except (ValueError, binascii.Error) as exc:
            raise NoteError(
                "not an Ed25519 note verifier key (<name>+<hex key id>+<base64 key>)"
            ) from exc
        if key_id(name, public) != wanted:
            raise NoteError(f"the key id {hex_id} does not match the key named {name}")
        return cls(name, wanted, Ed25519PublicKey.from_public_bytes(public))

    def __str__(self) -> str:
        material = base64.b64encode(ED25519 + _raw(self.key)).decode()
        return f"{self.name}+{self.id.hex()}+{material}"

    def open(self, note: str) -> str:
        """The note's text if this key signed it, else NoteError."""
        if len(note) > MAX_NOTE:
            raise NoteError("the note is too large to be a checkpoint")
        text, sep, signatures = note.rpartition("\n\n")
        if not sep or not signatures.endswith("\n"):
            raise NoteError("not a signed note: no blank line before its signatures")
        text += "\n"
        if any(ord(c) < 0x20 and c != "\n" for c in note):
            raise NoteError("a signed note holds no control characters")
        for line in signatures[:-1].split("\n"):
            parts = line.split(" ")
            if len(parts) != 3 or parts[0] != DASH:
                raise NoteError(f"not a signature line: {line[:80]!r}")
            if parts[1] != self.name:
                continue
            try:
                blob = base64.b64decode(parts[2], validate=True)
            except binascii.Error as exc:
                raise NoteError("a signature is not base64") from exc
            if blob[:4] != self.id:
                continue
            try:
                self.key.verify(blob[4:], text.encode())
            except InvalidSignature as exc:
                raise NoteError(f"the signature of {self.name} does not verify") from exc
            return text
        raise NoteError(f"the note is not signed by {self.name}+{self.id.hex()}")


@dataclass(frozen=True)
class Signer:
    name: str
    key: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> Signer:
        if not _NAME.fullmatch(name):
            raise NoteError(f"{name!r} cannot name a key (no spaces, '+' or em dash)")
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def parse(cls, skey: str) -> Signer:
        """A signer key ``PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>``."""
        parts = skey.strip().split("+", 4)
        try:
            if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
                raise ValueError
            name, hex_id, material = parts[2:]
            raw = base64.b64decode(material, validate=True)
            if not _NAME.fullmatch(name) or len(raw) != 33 or raw[:1] != ED25519:
                raise ValueError
            signer = cls(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
            if signer.verifier.id != bytes.fromhex(hex_id):
                raise ValueError
        except (ValueError, binascii.Error) as exc:
            raise NoteError("not an Ed25519 note signer key (PRIVATE+KEY+...)") from exc
        return signer

    @property
    def verifier(self) -> Verifier:
        public = self.key.public_key()
        return Verifier(self.name, key_id(self.name, _raw(public)), public)

    def __str__(self) -> str:
        seed = self.key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        material = base64.b64encode(ED25519 + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.id.hex()}+{material}"

    def sign(self, text: str) -> str:
        """The signed note of ``text`` (which ends in a newline)."""
        if not text.endswith("\n"):
            raise NoteError("a note's text ends in a newline")
        blob = self.verifier.id + self.key.sign(text.encode())
        return f"{text}\n{DASH} {self.name} {base64.b64encode(blob).decode()}\n"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """The checkpoint in a note's (verified) text; extension lines are ignored."""
        lines = text.split("\n")
        try:
            origin, size, root = lines[0], lines[1], base64.b64decode(lines[2], validate=True)
            if not origin or not size.isdigit() or (size != "0" and size[0] == "0"):
                raise ValueError
            if len(root) != 32:
                raise ValueError
        except (IndexError, ValueError, binascii.Error) as exc:
            raise NoteError("not a tlog checkpoint (origin, size, base64 root)") from exc
        return cls(origin, int(size), root)


def open_checkpoint(note: str, verifier: Verifier, origin: str | None = None) -> Checkpoint:
    """A signed checkpoint, verified; its origin checked against ``origin`` if given."""
    checkpoint = Checkpoint.parse(verifier.open(note))
    expected = verifier.name if origin is None else origin
    if checkpoint.origin != expected:
        raise NoteError(f"the checkpoint is of log {checkpoint.origin!r}, not {expected!r}")
    return checkpoint


def load_signer(path: Path, name: str, *, create: bool = False) -> Signer:
    """The signing key in ``path``; with ``create``, one is made if none exists (atomically,
    so workers starting together agree on one key), its verifier key next to it."""
    if not path.is_file() and create:
        path.parent.mkdir(parents=True, exist_ok=True)
        signer = Signer.generate(name)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(f"{signer}\n")
        try:
            os.link(temporary, path)  # fails if another process made it first
        except FileExistsError:
            pass
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
    try:
        signer = Signer.parse(path.read_text(encoding="ascii"))
    except FileNotFoundError as exc:
        raise NoteError(f"there is no ledger signing key at {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise NoteError(f"the ledger signing key {path} cannot be read") from exc
    if signer.name != name:
        raise NoteError(f"the signing key {path} is named {signer.name!r}, not the origin {name!r}")
    vkey = path.with_suffix(".vkey")
    if create and not vkey.exists():
        vkey.write_text(f"{signer.verifier}\n", encoding="ascii")
    return signer
