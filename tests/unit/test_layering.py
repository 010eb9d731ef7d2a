"""The runtime stays installable on an edge box: edge_app imports neither convert nor the toolchain's packages."""

from support import REPO


def test_runtime_dependencies_are_minimal():
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {d.split("=")[0].split(">")[0].split("<")[0].strip() for d in deps}
    # paho: MQTT; av: PyAV; ruamel.yaml: the zone editor keeps the config file's comments; prometheus_client: /metrics;
    # apprise: notifications; cryptography: the console's self-signed certificate
    assert names == {"openvino", "opencv-python", "numpy", "pyyaml", "paho-mqtt", "av", "ruamel.yaml",
                     "prometheus_client", "apprise", "cryptography"}


def import_graph() -> dict[str, set[str]]:
    """edge_app's parts (a subpackage, or a top-level module) and the parts each imports (any import in the file,
    inside functions too)."""
    import ast

    root = REPO / "edge_app"
    graph: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).parts
        part = rel[0].removesuffix(".py")
        tree = ast.parse(path.read_text())
        names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and not n.level} | \
            {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        targets = {m.split(".")[1] for m in names if m.startswith("edge_app.")}
        graph.setdefault(part, set()).update(t for t in targets if t != part)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph (a list of nodes, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_between_the_runtime_parts():
    """Data flows one way (sources -> pose -> tracking -> analysis -> alerts -> render -> web): no part of edge_app
    imports, directly or through others, a part that imports it."""
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_no_package_cycle_between_render_and_web():
    """The render side publishes views; the web side reads them. The render package never imports the web one."""
    import ast

    for path in (REPO / "edge_app" / "render").glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module} | \
            {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not any(m.startswith("edge_app.web") for m in imported), f"{path.name} imports the web package"
