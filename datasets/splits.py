"""Train/test splits of the wide dataset by group (slurry batch, coating run, calendered roll):
every group on one side, the same split for the same seed and selection on every machine."""

import hashlib
from typing import Any

from .columns import GROUP_KEYS

SPLIT_FIELDS = ("by", "test", "seed")


def validate_split(split: dict[str, Any]) -> dict[str, Any]:
    """`{"by": "slurry_batch", "test": 0.2, "seed": 1}`, checked field by field (seed defaults to 0)."""
    if not isinstance(split, dict):
        raise ValueError('Split must be an object such as {"by": "slurry_batch", "test": 0.2, "seed": 1}.')
    unknown = sorted(set(split) - set(SPLIT_FIELDS))
    if unknown:
        raise ValueError(f"Unknown split field {', '.join(unknown)}: one of {', '.join(SPLIT_FIELDS)}.")
    stems = [stem for stem, _kind in GROUP_KEYS]
    if split.get("by") not in stems:
        raise ValueError(f"Unknown split by {split.get('by')!r}: one of {', '.join(stems)}.")
    test = split.get("test")
    if isinstance(test, bool) or not isinstance(test, int | float) or not 0 < test < 1:
        raise ValueError(f"Split test must be a fraction between 0 and 1 (exclusive), not {test!r}.")
    seed = split.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"Split seed must be an integer, not {seed!r}.")
    return {"by": split["by"], "test": float(test), "seed": seed}


def split_hash(seed: int, key: str) -> float:
    """A number in [0, 1) fixed by the seed and the group key, the same on every machine."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class _Components:
    """Union-find over group and item keys: groups sharing a root become one component."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        parent = self.parent
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def join(self, a: str, b: str) -> None:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def assign_split(memberships: list[tuple[int, str, str | None]], test: float, seed: int) -> dict[int, str]:
    """Root id -> "train" or "test" from (root id, root code, group code or None) rows.

    Groups that share a root (a cell holds a cathode and an anode slurry) are joined into one
    component, so no group lands on both sides; a root without a group is a component of its
    own. Components are taken in the order of their hash (keyed by their smallest group code)
    into the test side while that brings the test rows nearer `test` of all rows: for a seed,
    the same selection gives the same split, and the fraction is as near as whole groups allow.
    """
    components = _Components()
    root_keys: dict[int, str] = {}
    for root_id, root_code, group in memberships:
        node = f"group:{group}" if group is not None else f"item:{root_code}"
        if root_id in root_keys:
            components.join(root_keys[root_id], node)
        else:
            components.find(node)
            root_keys[root_id] = node
    sizes: dict[str, int] = {}
    for node in root_keys.values():
        component = components.find(node)
        sizes[component] = sizes.get(component, 0) + 1
    target = test * len(root_keys)
    chosen: set[str] = set()
    taken = 0
    for component in sorted(sizes, key=lambda c: (split_hash(seed, c), c)):
        if abs(taken + sizes[component] - target) < abs(taken - target):
            chosen.add(component)
            taken += sizes[component]
    return {root_id: "test" if components.find(node) in chosen else "train" for root_id, node in root_keys.items()}
