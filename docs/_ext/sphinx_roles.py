"""Griffe extension: render the Sphinx roles of numpydoc docstrings in MkDocs.

The docstrings follow numpydoc and cross-reference with Sphinx roles (``:class:`X```,
``:meth:`~a.b.c```). mkdocstrings would show those roles as literal text, so this extension
rewrites them to inline code before the docstrings are parsed. A reference becomes a link only
when its target is certainly rendered in the API reference: a name of ``dask_anomaly.__all__``
or a documented public member of one, which keeps ``mkdocs build --strict`` free of unresolved
references when docstrings change.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(
    r":(?:py:)?(?:class|func|meth|mod|data|attr|obj|exc):`(?P<tilde>~?)(?P<target>[^`]+)`"
)
PACKAGE = "dask_anomaly"


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring of the package to Markdown."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Rewrite the docstrings once the whole package is loaded."""
        if pkg.name != PACKAGE:
            return
        public = _public_names(pkg)
        for obj in _walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = _rewrite(obj.docstring.value, obj, public)


def _public_names(pkg: griffe.Module) -> set[str]:
    """Identifiers rendered by docs/reference/api.md: public names and their documented members."""
    try:
        exported = [str(name) for name in pkg.exports or []]
    except Exception:  # pragma: no cover - __all__ not statically readable
        exported = []
    names = set()
    for name in exported:
        if name not in pkg.members:
            continue
        names.add(f"{PACKAGE}.{name}")
        try:
            member = pkg.members[name]
            target = member.final_target if member.is_alias else member
            members = target.all_members if target.is_class else {}
        except Exception:  # pragma: no cover - unresolvable alias
            continue
        for member_name, member in members.items():
            if not member_name.startswith("_") and member.docstring is not None:
                names.add(f"{PACKAGE}.{name}.{member_name}")
    return names


def _walk(obj: griffe.Object) -> list[griffe.Object]:
    """The object and every non-alias member below it."""
    found = [obj]
    for member in obj.members.values():
        if not member.is_alias:
            found.extend(_walk(member))  # type: ignore[arg-type]
    return found


def _rewrite(text: str, obj: griffe.Object, public: set[str]) -> str:
    """Replace every Sphinx role in ``text``, the docstring of ``obj``."""
    return ROLE.sub(lambda match: _replace(match, obj, public), text)


def _replace(match: re.Match[str], obj: griffe.Object, public: set[str]) -> str:
    """Inline code for one role; a link when the target is rendered in the reference."""
    target = match["target"].strip()
    shown = target.rsplit(".", 1)[-1] if match["tilde"] else target
    for candidate in _candidates(target, obj):
        if candidate in public:
            return f"[`{shown}`][{candidate}]"
    return f"`{shown}`"


def _candidates(target: str, obj: griffe.Object) -> list[str]:
    """Full identifiers a (possibly relative) target may mean, as rendered in the reference."""
    names = [target]
    if not target.startswith(f"{PACKAGE}."):
        names.append(f"{PACKAGE}.{target}")
    else:  # dask_anomaly.module.Name -> dask_anomaly.Name (re-exported)
        names.append(f"{PACKAGE}.{target.split('.', 2)[-1]}")
    owner = obj if obj.is_class else obj.parent
    if owner is not None and owner.is_class:  # :meth:`save` inside a class
        names.append(f"{PACKAGE}.{owner.name}.{target}")
    return names
