"""The YAML edge of ``fwctl convert cookbook``: a cookbook provisioning file in (with the position of
every key), fwctl manifest text out. The mapping between them is ``reconciler.convert``'s."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from reconciler.manifest._yaml import ParsedDocument, decode, parse
from reconciler.model.problems import ManifestError, Problem


def read_cookbook_config(path: str) -> ParsedDocument:
    """The one YAML mapping of a cookbook provisioning file; ``ManifestError`` (located) otherwise."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ManifestError([Problem(path, None, None, None, None, f"cannot read: {exc.strerror or exc}")]) from None
    text, problem = decode(path, raw)
    if problem is not None or text is None:
        raise ManifestError([problem or Problem(path, None, None, None, None, "cannot read")])
    parsed = parse(path, text)
    if parsed.problems:
        raise ManifestError(parsed.problems)
    if len(parsed.documents) != 1 or not isinstance(parsed.documents[0].data, dict):
        where = parsed.documents[1].position if len(parsed.documents) > 1 else (1, 1)
        raise ManifestError([Problem(path, where[0], where[1], None, None,
                                     "a cookbook provisioning config is one YAML mapping "
                                     "(common, trainers, deployments, recipe)")])
    return parsed.documents[0]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def manifest_text(documents: Iterable[dict[str, Any]], header: str = "") -> str:
    """fwctl manifest documents as YAML, keys in the order given, ``---`` between documents."""
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    bodies = [yaml.safe_dump(_plain(doc), sort_keys=False, default_flow_style=False, allow_unicode=True)
              for doc in documents]
    return comment + "---\n".join(bodies)


__all__ = ["manifest_text", "read_cookbook_config"]
