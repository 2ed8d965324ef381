"""Read YAML while remembering where every value came from, so errors can name a line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


class YamlSyntaxError(ValueError):
    """The text is not valid YAML (or repeats a key); `line` is 1-based."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class SourceMap:
    """Line (1-based) of each value, keyed by its path: ("sections", 0, "blocks", 2, "code")."""

    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int:
        """Line of the deepest prefix of `path` that exists in the file (1 if none does)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return 1


def load_yaml(text: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document with the safe loader; return the data and its source map."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, SourceMap()
        source = SourceMap()
        _walk(node, (), source)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        message = " ".join(part for part in (exc.context, exc.problem) if part) or str(exc)
        if exc.problem == "mapping values are not allowed here":
            message += " (a value that contains ': ' must be quoted)"
        raise YamlSyntaxError(line, message) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(1, str(exc)) from exc
    finally:
        loader.dispose()
    return data, source


def _walk(node: yaml.Node, path: Path_, source: SourceMap) -> None:
    source.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
            line = key_node.start_mark.line + 1
            if key in seen:
                # PyYAML silently keeps the last value; an instructor would lose the first one.
                raise YamlSyntaxError(line, f"duplicate key '{key}' (first on line {seen[key]})")
            seen[key] = line
            # Point at the key, not the value: `code:` on line 12 reads better than line 13.
            source.lines[(*path, key)] = line
            _walk(value_node, (*path, key), source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), source)
