"""No import cycles inside or between the apps, and the job engine never imports the domain.

The graph is read from the source with ``ast``, so it sees what importing would do and more: imports
inside functions count (a cycle hidden in a function is still two modules that cannot be understood,
or changed, one without the other); imports under ``if TYPE_CHECKING:`` do not, as Python never runs
them. ``from package import name`` counts as importing ``package.name`` when that is a module.
"""

import ast
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("classifier", "training_jobs", "webapp")


def _modules() -> dict[str, Path]:
    """Every first-party module by dotted name (a package by its own name), migrations left out."""
    found = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" not in parts:
                found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of a module, at any depth, except those that only type checkers run."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
            continue
        pending.extend(ast.iter_child_nodes(node))
    return found


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, modules: dict) -> set[str]:
    """The first-party modules one import statement loads, relative imports resolved."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
    targets = set()
    for alias in node.names:
        if f"{base}.{alias.name}" in modules:
            targets.add(f"{base}.{alias.name}")
        elif base in modules:
            targets.add(base)
    return targets


def import_graph() -> dict[str, dict[str, int]]:
    """{module: {module it imports: line of the first such import}}."""
    modules = _modules()
    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        edges = graph.setdefault(module, {})
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in _import_nodes(tree):
            for target in _targets(module, path.name == "__init__.py", node, modules) - {module}:
                edges[target] = min(edges.get(target, node.lineno), node.lineno)
    return graph


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or not (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph.get(module, {}):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while not group or group[-1] != module:
                group.append(stack.pop())
            groups.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return groups


def shortest_cycle(graph: dict[str, dict[str, int]], group: list[str]) -> str:
    """One cycle through the group's first module, each step with the line of its import."""
    start, members = group[0], set(group)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        module = queue.popleft()
        for target in sorted(graph[module]):
            if target in members and target not in came_from:
                came_from[target] = module
                queue.append(target)
        if start in came_from:
            break
    path, module = [start], start
    while True:
        module = came_from[module]
        path.append(module)
        if module == start:
            break
    path.reverse()
    return " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(path, path[1:], strict=False)) + f" -> {start}"


def test_no_import_cycles() -> None:
    graph = import_graph()
    cycles = [group for group in strongly_connected(graph) if len(group) > 1]
    report = "\n".join(f"{', '.join(group)}\n    e.g. {shortest_cycle(graph, group)}" for group in cycles)
    assert not cycles, f"{len(cycles)} import cycle(s):\n{report}"


def test_the_job_engine_never_imports_the_domain() -> None:
    # training_jobs is the generic engine; classifier registers its job kinds with it (classifier.jobs).
    wrong = [
        f"{module} imports {target} (line {line})"
        for module, edges in import_graph().items()
        if module.split(".")[0] == "training_jobs"
        for target, line in edges.items()
        if target.split(".")[0] == "classifier"
    ]
    assert not wrong, "\n".join(wrong)
