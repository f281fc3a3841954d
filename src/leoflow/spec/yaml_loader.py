"""Safe YAML loading that refuses duplicate keys and can point at source lines.

A YAML mapping with the same key twice is legal for many loaders, which keep the last value:
an override a person wrote would vanish without a word. Here the document is first composed
into nodes, every mapping is checked for repeated keys (reporting both lines), and only then
constructed with ruamel.yaml's safe constructor (no arbitrary Python objects).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from leoflow.spec.errors import Loc, SpecError

_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML document: its plain data and its node tree (for line lookups)."""

    data: Any
    root: Node | None

    def line_of(self, loc: Loc) -> int | None:
        """1-based line of the key or item at ``loc`` (deepest match found), if known."""
        node = self.root
        line: int | None = None
        for part in loc:
            found = _child(node, part)
            if found is None:
                break
            key_node, node = found
            line = key_node.start_mark.line + 1
        return line


def _child(node: Node | None, part: int | str) -> tuple[Node, Node] | None:
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.value == str(part):
                return key, value
    elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        item: Node = node.value[part]
        return item, item
    return None


def _mappings(root: Node) -> Iterator[MappingNode]:
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            yield node
            stack.extend(value for pair in node.value for value in pair)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)


def duplicate_key_problems(root: Node) -> list[str]:
    """One line per key repeated within a mapping, naming the key and both lines."""
    problems: list[tuple[int, str]] = []
    for mapping in _mappings(root):
        first_line: dict[tuple[str, str], int] = {}
        for key, _ in mapping.value:
            if not isinstance(key, ScalarNode) or key.tag == _MERGE_TAG:
                continue
            line = key.start_mark.line + 1
            ident = (str(key.tag), str(key.value))
            if ident in first_line:
                problems.append(
                    (
                        line,
                        f"line {line}: duplicate key '{key.value}' (first defined at line "
                        f"{first_line[ident]}); keep only one",
                    )
                )
            else:
                first_line[ident] = line
    return [message for _, message in sorted(problems)]


def load_yaml_document(text: str, *, document: str, source: str | None = None) -> YamlDocument:
    """Parse ``text`` with the safe loader; duplicate keys and syntax errors raise ``SpecError``."""
    yaml = YAML(typ="safe", pure=True)
    try:
        root = yaml.compose(text)
        if root is not None:
            problems = duplicate_key_problems(root)
            if problems:
                raise SpecError(problems, document=document, source=source)
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError(
            [f"{where}not valid YAML: {problem}"], document=document, source=source
        ) from None
    except YAMLError as exc:
        raise SpecError([f"not valid YAML: {exc}"], document=document, source=source) from None
    return YamlDocument(data=data, root=root)
