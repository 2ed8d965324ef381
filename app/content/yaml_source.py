"""Read YAML while remembering where every value came from, so errors can name a line.

Every content file goes through `load_file` (or `load_yaml` for text already read): whatever
bytes a file holds, the result is its data or a `YamlSyntaxError` with a 1-based line, never
another exception. What a hostile or broken file could cost is bounded before it is spent:
the file's size, the nesting depth, the number of values once aliases are expanded (a
"billion laughs" file is refused at the alias that crosses the bound), an alias inside the
value it names, and integers too long to convert. A file reached through a symlink that
leaves its folder is refused without being read.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.reader import Reader
from yaml.resolver import Resolver

try:  # libyaml's C parser, where PyYAML was built with it (the wheels are)
    from yaml.cyaml import CParser
except ImportError:  # pragma: no cover - a PyYAML without libyaml reads with the Python parser alone
    CParser = None

from app.content.filecache import cached

Path_ = tuple[str | int, ...]

MAX_FILE_BYTES = 1_000_000
"""The largest content file read (the largest in the repository is about 25 kB)."""
MAX_DEPTH = 40
"""Deepest nesting of lists and mappings (a lesson needs about 8)."""
MAX_NODES = 100_000
"""Most values in one file, counting each alias as a copy of what it names."""
MAX_INT_DIGITS = 100
"""Longest integer literal; anything longer is a typo or an attack, not content."""


class YamlSyntaxError(ValueError):
    """The text is not valid YAML, repeats a key or breaks a bound; `line` is 1-based."""

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


class _Bounded(yaml.MarkedYAMLError):
    """A bound of this module, raised at the mark where it was crossed."""


class _Bounds(Composer):
    """The bounds above, checked while the node tree is composed (PyYAML's Python composer, whatever
    parser feeds it events)."""

    def _start_bounds(self) -> None:
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(node) -> values it expands to, once it is complete

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            # A node's size is recorded when it is complete: an alias to one without is inside it.
            if target is not None and id(target) not in self._sizes:
                raise _Bounded(None, None, f"alias *{event.anchor} is used inside the value it names", event.start_mark)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Bounded(None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if self._size(node) > MAX_NODES:
            raise _Bounded(
                None, None, f"more than {MAX_NODES} values once aliases are expanded (an alias bomb?)", event.start_mark
            )
        return node

    def _size(self, node: yaml.Node) -> int:
        cached = self._sizes.get(id(node))
        if cached is not None:
            return cached
        if isinstance(node, yaml.SequenceNode):
            size = 1 + sum(self._sizes.get(id(child), 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            size = 1 + sum(self._sizes.get(id(k), 1) + self._sizes.get(id(v), 1) for k, v in node.value)
        else:
            size = 1
        self._sizes[id(node)] = size
        return size

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        digits = sum(ch.isdigit() for ch in node.value)
        if digits > MAX_INT_DIGITS:
            raise _Bounded(None, None, f"an integer of {digits} digits (at most {MAX_INT_DIGITS})", node.start_mark)
        return SafeConstructor.construct_yaml_int(self, node)

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return SafeConstructor.construct_yaml_timestamp(self, node)
        except ValueError as exc:  # 2024-02-30 matches the pattern, then fails as a date
            raise _Bounded(None, None, f"'{node.value}' is not a date ({exc}); quote it", node.start_mark) from exc


class _BoundedLoader(_Bounds, yaml.SafeLoader):
    """PyYAML's pure-Python safe loader with the bounds: the reference, and the one whose messages
    (a line, a hint) every error is reported with."""

    def __init__(self, stream: str):
        yaml.SafeLoader.__init__(self, stream)
        self._start_bounds()


_LOADERS: list[type] = [_BoundedLoader]
if CParser is not None:

    class _FastBoundedLoader(_Bounds, CParser, SafeConstructor, Resolver):
        """The same loader with libyaml's C scanner and parser under the Python composer, so the bounds
        hold: about six times faster on our content files. Used for files that read without error."""

        def __init__(self, stream: str):
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            self._start_bounds()

        def compose_scalar_node(self, anchor: str | None) -> yaml.ScalarNode:
            event = self.peek_event()
            if event.tag == "!":  # the non-specific tag: PyYAML's parser resolves it as plain, libyaml as str
                event.implicit = (True, False)
            return super().compose_scalar_node(anchor)

    _LOADERS.insert(0, _FastBoundedLoader)

for _loader in _LOADERS:
    _loader.add_constructor("tag:yaml.org,2002:int", _Bounds.construct_yaml_int)
    _loader.add_constructor("tag:yaml.org,2002:timestamp", _Bounds.construct_yaml_timestamp)


def load_yaml(text: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document with the bounded safe loader; return the data and its source map.

    Raises only YamlSyntaxError, whatever `text` holds. A file is read with libyaml's parser where
    PyYAML has it; a file that fails there (or holds a character the Python reader refuses) is read
    again with the pure-Python loader, whose error names the line and gives the hint, so every
    message is the same whichever parser ran first.
    """
    if len(_LOADERS) > 1 and len(text) <= MAX_FILE_BYTES and not Reader.NON_PRINTABLE.search(text):
        with contextlib.suppress(YamlSyntaxError):  # read again below, for the reference loader's message
            return _load_with(_LOADERS[0], text)
    return _load_with(_BoundedLoader, text)


def _load_with(loader_class: type, text: str) -> tuple[Any, SourceMap]:
    loader: Any = None
    try:
        if len(text) > MAX_FILE_BYTES:
            raise YamlSyntaxError(1, f"the file is {len(text)} characters long; the limit is {MAX_FILE_BYTES}")
        loader = loader_class(text)  # the reader checks the characters here: inside the try
        node = loader.get_single_node()
        if node is None:
            return None, SourceMap()
        source = SourceMap()
        _walk(node, source)
        data = loader.construct_document(node)
    except YamlSyntaxError:
        raise
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        message = (
            f"character {char!r} (code {ord(char):#04x}) is not allowed in YAML; "
            "remove it (a control character usually comes from a copy-paste)"
        )
        raise YamlSyntaxError(line, message) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        message = " ".join(part for part in (exc.context, exc.problem) if part) or str(exc)
        message += _hint(exc, text, mark)
        raise YamlSyntaxError(line, message) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(1, str(exc)) from exc
    except RecursionError as exc:  # a bound above should come first; this is the backstop
        raise YamlSyntaxError(1, f"nested too deeply to read (at most {MAX_DEPTH} levels)") from exc
    except MemoryError as exc:
        raise YamlSyntaxError(1, "the file needs too much memory to read") from exc
    except Exception as exc:  # anything else a hostile file provokes is still this file's error
        raise YamlSyntaxError(1, f"could not read the file: {type(exc).__name__}: {exc}") from exc
    finally:
        if loader is not None:
            with contextlib.suppress(Exception):  # disposing a half-built loader must not mask the error
                loader.dispose()
    return data, source


def load_file(path: Path, root: Path | None = None) -> tuple[Any, SourceMap]:
    """Read and parse one content file; raise YamlSyntaxError (with a line) for any problem.

    `root` is the folder the file was found in: a file that resolves outside it (a symlink to
    /etc/shadow) is refused before a byte of it is read. Files larger than MAX_FILE_BYTES are
    refused from their size alone.
    """
    return load_yaml(read_text(path, root))


def load_file_cached(path: Path, root: Path | None = None) -> tuple[Any, SourceMap]:
    """`load_file`, parsed once while the file is unchanged (`app.content.filecache`): the lesson
    loader, the lesson ids a bank checks against and the grader's bank read the same files.
    The data is shared between callers: read it, never change it."""
    # The real path is part of the key: a link pointed elsewhere is checked (and read) again.
    result = cached("yaml", path, lambda: _load_or_error(path, root), (str(root), os.path.realpath(path)))
    if isinstance(result, YamlSyntaxError):
        raise YamlSyntaxError(result.line, result.message)
    return result


def _load_or_error(path: Path, root: Path | None) -> tuple[Any, SourceMap] | YamlSyntaxError:
    try:
        return load_file(path, root)
    except YamlSyntaxError as exc:
        return exc


def read_text(path: Path, root: Path | None = None) -> str:
    """A content file's text under the same rules as `load_file` (also for showing excerpts)."""
    try:
        if root is not None:
            real, real_root = Path(os.path.realpath(path)), Path(os.path.realpath(root))
            if real != real_root and real_root not in real.parents:
                raise YamlSyntaxError(
                    1, f"this file is a link to {real}, outside {root}; content files must live in their folder"
                )
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise YamlSyntaxError(1, f"the file is {size} bytes; the limit is {MAX_FILE_BYTES}")
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except YamlSyntaxError:
        raise
    except OSError as exc:
        raise YamlSyntaxError(1, f"cannot read the file: {exc.strerror or exc}") from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise YamlSyntaxError(line, f"not UTF-8 text: byte {raw[exc.start]:#04x} cannot be decoded") from exc


def _hint(exc: yaml.MarkedYAMLError, text: str, mark: Any) -> str:
    if exc.problem == "mapping values are not allowed here":
        return " (a value that contains ': ' must be quoted)"
    if "expected <block end>" in (exc.problem or "") or (exc.context or "").startswith("while parsing a block"):
        return _stray_quote(text, mark)
    return ""


def _stray_quote(text: str, mark: Any) -> str:
    """Name the quote that ended a single-quoted string early: `'the agent's policy'`."""
    if mark is None:
        return ""
    lines = text.split("\n")
    for number in (mark.line, mark.line - 1):
        if not 0 <= number < len(lines):
            continue
        line = lines[number]
        start = line.find(": '")
        opening = start + 2 if start >= 0 else (line.find("- '") + 2 if line.lstrip().startswith("- '") else -1)
        if opening < 2:
            continue
        closing = line.find("'", opening + 1)
        while closing != -1 and line[closing + 1 : closing + 2] == "'":  # '' is an escaped quote
            closing = line.find("'", closing + 2)
        if closing != -1 and line[closing + 1 :].strip():
            word = line[max(opening + 1, closing - 12) : closing + 2]
            return (
                f" (line {number + 1}: the quote in '...{word}...' at column {closing + 1} ends the single-quoted"
                " string early; write it twice ('') or use double quotes or a block scalar)"
            )
    return ""


def _walk(root: yaml.Node, source: SourceMap) -> None:
    # Iterative, so no file can exhaust the stack here; the composer already bounded the size.
    stack: list[tuple[yaml.Node, Path_]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        source.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            children = []
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
                line = key_node.start_mark.line + 1
                if key in seen:
                    # PyYAML silently keeps the last value; an instructor would lose the first one.
                    raise YamlSyntaxError(line, f"duplicate key '{key}' (first on line {seen[key]})")
                seen[key] = line
                # Point at the key, not the value: `code:` on line 12 reads better than line 13.
                source.lines.setdefault((*path, key), line)
                children.append((value_node, (*path, key)))
            stack.extend(reversed(children))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed([(item, (*path, index)) for index, item in enumerate(node.value)]))
