"""A griffe extension: a constant's ``#:`` comment is its docstring in the API reference.

The package documents its constants the way Sphinx reads them::

    #: The tidy table's columns, in order (SPEC section 3).
    TIDY_COLUMNS: Final = (...)

griffe reads only string literals placed after an assignment, so without this the
reference would show ``RATES`` or ``TIDY_COLUMNS`` with no words at all. A few docstrings
also use Sphinx roles (``:func:`fit_lag```); they are shown as code.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import griffe


def comment_above(attr: griffe.Object) -> str | None:
    """The ``#:`` lines right above an attribute's assignment, joined; None if there are none."""
    if attr.lineno is None or not isinstance(attr.filepath, Path):
        return None
    try:
        lines = attr.lines_collection[attr.filepath]
    except KeyError:
        return None
    found: list[str] = []
    i = attr.lineno - 2  # the line above the assignment, 0-based
    while i >= 0 and lines[i].lstrip().startswith("#:"):
        found.append(lines[i].lstrip()[2:].strip())
        i -= 1
    return "\n".join(reversed(found)) or None


#: A Sphinx role (``:func:`sync```, ``:class:`~x.Y```), which Markdown would show as it is.
_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|mod|data|exc|obj|const):`~?([^`]+)`")


def plain_roles(text: str) -> str:
    """``:func:`sync``` -> ```sync```: the name as code, as the rest of the docstrings write it."""
    return _ROLE.sub(r"`\1`", text)


class CommentDocstrings(griffe.Extension):
    """Attributes get the ``#:`` comment above them; Sphinx roles read as code."""

    def on_instance(self, *, node: ast.AST | griffe.ObjectNode, obj: griffe.Object, agent: Any,
                    **kwargs: Any) -> None:
        """Show Sphinx roles as code in every docstring."""
        if obj.docstring is not None:
            obj.docstring.value = plain_roles(obj.docstring.value)

    def on_attribute_instance(self, *, node: ast.AST | griffe.ObjectNode, attr: griffe.Attribute,
                              agent: Any, **kwargs: Any) -> None:
        """Give an attribute without a docstring the ``#:`` comment above it."""
        if attr.docstring is None:
            text = comment_above(attr)
            if text:
                attr.docstring = griffe.Docstring(plain_roles(text), lineno=attr.lineno, parent=attr)
