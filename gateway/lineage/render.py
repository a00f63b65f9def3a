"""Drawing a lineage graph (its JSON form, as the admin API serves it) as text.

Pure functions of the JSON, importing nothing of the engine: the CLI renders what the API sent,
and the API serves the same drawings (``format=dot|mermaid``).

Graph JSON: ``{"direction", "root", "nodes": [{"id", "repository", "commit_id", "readable",
"commit": {...}|null}], "edges": [{"from", "to", "kind", "path", "ref"}], "truncated",
"hidden"}``; edges point from producer to consumer.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

Json = Mapping[str, Any]


def _when(ts: object) -> str:
    if not isinstance(ts, int | float) or isinstance(ts, bool) or ts <= 0:
        return "-"
    return datetime.datetime.fromtimestamp(int(ts), tz=datetime.UTC).strftime("%Y-%m-%d %H:%M")


def _clean(text: object) -> str:
    """One line, control characters shown escaped (names cannot forge lines)."""
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in str(text))


def node_label(node: Json) -> str:
    """``repo@commit12 "message" (committer, date) {k=v}`` or ``repo@commit12 (not readable)``."""
    head = f"{node.get('repository', '')}@{str(node.get('commit_id', ''))[:12]}"
    c = node.get("commit")
    if not node.get("readable", True) or not isinstance(c, Mapping):
        return head + " (not readable)"
    first = (str(c.get("message") or "").splitlines() or [""])[0]
    text = f'{head} "{first}" ({c.get("committer", "")}, {_when(c.get("creation_date"))})'
    meta = c.get("metadata") or {}
    if isinstance(meta, Mapping) and meta:
        text += " {" + ", ".join(f"{k}={meta[k]}" for k in sorted(meta)) + "}"
    return _clean(text)


def edge_label(edge: Json) -> str:
    kind = str(edge.get("kind", ""))
    path, ref = str(edge.get("path") or ""), str(edge.get("ref") or "")
    if kind == "contains":
        return f"contains {path or '(everything)'}"
    parts = ["input"]
    if path:
        parts.append(path)
    if ref:
        parts.append(f"(ref {ref})")
    return _clean(" ".join(parts))


def tree(graph: Json) -> str:
    """An indented tree from the root: producers below consumers upstream, consumers below
    producers downstream. A node met again is printed once more with "(see above)"."""
    nodes = {str(n["id"]): n for n in graph.get("nodes", [])}
    upstream = graph.get("direction", "upstream") == "upstream"
    children: dict[str, list[tuple[str, Json]]] = {}
    for e in graph.get("edges", []):
        parent, child = (e["to"], e["from"]) if upstream else (e["from"], e["to"])
        children.setdefault(str(parent), []).append((str(child), e))
    root = str(graph.get("root", ""))
    lines = [node_label(nodes.get(root, {"id": root}))]
    shown = {root}

    def walk(nid: str, indent: str) -> None:
        kids = children.get(nid, [])
        for i, (child, e) in enumerate(kids):
            last = i == len(kids) - 1
            branch = "└── " if last else "├── "
            again = child in shown
            label = node_label(nodes.get(child, {"id": child}))
            lines.append(
                f"{indent}{branch}{edge_label(e)}: {label}{' (see above)' if again else ''}"
            )
            if not again:
                shown.add(child)
                walk(child, indent + ("    " if last else "│   "))

    walk(root, "")
    if graph.get("truncated"):
        lines.append("(graph cut at the depth or size limit; use --depth to see more)")
    if graph.get("hidden"):
        lines.append(f"({graph['hidden']} downstream commit(s) in repositories you cannot read)")
    return "\n".join(lines) + "\n"


def _dot_id(nid: str) -> str:
    return '"' + nid.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(graph: Json) -> str:
    """Graphviz: ``weir lineage ... --format dot | dot -Tsvg > lineage.svg``."""
    out = ["digraph lineage {", "  rankdir=LR;", '  node [shape=box, fontname="monospace"];']
    root = graph.get("root")
    for n in graph.get("nodes", []):
        label = node_label(n).replace("\\", "\\\\").replace('"', '\\"')
        style = ", style=bold" if n.get("id") == root else ""
        style += ", style=dashed" if not n.get("readable", True) else ""
        out.append(f'  {_dot_id(str(n["id"]))} [label="{label}"{style}];')
    for e in graph.get("edges", []):
        label = edge_label(e).replace("\\", "\\\\").replace('"', '\\"')
        out.append(f'  {_dot_id(str(e["from"]))} -> {_dot_id(str(e["to"]))} [label="{label}"];')
    out.append("}")
    return "\n".join(out) + "\n"


def _mermaid_text(text: str) -> str:
    return re.sub(r'["<>#]', lambda m: f"#{ord(m.group(0))};", text)


def mermaid(graph: Json) -> str:
    """A Mermaid flowchart (renders in GitHub and GitLab Markdown)."""
    ids = {str(n["id"]): f"n{i}" for i, n in enumerate(graph.get("nodes", []))}
    out = ["flowchart LR"]
    for n in graph.get("nodes", []):
        out.append(f'  {ids[str(n["id"])]}["{_mermaid_text(node_label(n))}"]')
    for e in graph.get("edges", []):
        src, dst = ids.get(str(e["from"])), ids.get(str(e["to"]))
        if src and dst:
            out.append(f'  {src} -->|"{_mermaid_text(edge_label(e))}"| {dst}')
    return "\n".join(out) + "\n"


FORMATS = {"tree": tree, "dot": dot, "mermaid": mermaid}
