"""A griffe extension: Sphinx roles in arunner's docstrings become Markdown.

The docstrings are written for ``help()`` and editors, with the odd
``:class:`asyncio.Runner``` role.  In the API reference a role naming one
of arunner's own objects becomes a link to it, and any other becomes code.
No inventory of the standard library is fetched: the build stays offline.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|exc|mod|obj|data):`~?([\w.]+)`")


class SphinxRoles(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        public = {name for name in pkg.members if not name.startswith("_")}
        for obj in _objects(pkg):
            if obj.docstring is not None:
                obj.docstring.value = _ROLE.sub(
                    lambda match: _markdown(match[1], pkg.name, public),
                    obj.docstring.value,
                )


def _objects(obj: griffe.Object) -> list[griffe.Object]:
    found = [obj]
    for member in obj.members.values():
        if not member.is_alias:
            found += _objects(member)  # type: ignore[arg-type]
    return found


def _markdown(target: str, package: str, public: set[str]) -> str:
    if target.split(".", maxsplit=1)[0] in public:
        return f"[`{target}`][{package}.{target}]"
    return f"`{target}`"
