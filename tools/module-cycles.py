"""Lists module cycles inside each crate of the workspace (and in the CLI's command modules).

A module is a top-level module of a crate (its submodules' files count as the module, so a
parent and its children are one unit), except in crates/prefscope/src/commands, where each
command file is one. A module's edges are the `crate::NAME` (and, among the commands,
`super::NAME`) paths its files mention outside comments; a cycle is a strongly connected
component of two or more modules. Prints each cycle and exits 1 when there is one, 0 otherwise.

Run from the repository root: python3 tools/module-cycles.py
"""

import pathlib
import re
import sys


def strip_comments(text):
    return "\n".join(line.split("//")[0] for line in text.splitlines())


def modules(src):
    files = {}
    for path in src.rglob("*.rs"):
        rel = path.relative_to(src).with_suffix("")
        parts = [p for p in rel.parts if p != "mod"]
        if parts in (["lib"], ["main"], ["torch_main"]):
            continue
        files[parts[0] if len(parts) == 1 or parts[0] != "commands" else "commands::" + parts[1]] = path
    return files


def edges(files):
    names = set(files)
    graph = {m: set() for m in files}
    for m, path in files.items():
        text = strip_comments(path.read_text())
        for target in re.findall(r"crate::(\w+)", text):
            if target in names and target != m:
                graph[m].add(target)
        if m.startswith("commands::"):
            for target in re.findall(r"super::(\w+)", text):
                t = "commands::" + target
                if t in names and t != m:
                    graph[m].add(t)
        # `use crate::{a, b::c}` groups
        for group in re.findall(r"use crate::\{([^}]*)\}", text, re.S):
            for target in re.findall(r"(?:^|,)\s*(\w+)", group):
                if target in names and target != m:
                    graph[m].add(target)
    return graph


def cycles(graph):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


found = 0
for src in sorted(pathlib.Path("crates").glob("*/src")):
    for comp in cycles(edges(modules(src))):
        print(f"{src.parent.name}: {' <-> '.join(comp)}")
        found += 1
print(f"{found} module cycle(s)")
sys.exit(1 if found else 0)
