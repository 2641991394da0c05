"""YAML from a learner, bounded before anything walks it: size, nesting depth, and what aliases expand to.

A "billion laughs" file is a few hundred bytes whose aliases expand to billions of nodes: PyYAML's
node tree shares them (cheap), but whatever walks the tree as data (a policy, `json.dumps`,
`docker compose config`) pays for every expansion. We count the expanded tree on the shared one
(each node once, memoised), so refusing costs what the file costs, and say which bound it broke.

Once bounded, a compose file is read as data the way Compose reads it: YAML 1.2 (`load_data`). PyYAML is
YAML 1.1, where `DEBUG: yes` is the boolean True and `- 22:22` the number 1342 (base 60); Compose (go-yaml v3)
reads both as the strings the learner wrote, so a rubric that read them PyYAML's way would grade the wrong value.
"""

from __future__ import annotations

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError as Yaml12Error
from yaml.nodes import MappingNode, Node, SequenceNode

MAX_BYTES = 1 * 2**20
MAX_DEPTH = 64  # an honest compose file nests under 10 levels
MAX_EXPANDED_NODES = 200_000  # an honest compose file is a few hundred nodes, aliases expanded


class YamlTooCostly(ValueError):
    """`where` is `file:line` of the node that broke the bound, `bound` says which one."""

    def __init__(self, message: str, where: str, bound: str):
        super().__init__(message)
        self.where = where
        self.bound = bound


def check_text(text: str, name: str = "the YAML file") -> Node | None:
    """The node tree of `text`, refused (YamlTooCostly) when it is too big, too deep, or its aliases expand too far.
    A YAML syntax error is raised as PyYAML's own (callers already report those)."""
    if len(text.encode("utf-8", "replace")) > MAX_BYTES:
        raise YamlTooCostly(f"{name} is over {MAX_BYTES // 2**20} MiB: that is not a compose file", name, "size")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise YamlTooCostly(f"{name}: the YAML nests deeper than {MAX_DEPTH} levels", name, "nesting") from None
    if root is not None:
        check_nodes(root, name)
    return root


def check_nodes(root: Node, name: str = "the YAML file") -> None:
    sizes: dict[int, int] = {}

    def where(node: Node) -> str:
        mark = getattr(node, "start_mark", None)
        return f"{name}:{mark.line + 1}" if mark is not None else name

    def size(node: Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise YamlTooCostly(f"{where(node)}: the YAML nests deeper than {MAX_DEPTH} levels (aliases expanded)",
                                where(node), "nesting")
        known = sizes.get(id(node))
        if known is not None:
            if depth + _height.get(id(node), 0) > MAX_DEPTH:
                raise YamlTooCostly(f"{where(node)}: the YAML nests deeper than {MAX_DEPTH} levels (aliases expanded)",
                                    where(node), "nesting")
            return known
        total, height = 1, 0
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        for child in children:
            total += size(child, depth + 1)
            height = max(height, _height.get(id(child), 0) + 1)
            if total > MAX_EXPANDED_NODES:
                raise YamlTooCostly(
                    f"{where(node)}: the YAML's aliases expand to more than {MAX_EXPANDED_NODES:,} nodes "
                    "(a \"billion laughs\" file); write the values out, or use fewer nested aliases",
                    where(node), "aliases")
        sizes[id(node)] = total
        _height[id(node)] = height
        return total

    _height: dict[int, int] = {}
    size(root, 0)


def load_data(text: str, name: str = "the YAML file"):
    """`text` (already bounded by `check_text`) as plain data, by YAML 1.2's rules as Compose reads it.
    A YAML error is raised as PyYAML's own, with its line, so callers report both loaders' errors alike."""
    try:
        return YAML(typ="safe", pure=True).load(text)  # a loader per call: ruamel's is not thread-safe
    except Yaml12Error as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        raise yaml.MarkedYAMLError(problem=problem, problem_mark=mark) from None
