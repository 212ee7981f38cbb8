"""The RFC 9162 Merkle tree over the ledger's entries, as pure functions.

Leaf ``i`` (0-based) is entry ``i + 1``. Leaf hash ``SHA-256(0x00 || bytes)``, node hash
``SHA-256(0x01 || left || right)``, the tree of ``n`` leaves split at the largest power
of two below ``n`` (RFC 9162, section 2.1.1). The writer stores the hash of every
complete (perfect, aligned) subtree as ``(level, index)``: level 0 are the leaves, and
node ``(level, index)`` covers leaves ``[index * 2**level, (index + 1) * 2**level)``.
Any subtree a proof needs is then a fold of O(log n) stored nodes.

No Python library keeps this tree in a database of our own transaction (SQLite or
PostgreSQL, shared by processes), so it is written here and tested against the RFC's
recursive definitions and the reference vectors of transparency-dev/merkle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

Node = tuple[int, int]  # (level, index) of a complete subtree
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof that does not verify, or that was asked for sizes that make no sense."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


# -- The compact range: what an appender keeps -------------------------------------------


def frontier_nodes(size: int) -> list[Node]:
    """The complete subtrees that cover leaves ``[0, size)``, left to right."""
    return [
        (level, (size >> level) - 1)
        for level in range(size.bit_length() - 1, -1, -1)
        if size >> level & 1
    ]


def append_leaves(
    size: int, frontier: Sequence[bytes], leaves: Iterable[bytes]
) -> tuple[int, list[bytes], dict[Node, bytes]]:
    """Append leaf hashes to a tree of ``size`` leaves whose frontier hashes are given.

    Returns the new size, the new frontier and every complete subtree made on the way
    (the leaves included), for the store."""
    if len(frontier) != bin(size).count("1"):
        raise ProofError(f"a tree of {size} leaves has {bin(size).count('1')} frontier nodes")
    levels = [level for level, _ in frontier_nodes(size)]
    hashes = list(frontier)
    made: dict[Node, bytes] = {}
    for leaf in leaves:
        made[(0, size)] = leaf
        levels.append(0)
        hashes.append(leaf)
        size += 1
        while len(levels) >= 2 and levels[-1] == levels[-2]:
            right, left = hashes.pop(), hashes.pop()
            level = levels.pop() + 1
            levels[-1] = level
            hashes.append(node_hash(left, right))
            made[(level, (size >> level) - 1)] = hashes[-1]
    return size, hashes, made


def root_of(frontier: Sequence[bytes]) -> bytes:
    """The tree head from its frontier: the right fold of its complete subtrees."""
    if not frontier:
        return EMPTY_ROOT
    root = frontier[-1]
    for left in reversed(frontier[:-1]):
        root = node_hash(left, root)
    return root


# -- Proofs from stored nodes (the server's side) ----------------------------------------


def cover(start: int, end: int) -> list[Node]:
    """The complete subtrees whose fold is the hash of leaves ``[start, end)``, for a
    range that is a subtree of some RFC 9162 tree (every range a proof names is)."""
    nodes: list[Node] = []
    while end - start > 0:
        width = end - start
        if width & (width - 1) == 0 and start % width == 0:
            level = width.bit_length() - 1
            nodes.append((level, start >> level))
            break
        k = _split(width)
        level = k.bit_length() - 1
        if start % k:
            raise ProofError(f"leaves [{start}, {end}) are not a subtree")
        nodes.append((level, start >> level))
        start += k
    return nodes


def range_hash(start: int, end: int, nodes: Mapping[Node, bytes]) -> bytes:
    return root_of([nodes[n] for n in cover(start, end)])


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes are PATH(index, D[size]), leaf upward (RFC 9162 2.1.3.1)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size} leaves")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    return ranges[::-1]


def consistency_ranges(old: int, new: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes are PROOF(old, D[new]) (RFC 9162 2.1.4.1)."""
    if not 0 <= old <= new:
        raise ProofError(f"no consistency proof from {old} leaves to {new}")
    if old == 0 or old == new:
        return []
    ranges: list[tuple[int, int]] = []
    start, end, complete = 0, new, True
    while True:
        m = old - start
        if m == end - start:
            if not complete:
                ranges.append((start, end))
            break
        k = _split(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, complete = start + k, False
    return ranges[::-1]


def needed(ranges: Iterable[tuple[int, int]]) -> list[Node]:
    """Every stored node a list of ranges is folded from."""
    return sorted({node for start, end in ranges for node in cover(start, end)})


def proof_hashes(ranges: Sequence[tuple[int, int]], nodes: Mapping[Node, bytes]) -> list[bytes]:
    return [range_hash(start, end, nodes) for start, end in ranges]


# -- Verification (a witness's or a department's side) -----------------------------------


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 2.1.3.2: the root that ``proof`` implies for ``leaf`` at ``index``."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size} leaves")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the inclusion proof is too short")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofError(f"leaf {index} is not in the tree of {size} leaves with that root")


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 2.1.4.2: the tree (new, new_root) extends (old, old_root), or ProofError."""
    if not 0 <= old <= new:
        raise ProofError(f"a tree of {new} leaves cannot extend one of {old}")
    if old == new:
        if proof or old_root != new_root:
            raise ProofError(f"two different trees of {old} leaves")
        return
    if old == 0:
        if proof:
            raise ProofError("a consistency proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    path = list(proof)
    if old & (old - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    if fr != old_root:
        raise ProofError(f"the tree of {new} leaves does not begin with the tree of {old}")
    if sr != new_root:
        raise ProofError(f"the consistency proof does not lead to the root of {new} leaves")
