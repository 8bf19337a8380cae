"""The model zoo: named architectures in our own format, each citing what it follows.

Every entry names the paper or reference implementation it follows (layer by layer), so a
receptive field can be checked against published values. Names are case-insensitive.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ERFError

__all__ = ["ZooEntry", "ZOO", "zoo_network", "zoo_names"]


@dataclass(frozen=True)
class ZooEntry:
    """A named architecture with its provenance.

    Attributes
    ----------
    name : str
        The name users type (``erftheory rf resnet50``).
    arch : str
        The architecture as a compact string (see :mod:`erftheory.parse`).
    reference : str
        The paper and the reference implementation the layers follow.
    notes : str
        Which variant this is (for example where a ResNet puts its stride).
    """

    name: str
    arch: str
    reference: str
    notes: str = ""

    def network(self):
        """The entry as a :class:`~erftheory.Network`."""
        from .parse import from_compact

        return from_compact(self.arch)


ZOO: dict[str, ZooEntry] = {}


def _register(*entries: ZooEntry) -> None:
    for entry in entries:
        ZOO[entry.name.lower()] = entry


def zoo_names() -> list[str]:
    """The names of all zoo entries, sorted."""
    return sorted(ZOO)


def zoo_network(name: str):
    """The network of a zoo entry.

    Raises
    ------
    ERFError
        For an unknown name; the message lists the valid ones.
    """
    entry = ZOO.get(name.lower())
    if entry is None:
        raise ERFError(f"unknown zoo entry {name!r}; valid: {', '.join(zoo_names())}")
    return entry.network()
