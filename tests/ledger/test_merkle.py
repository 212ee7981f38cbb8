"""The Merkle tree against RFC 9162's own recursive definitions, written out plainly
here, and against the reference vectors of transparency-dev/merkle."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gql_trust.ledger import merkle

# -- RFC 9162 2.1.1, 2.1.3.1 and 2.1.4.1, verbatim: the oracle ---------------------------


def mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()


def path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def proof(m: int, d: list[bytes]) -> list[bytes]:
    return subproof(m, d, True)


# -- The stored tree, as a sink builds it -------------------------------------------------


def build(data: list[bytes], batches: list[int] | None = None) -> tuple[dict, list[bytes]]:
    """Every stored node, appending in batches (as group commits do); and each root."""
    nodes: dict = {}
    size, frontier, roots = 0, [], [merkle.EMPTY_ROOT]
    leaves = [merkle.leaf_hash(x) for x in data]
    for leaf in leaves:
        size, frontier, made = merkle.append_leaves(size, frontier, [leaf])
        nodes.update(made)
        roots.append(merkle.root_of(frontier))
    if batches:  # the same tree whatever the batching
        size2, frontier2, nodes2, at = 0, [], {}, 0
        for width in batches:
            chunk = leaves[at : at + width]
            at += len(chunk)
            size2, frontier2, made = merkle.append_leaves(size2, frontier2, chunk)
            nodes2.update(made)
            assert merkle.root_of(frontier2) == roots[size2]
        size2, frontier2, made = merkle.append_leaves(size2, frontier2, leaves[at:])
        nodes2.update(made)
        assert nodes2 == nodes
    return nodes, roots


def served_inclusion(index: int, size: int, nodes: dict) -> list[bytes]:
    return merkle.proof_hashes(merkle.inclusion_ranges(index, size), nodes)


def served_consistency(old: int, new: int, nodes: dict) -> list[bytes]:
    return merkle.proof_hashes(merkle.consistency_ranges(old, new), nodes)


DATA = [bytes([i % 256]) * (i % 7) + i.to_bytes(4, "big") for i in range(300)]
NODES, ROOTS = build(DATA, batches=[1, 2, 3, 5, 8, 13, 21, 34, 55])


def test_every_root_of_up_to_300_leaves_is_the_rfc_tree_head() -> None:
    for n in range(301):
        assert ROOTS[n] == mth(DATA[:n]), n


def test_every_inclusion_proof_up_to_64_leaves_is_the_rfcs_and_verifies() -> None:
    for n in range(1, 65):
        for m in range(n):
            served = served_inclusion(m, n, NODES)
            assert served == path(m, DATA[:n]), (m, n)
            merkle.verify_inclusion(m, n, merkle.leaf_hash(DATA[m]), served, ROOTS[n])


def test_every_consistency_proof_up_to_64_leaves_is_the_rfcs_and_verifies() -> None:
    for n in range(1, 65):
        for m in range(1, n + 1):
            served = served_consistency(m, n, NODES)
            assert served == proof(m, DATA[:n]), (m, n)
            merkle.verify_consistency(m, n, ROOTS[m], ROOTS[n], served)


sizes = st.integers(min_value=1, max_value=300)


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_inclusion_up_to_300_leaves(data: st.DataObject) -> None:
    n = data.draw(sizes)
    m = data.draw(st.integers(min_value=0, max_value=n - 1))
    served = served_inclusion(m, n, NODES)
    assert served == path(m, DATA[:n])
    merkle.verify_inclusion(m, n, merkle.leaf_hash(DATA[m]), served, ROOTS[n])


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_consistency_up_to_300_leaves(data: st.DataObject) -> None:
    n = data.draw(sizes)
    m = data.draw(st.integers(min_value=1, max_value=n))
    served = served_consistency(m, n, NODES)
    assert served == proof(m, DATA[:n])
    merkle.verify_consistency(m, n, ROOTS[m], ROOTS[n], served)


@settings(max_examples=200, deadline=None)
@given(
    leaves=st.lists(st.binary(max_size=8), max_size=70),
    batches=st.lists(st.integers(min_value=1, max_value=9), max_size=12),
)
def test_any_leaves_in_any_batches_give_the_rfc_tree(leaves: list[bytes], batches: list[int]):
    _, roots = build(leaves, batches)
    assert roots[-1] == mth(leaves)


# -- Tampering: every bit flip, truncation, reordering and fork is refused ---------------


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_a_flipped_bit_anywhere_breaks_an_inclusion_proof(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=2, max_value=300))
    m = data.draw(st.integers(min_value=0, max_value=n - 1))
    served = served_inclusion(m, n, NODES)
    leaf, root = merkle.leaf_hash(DATA[m]), ROOTS[n]
    target = data.draw(st.integers(min_value=0, max_value=len(served) + 1))
    bit = data.draw(st.integers(min_value=0, max_value=255))

    def flip(value: bytes) -> bytes:
        return (int.from_bytes(value, "big") ^ (1 << bit)).to_bytes(32, "big")

    if target < len(served):
        served = [*served[:target], flip(served[target]), *served[target + 1 :]]
    elif target == len(served):
        leaf = flip(leaf)
    else:
        root = flip(root)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(m, n, leaf, served, root)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_a_flipped_bit_anywhere_breaks_a_consistency_proof(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=2, max_value=300))
    m = data.draw(st.integers(min_value=1, max_value=n - 1))
    served = served_consistency(m, n, NODES)
    old_root, new_root = ROOTS[m], ROOTS[n]
    target = data.draw(st.integers(min_value=0, max_value=len(served) + 1))
    bit = data.draw(st.integers(min_value=0, max_value=255))

    def flip(value: bytes) -> bytes:
        return (int.from_bytes(value, "big") ^ (1 << bit)).to_bytes(32, "big")

    if target < len(served):
        served = [*served[:target], flip(served[target]), *served[target + 1 :]]
    elif target == len(served):
        old_root = flip(old_root)
    else:
        new_root = flip(new_root)
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(m, n, old_root, new_root, served)


def test_truncated_or_padded_proofs_are_refused() -> None:
    for n in range(2, 80):
        for m in range(n):
            served = served_inclusion(m, n, NODES)
            leaf = merkle.leaf_hash(DATA[m])
            for bad in (served[:-1], [*served, ROOTS[n]], served[1:]):
                with pytest.raises(merkle.ProofError):
                    merkle.verify_inclusion(m, n, leaf, bad, ROOTS[n])
        for m in range(1, n):
            served = served_consistency(m, n, NODES)
            for bad in (served[:-1], [*served, ROOTS[n]], served[1:]):
                with pytest.raises(merkle.ProofError):
                    merkle.verify_consistency(m, n, ROOTS[m], ROOTS[n], bad)


def test_a_proof_for_the_wrong_leaf_index_or_size_is_refused() -> None:
    for n in range(2, 70):
        for m in range(n):
            served = served_inclusion(m, n, NODES)
            leaf = merkle.leaf_hash(DATA[m])
            for other in {(m + 1) % n, (m - 1) % n} - {m}:
                with pytest.raises(merkle.ProofError):
                    merkle.verify_inclusion(other, n, leaf, served, ROOTS[n])


def test_reordered_entries_give_another_root_and_fail_consistency() -> None:
    for n in range(2, 120):
        for i in range(0, n - 1, 7):
            swapped = [*DATA[:n]]
            swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
            if swapped == DATA[:n]:
                continue
            nodes, roots = build(swapped)
            assert roots[n] != ROOTS[n]
            # the reordered log cannot prove it extends what a witness saw before the swap
            if i + 1 < n - 1:
                forged = served_consistency(i + 2, n, nodes)
                with pytest.raises(merkle.ProofError):
                    merkle.verify_consistency(i + 2, n, ROOTS[i + 2], roots[n], forged)


def test_a_fork_cannot_prove_consistency_with_the_honest_log() -> None:
    for seen in (1, 2, 3, 7, 8, 9, 64, 100):
        for fork_at in range(0, seen, max(1, seen // 4)):
            forked = [*DATA[:fork_at], b"forged", *DATA[fork_at + 1 : 200]]
            nodes, roots = build(forked)
            for n in (seen, seen + 1, 150, 200):
                if n < seen:
                    continue
                forged = served_consistency(seen, n, nodes)
                with pytest.raises(merkle.ProofError):
                    merkle.verify_consistency(seen, n, ROOTS[seen], roots[n], forged)


def test_sizes_that_make_no_sense_are_refused() -> None:
    with pytest.raises(merkle.ProofError):
        merkle.inclusion_ranges(5, 5)
    with pytest.raises(merkle.ProofError):
        merkle.consistency_ranges(6, 5)
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(6, 5, ROOTS[6], ROOTS[5], [])
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(5, 5, ROOTS[5], ROOTS[4], [])
    merkle.verify_consistency(5, 5, ROOTS[5], ROOTS[5], [])


# -- transparency-dev/merkle testonly/constants.go ---------------------------------------

VECTOR_LEAVES = [
    bytes.fromhex(h)
    for h in (
        *("", "00", "10", "2021", "3031", "40414243", "5051525354555657"),
        "606162636465666768696a6b6c6d6e6f",
    )
]
VECTOR_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_the_reference_vectors() -> None:
    nodes, roots = build(VECTOR_LEAVES)
    assert [r.hex() for r in roots] == VECTOR_ROOTS
    assert nodes[(1, 2)].hex() == "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"
    assert [h.hex() for h in served_consistency(6, 8, nodes)] == [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]
    assert [h.hex() for h in served_consistency(2, 5, nodes)] == [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ]
