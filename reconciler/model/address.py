"""``Kind/name``: where a resource lives in a stack."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Address:
    kind: str
    name: str

    @classmethod
    def parse(cls, text: str) -> Address:
        """``"Trainer/policy"`` -> ``Address("Trainer", "policy")``; ValueError when it is not one."""
        kind, sep, name = text.partition("/")
        if not sep or not kind or not name or "/" in name:
            raise ValueError(f"{text!r} is not an address (Kind/name, e.g. Trainer/policy)")
        return cls(kind, name)

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


def address(kind: str, name: str) -> str:
    """The string form used as a key in plans and state."""
    return f"{kind}/{name}"


def name_of(text: str) -> str:
    """The name part of an address string."""
    return Address.parse(text).name
