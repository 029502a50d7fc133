"""YAML parsed with its node tree kept, so that any value can be traced back to line:column."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Loc = tuple[str | int, ...]
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class YamlSyntaxError(Exception):
    """A file that is not valid YAML; line and column are 1-based."""

    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(f"{line}:{column}: {message}")
        self.line, self.column, self.message = line, column, message


class _Loader(yaml.SafeLoader):
    """SafeLoader that names the node whose value cannot be constructed (`!!int abc`)."""

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError) as exc:
            problem = f"cannot read this value ({exc})"
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from exc


def parse(text: str) -> tuple[Node | None, Any]:
    """Compose and construct one YAML document; raise YamlSyntaxError with its position."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        kind = (
            "YAML error"
            if isinstance(exc, yaml.constructor.ConstructorError)
            else "YAML syntax error"
        )
        raise YamlSyntaxError(line, column, f"{kind}: {what}") from exc
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise YamlSyntaxError(line, column, f"YAML syntax error: {exc.reason}") from exc
    finally:
        loader.dispose()
    return node, data


def position(node: Node) -> tuple[int, int]:
    """The 1-based line and column where a node starts."""
    return node.start_mark.line + 1, node.start_mark.column + 1


def locate(root: Node, loc: Loc, *, key: bool = False) -> Node:
    """The node at `loc`, or the deepest one that exists; `key` returns a mapping key's node."""
    node = root
    for n, part in enumerate(loc):
        child = _child(node, part, want_key=key and n == len(loc) - 1)
        if child is None:
            return node
        node = child
    return node


def _child(node: Node, part: str | int, *, want_key: bool) -> Node | None:
    if isinstance(node, MappingNode):
        # The last of repeated keys wins, as it does when PyYAML constructs the mapping.
        for key_node, value_node in reversed(node.value):
            if isinstance(key_node, ScalarNode) and key_node.value == str(part):
                return key_node if want_key else value_node
    elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return node.value[part]  # type: ignore[no-any-return]
    return None


def duplicate_keys(node: Node, loc: Loc = ()) -> Iterator[tuple[Loc, Node]]:
    """Yield (loc, key node) for every key repeated within one mapping (YAML would keep the last)."""
    if isinstance(node, MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            name = key_node.value if isinstance(key_node, ScalarNode) else None
            if name is not None and name in seen:
                yield (*loc, name), key_node
            if name is not None:
                seen.add(name)
            yield from duplicate_keys(value_node, (*loc, name if name is not None else "?"))
    elif isinstance(node, SequenceNode):
        for n, item in enumerate(node.value):
            yield from duplicate_keys(item, (*loc, n))


def dotted(loc: Loc) -> str:
    """`('indikatorer', 3, 'kind')` → `indikatorer[3].kind`."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part != "[key]":
            text += f".{part}" if text else str(part)
    return text


def undotted(path: str) -> Loc:
    """`indikatorer[3].sources[0]` → `('indikatorer', 3, 'sources', 0)`."""
    return tuple(int(m[2]) if m[2] else m[1] for m in _PATH_PART.finditer(path))
