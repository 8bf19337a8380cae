"""Reading architectures: any description of one to a :class:`~erftheory.architecture.Network`.

:func:`as_network` takes a network, a dict in the JSON format (or its text), a path to a JSON
file, a zoo name or a compact string.

The formats have their own modules, whose names are importable from here:
:mod:`erftheory.json_format` (:func:`from_dict`, :func:`to_dict`) and
:mod:`erftheory.compact` (the one-line grammar: :func:`from_compact`, :func:`to_compact`,
:func:`describe`).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .architecture import Network
from .blocks import Block, Branches
from .compact import _ALIASES, _SHORT, describe, from_compact, to_compact
from .errors import ERFError
from .json_format import _KEYS, _SPATIAL, _UNMODELLED, from_dict, to_dict
from .zoo import ZOO, zoo_network  # (zoo reads this module only inside its functions)

__all__ = ["as_network", "from_dict", "from_compact", "to_dict", "to_compact", "describe"]

# the layer types (and aliases) that --as-identity may not name
_MODELLED = frozenset(_KEYS) | frozenset(_ALIASES) | frozenset(_SPATIAL)


_MAX_NESTING = 100  # blocks within blocks: real networks nest a few levels


def as_network(arch, identity=()) -> Network:
    """Turn any architecture description into a :class:`Network`.

    Blocks may nest up to 100 levels (a deeper description is refused, not left to overflow
    Python's stack in the walks over the network).

    Parameters
    ----------
    arch : Network, dict, str or os.PathLike
        A network; a dict in the JSON format (or its text, starting with ``{``); a path to a
        JSON file; a zoo name; or a compact string. A string is a path where it ends in
        ``.json``, or where it names a file and is no zoo name or compact string (a file
        named ``conv3`` does not shadow the description ``conv3``; write ``./conv3``).
    identity : sequence of str
        Layer types to treat as identity (an explicit opt-in, recorded in the network).

    Examples
    --------
    >>> as_network("1d: conv3").dims
    1
    """
    if isinstance(arch, Network) and not identity:
        return arch
    try:
        net = _as_network(arch, identity)
    except RecursionError:
        net = None
    # (a string nests no deeper than its brackets: most need no walk, a repeated call none)
    shallow = isinstance(arch, str) and max(arch.count("("), arch.count("{")) <= _MAX_NESTING
    if net is None or (not shallow and _nesting(net.layers) > _MAX_NESTING):
        raise ERFError(
            f"the architecture nests blocks (parentheses, residual or branch bodies) over "
            f"{_MAX_NESTING} levels deep; describe it with fewer levels (a repeated block, "
            "'(conv3, relu)*10', need not be nested)"
        )
    return net


def _nesting(layers) -> int:
    """How many levels of blocks a sequence of layers nests (0: none), without recursion."""
    deepest, stack = 0, [(layers, 0)]
    while stack:
        seq, level = stack.pop()
        deepest = max(deepest, level)
        for layer in seq:
            if isinstance(layer, Branches):
                stack += [(b, level + 1) for b in layer.branches]
            elif isinstance(layer, Block):
                stack.append((layer.layers, level + 1))
    return deepest


def _as_network(arch, identity=()) -> Network:
    modelled = sorted(set(identity) & _MODELLED) if identity else ()
    if modelled:
        raise ERFError(
            f"--as-identity {','.join(modelled)}: modelled layer types cannot be treated as "
            "identity; the opt-in is for types erftheory refuses (se, attention, ...) or does "
            "not know"
        )
    if isinstance(arch, Network):
        return arch
    if isinstance(arch, dict):
        return from_dict(arch, identity)
    if isinstance(arch, os.PathLike) or (isinstance(arch, str) and arch.endswith(".json")):
        return from_dict(_load_json(Path(arch)), identity)
    if isinstance(arch, str) and arch.lstrip().startswith("{"):
        try:
            spec = json.loads(arch)
        except json.JSONDecodeError as err:
            if os.path.isfile(arch):  # no description: a file of that name (see above)
                return from_dict(_load_json(Path(arch)), identity)
            raise ERFError(
                f"inline JSON architecture: malformed at line {err.lineno}, column {err.colno}: "
                f"{err.msg}"
            ) from None
        return from_dict(spec, identity)
    if isinstance(arch, str):
        if arch.strip().lower() in ZOO:
            return zoo_network(arch.strip())
        try:
            return from_compact(arch, identity)
        except ERFError as err:
            # a file named without .json: read where the name is no description (so a
            # description needs no look at the disk, and a same-named file cannot shadow it)
            if os.path.isfile(arch):
                return from_dict(_load_json(Path(arch)), identity)
            hint = _zoo_hint(arch, identity)
            if hint is None:
                raise
            raise ERFError(hint) from err
    raise ERFError(
        f"cannot read an architecture from {type(arch).__name__}; give a Network, a dict in "
        "the JSON format, a path to a JSON file or a compact string such as 'conv3*10'"
    )


def _zoo_hint(text: str, identity=()) -> str | None:
    """The error for a single word that failed as a compact string but names a model.

    A word is taken for a model name when its leading letters are no layer name (the parser
    stopped at an unknown layer) and it begins a zoo name or is close to one (``difflib``), or
    it looks like a model name (a digit, ``_``, ``-`` or a ``net`` ending, as in
    ``efficientnet_b0``) while its leading letters are not close to a layer name (``conb3``
    stays a layer error). None keeps the parser's error.
    """
    import difflib

    from .zoo import zoo_names

    word = text.strip()
    if not re.fullmatch(r"[A-Za-z][\w.\-]*", word):
        return None
    lead = re.match(r"[a-z]*", word.lower()).group()
    layers = {*_KEYS, *_ALIASES, *_SPATIAL, *_SHORT, *_UNMODELLED, *identity}
    layers |= {"res", "add", "cat", "up", "gap", "aap"}
    if lead in layers:
        return None
    names = zoo_names()
    prefixed = [name for name in names if len(lead) > 2 and name.startswith(word.lower())]
    close = difflib.get_close_matches(word.lower(), names, n=3, cutoff=0.7)
    close = list(dict.fromkeys(prefixed + close))[:3]
    model_like = re.search(r"[\d_\-]|net$", word.lower()) and not difflib.get_close_matches(
        lead, sorted(layers), n=1, cutoff=0.7
    )
    if not close and not model_like:
        return None
    suggestion = ";"
    if close:
        quoted = [repr(name) for name in close]
        choices = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
        suggestion = f"; did you mean {choices}?"
    return (
        f"unknown architecture {word!r}{suggestion} zoo names: {', '.join(names)} "
        "(or give a compact string such as 'conv3*10', or a JSON file)"
    )


def _load_json(path: Path) -> dict:
    try:
        text = path.read_text()
    except OSError as err:
        raise ERFError(f"cannot read the architecture file {str(path)!r}: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise ERFError(
            f"the architecture file {str(path)!r} is not UTF-8 text (byte {err.start}): "
            "give a JSON file"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ERFError(
            f"{path}: malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}"
        ) from None
