"""Reading a YAML document a user wrote (``--config``, ``--lakebench-config``): one home for the
rules, so both files are refused alike, in one line, quickly.

PyYAML alone accepts a key given twice (the last one silently wins), reports a syntax error
without saying it is the user's line 7 in a way our one-line errors keep, builds a structure
whose aliases expand to billions of values (whoever walks it then grows to gigabytes), and hits
Python's recursion limit on deep nesting. Here each of those is a :class:`ConfigError` naming
the line, the key or the limit.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from .errors import ConfigError

#: Values a document may expand to through its aliases (a real config has a few hundred).
MAX_YAML_VALUES = 100_000
#: Nesting a document may have (a real config has under ten levels).
MAX_YAML_DEPTH = 100


class _Loader(yaml.SafeLoader):
    """Safe loading that names a key given twice and stops at the depth limit."""

    def compose_node(self, parent, index):
        depth = getattr(self, "_depth", 0) + 1
        if depth > MAX_YAML_DEPTH:
            mark = self.peek_event().start_mark
            raise ConfigError(f"line {mark.line + 1}: nested deeper than {MAX_YAML_DEPTH} levels")
        self._depth = depth
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth = depth - 1

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:  # an unhashable key: PyYAML says so below
                continue
            if first != key_node.start_mark.line + 1:
                raise ConfigError(f"line {key_node.start_mark.line + 1}: key {key!r} is given twice "
                                  f"(first on line {first}): keep one")
        return super().construct_mapping(node, deep=deep)


class _ConfigLoader(_Loader):
    """As OmegaConf reads a config file: dates stay text (``timestamp_start: 2024-01-01`` is a
    string key), and ``1e3`` is a float as in YAML 1.2, not a string as in YAML 1.1."""


_ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _Loader.yaml_implicit_resolvers.items()
}
_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                  |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
                  |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                  |[-+]?\.(?:inf|Inf|INF)
                  |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


def _expanded_size(node: yaml.Node, limit: int) -> int:
    """How many values ``node`` stands for once every alias is written out (memoized per node,
    so counting costs the document's size, not its expansion); stops counting past ``limit``."""
    sizes: dict[int, int] = {}

    def size(current: yaml.Node) -> int:
        known = sizes.get(id(current))
        if known is not None:
            return known
        total = 1
        if isinstance(current, yaml.SequenceNode):
            for child in current.value:
                total += size(child)
                if total > limit:
                    break
        elif isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                total += size(key) + size(value)
                if total > limit:
                    break
        sizes[id(current)] = total
        return total

    return size(node)


def load_yaml(text: str, source: str, *, dates: bool = True) -> Any:
    """The document in ``text`` as plain Python values; ``source`` names it in the one-line
    errors (``config file 'x.yaml'``). ``dates=False`` reads it as OmegaConf does (see
    :class:`_ConfigLoader`): for this project's own config files."""
    loader = (_Loader if dates else _ConfigLoader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, MAX_YAML_VALUES) > MAX_YAML_VALUES:
            raise ConfigError(f"expands to more than {MAX_YAML_VALUES:,} values through its aliases "
                              "(&anchor / *alias): write the values out")
        return loader.construct_document(node)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        raise ConfigError(f"{source} is not valid YAML: {where}{what}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {' '.join(str(exc).split())[:200]}") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply") from None
    finally:
        loader.dispose()


def load_mapping(text: str, source: str, *, dates: bool = True) -> dict:
    """A document that must be a mapping of keys to values (an empty document is an empty one)."""
    data = load_yaml(text, source, dates=dates)
    if data is None:
        return {}
    if not isinstance(data, dict):
        shown = repr(data) if len(repr(data)) <= 60 else repr(data)[:57] + "..."
        hint = "; KEY=VALUE overrides go on the command line" if isinstance(data, str) and "=" in data else ""
        raise ConfigError(f"{source} must hold a mapping of keys to values (KEY: VALUE lines), "
                          f"not a {type(data).__name__} ({shown}){hint}")
    return data


__all__ = ["MAX_YAML_DEPTH", "MAX_YAML_VALUES", "load_mapping", "load_yaml"]
