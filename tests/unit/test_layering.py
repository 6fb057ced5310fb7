"""dlbasic's imports run one way: each layer imports only itself and the layers below it, and
no import -- function-local ones included -- closes a circle.

The layers, bottom to top (docs/architecture.md draws the same diagram):

    dtypes               _dtype
    kernels              backend/, _parallel (heavy loops, thread pool)
    tensor core          _format, _tensor_base, _convert
    autograd             autograd/
    ops                  ops/
    tensor API           _random, _creation, _tensor (dlbasic.Tensor and its methods)
    library              nn/, optim/, utils/, distributed/, serialization, _torch_format,
                         _checkpoint_base, _atomic
    namespace            dlbasic/__init__.py (torch's top-level names), cuda, backends/
    applications         models/, profiler/, vision/, onnx/
    programs             app/ (training loop, recipes, CLI, demo, plots), and the entry points
                         cli, demo, __main__ that forward to it

The graph is read from the source with ``ast``: ``import a.b`` and ``from a import b`` at any
depth of a module (inside functions too).  Importing ``a.b.c`` also runs the packages
``a.b`` and ``a``, so it counts as an import of those too (except of the importer's own
packages, which Python has already started).
"""
import ast
import collections
import os
import textwrap

import pytest

import dlbasic

PACKAGE = "dlbasic"
PACKAGE_DIR = os.path.dirname(os.path.abspath(dlbasic.__file__))

# bottom to top; a module belongs to the layer naming it or its closest package
LAYERS = [
    ("dtypes", ["dlbasic._dtype"]),
    ("kernels", ["dlbasic._parallel", "dlbasic.backend"]),
    ("tensor core", ["dlbasic._format", "dlbasic._tensor_base", "dlbasic._convert"]),
    ("autograd", ["dlbasic.autograd"]),
    ("ops", ["dlbasic.ops"]),
    ("tensor API", ["dlbasic._random", "dlbasic._creation", "dlbasic._tensor"]),
    ("library", ["dlbasic.nn", "dlbasic.optim", "dlbasic.utils", "dlbasic.distributed",
                 "dlbasic.linalg", "dlbasic.special", "dlbasic.distributions", "dlbasic.fft",
                 "dlbasic.serialization",
                 "dlbasic._torch_format", "dlbasic._checkpoint_base", "dlbasic._atomic"]),
    ("namespace", ["dlbasic", "dlbasic.cuda", "dlbasic.backends", "dlbasic.accelerator",
                   "dlbasic._compile"]),
    ("applications", ["dlbasic.models", "dlbasic.profiler", "dlbasic.vision", "dlbasic.onnx"]),
    ("programs", ["dlbasic.app", "dlbasic.cli", "dlbasic.demo", "dlbasic.__main__"]),
]

# The entry points keep their names (the console script `dlbasic.cli:main`, `python -m dlbasic`,
# `python -m dlbasic.demo`) and forward to dlbasic/app/, where the code is
ENTRY_POINTS = {"dlbasic.cli": "dlbasic.app.cli", "dlbasic.demo": "dlbasic.app.demo",
                "dlbasic.__main__": "dlbasic.app.cli"}

# Below the library layer every import of a dlbasic module is at module level, except these
# deliberate lazy loads: (importer, imported, why)
LAZY_IN_CORE = {
    ("dlbasic.backend", "dlbasic.backend.compiled"):
        "the Numba kernels load on first use, so `import dlbasic` stays fast",
}

# Circles known and owned elsewhere: {frozenset(modules): why}.  An entry that no longer
# matches a circle makes the test fail, so this list only shrinks.
KNOWN_CIRCLES = {
}


# ---------------------------------------------------------------------------------------
# The checker
# ---------------------------------------------------------------------------------------

Import = collections.namedtuple("Import", "importer target line local")


def find_modules(package_dir, package=PACKAGE):
    """{dotted module name: file path} for every .py file under ``package_dir``."""
    root = os.path.dirname(package_dir)
    modules = {}
    for dirpath, dirnames, filenames in os.walk(package_dir):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__pycache__")))
        for f in sorted(filenames):
            if f.endswith(".py"):
                path = os.path.join(dirpath, f)
                parts = os.path.relpath(path, root)[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                modules[".".join(parts)] = path
    assert package in modules, f"{package_dir} has no __init__.py"
    return modules


def _targets(module, node, modules, packages):
    """The modules an import statement loads (``from pkg import name`` loads ``pkg.name`` when
    that is a module, else ``pkg``)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:
        base = module if module in packages else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        base = f"{base}.{node.module}" if node.module else base
    else:
        base = node.module
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]


def find_imports(modules, package=PACKAGE):
    """Every import of a module of ``package``, with its line and whether it runs inside a
    function (``local``) rather than when the module is imported."""
    packages = {m for m, p in modules.items() if p.endswith("__init__.py")}
    found = []

    def visit(module, node, local):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in _targets(module, child, modules, packages):
                    if target == package or target.startswith(package + "."):
                        found.append(Import(module, target, child.lineno, local))
            visit(module, child, local or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    for module, path in sorted(modules.items()):
        with open(path, encoding="utf-8") as f:
            visit(module, ast.parse(f.read(), path), False)
    return found


def _packages_of(module):
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def dependencies(imports):
    """{module: {(module it makes Python run, the Import responsible)}}, with the packages
    ``a.b`` and ``a`` that importing ``a.b.c`` runs first."""
    deps = collections.defaultdict(set)
    for imp in imports:
        for target in {imp.target} | (_packages_of(imp.target) - _packages_of(imp.importer)):
            if target != imp.importer:
                deps[imp.importer].add((target, imp))
    return deps


def find_circles(graph):
    """The strongly connected components with more than one module (Tarjan, iterative):
    ``graph`` maps a module to the modules it imports."""
    index, low, on_stack, stack, circles = {}, {}, set(), [], []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        m = stack.pop()
                        on_stack.discard(m)
                        component.add(m)
                        if m == node:
                            break
                    if len(component) > 1:
                        circles.append(frozenset(component))
    return circles


def layer_of(module, layers=LAYERS, root=PACKAGE):
    """The index of ``module``'s layer: the one naming it, or its closest package (the root
    package names only itself); None when no layer claims it."""
    best, best_len = None, -1
    for i, (_, names) in enumerate(layers):
        for name in names:
            if module == name or (name != root and module.startswith(name + ".")):
                if len(name) > best_len:
                    best, best_len = i, len(name)
    return best


def upward_imports(deps, layers=LAYERS, root=PACKAGE):
    """(Import, module it runs) for every dependency on a higher layer than the importer's."""
    bad = []
    for importer, targets in sorted(deps.items()):
        mine = layer_of(importer, layers, root)
        for target, imp in sorted(targets):
            theirs = layer_of(target, layers, root)
            if mine is not None and theirs is not None and theirs > mine:
                bad.append((imp, target))
    return bad


def _describe(imp, target, layers=LAYERS, root=PACKAGE):
    via = "" if target == imp.target else f" (which runs {target})"
    where = "inside a function" if imp.local else "at module level"
    return (f"{imp.importer} [{layers[layer_of(imp.importer, layers, root)][0]}] imports "
            f"{imp.target}{via} [{layers[layer_of(target, layers, root)][0]}] {where}, "
            f"line {imp.line}")


# ---------------------------------------------------------------------------------------
# dlbasic itself
# ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def graph():
    modules = find_modules(PACKAGE_DIR)
    imports = find_imports(modules)
    return modules, imports, dependencies(imports)


def test_every_module_has_a_layer(graph):
    modules, _, _ = graph
    homeless = sorted(m for m in modules if layer_of(m) is None)
    assert not homeless, f"place these modules in a layer of LAYERS: {homeless}"


def test_every_import_names_a_module_of_the_package(graph):
    # (otherwise the import fails at run time -- and the checker would not see where it goes)
    modules, imports, _ = graph
    missing = [f"{i.importer} line {i.line}: {i.target}" for i in imports
               if i.target not in modules]
    assert not missing, missing


def test_no_import_runs_up_the_layers(graph):
    _, _, deps = graph
    bad = [_describe(imp, target) for imp, target in upward_imports(deps)]
    assert not bad, "imports against the layer order:\n  " + "\n  ".join(bad)


def test_entry_points_only_forward_to_the_app(graph):
    # the code of the programs is in dlbasic/app/; the old names only keep the console script,
    # `python -m dlbasic` and `python -m dlbasic.demo` working, and nothing imports them
    modules, imports, _ = graph
    for entry, target in ENTRY_POINTS.items():
        assert {i.target for i in imports if i.importer == entry} == {target}, entry
        with open(modules[entry], encoding="utf-8") as f:
            assert len(f.read().splitlines()) <= 8, f"{entry} should only forward to {target}"
    users = [f"{i.importer} line {i.line}: {i.target}" for i in imports
             if i.target in ENTRY_POINTS]
    assert not users, f"import dlbasic.app.* instead of the entry points: {users}"


def test_the_import_graph_has_no_circles(graph):
    _, _, deps = graph
    circles = find_circles({m: {t for t, _ in targets} for m, targets in deps.items()})
    unknown = [sorted(c) for c in circles if c not in KNOWN_CIRCLES]
    assert not unknown, f"import circles: {unknown}"
    stale = [sorted(c) for c in KNOWN_CIRCLES if c not in circles]
    assert not stale, f"KNOWN_CIRCLES lists circles that are gone; remove them: {stale}"


def test_core_layers_import_dlbasic_at_module_level_only(graph):
    # a function-local import is how a circle hides from the reader; below the library layer
    # there are none but the deliberate lazy loads
    _, imports, _ = graph
    library = [name for name, _ in LAYERS].index("library")
    local = [f"{i.importer} imports {i.target} inside a function, line {i.line}"
             for i in imports if i.local and layer_of(i.importer) < library
             and (i.importer, i.target) not in LAZY_IN_CORE]
    assert not local, "function-local imports in the core:\n  " + "\n  ".join(local)
    used = {(i.importer, i.target) for i in imports if i.local}
    assert set(LAZY_IN_CORE) <= used, "LAZY_IN_CORE lists imports that are gone"


def test_the_architecture_page_draws_these_layers(graph):
    modules, _, _ = graph
    page = os.path.join(os.path.dirname(PACKAGE_DIR), "docs", "architecture.md")
    with open(page, encoding="utf-8") as f:
        text = f.read()
    diagram = text.split("## Layers", 1)[1].split("```", 2)[1]
    rows = [line for line in diagram.splitlines() if line.strip() and line.strip() != "|"]
    assert len(rows) == len(LAYERS), rows
    for row, (layer, names) in zip(rows, reversed(LAYERS)):
        assert row.startswith(" " + layer + " "), (row, layer)
        for name in names:
            short = "__init__.py" if name == PACKAGE else name.rpartition(".")[2] + (
                "/" if modules[name].endswith("__init__.py") else "")
            assert short in row.split(), (layer, short, row)


def test_tensor_methods_are_on_the_class_not_patched_in():
    # every method of dlbasic.Tensor is defined in _tensor.py or in the base it inherits
    from dlbasic._tensor import Tensor
    from dlbasic._tensor_base import TensorBase
    assert Tensor.__mro__ == (Tensor, TensorBase, object)
    own = set(vars(Tensor)) | set(vars(TensorBase))
    for name in ("add", "__add__", "exp", "sum", "reshape", "matmul", "__matmul__", "eq",
                 "add_", "__iadd__", "fill_", "backward", "softmax", "to", "__hash__"):
        assert name in own, name
    assert Tensor.__hash__ is not None and hash(Tensor(2)) is not None
    assert not os.path.exists(os.path.join(PACKAGE_DIR, "_tensor_methods.py"))


# ---------------------------------------------------------------------------------------
# The checker fails when it should
# ---------------------------------------------------------------------------------------

def test_find_circles_on_a_synthetic_graph():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}, "f": set()}
    assert find_circles(g) == [frozenset("abc")]
    assert find_circles({"a": {"b"}, "b": set()}) == []
    # two circles sharing nothing
    assert sorted(map(sorted, find_circles({"a": {"b"}, "b": {"a"}, "c": {"d"},
                                            "d": {"c"}}))) == [["a", "b"], ["c", "d"]]


def test_upward_import_on_a_synthetic_graph():
    layers = [("low", ["p.low"]), ("mid", ["p", "p.mid"]), ("high", ["p.high"])]
    imports = [Import("p.high", "p.low", 1, False), Import("p.mid", "p.low", 2, False),
               Import("p.low", "p.high.x", 3, True)]
    # importing p.high.x runs the package p.high first: both count
    bad = upward_imports(dependencies(imports), layers, root="p")
    assert [(imp.line, target) for imp, target in bad] == [(3, "p.high"), (3, "p.high.x")]
    # the root names only itself; a module no layer names has none
    assert layer_of("p", layers, "p") == 1 and layer_of("p.other", layers, "p") is None
    assert layer_of("p.high.x.y", layers, "p") == 2


def _write_package(tmp_path, files):
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return str(tmp_path / "pkg")


def test_checker_catches_a_function_local_upward_import_in_real_files(tmp_path):
    # pkg.low reaches up to pkg.high inside a function, and pkg.high imports pkg.low: a
    # circle that Python tolerates at run time and a reader never sees
    pkg = _write_package(tmp_path, {
        "pkg/__init__.py": "from . import low, high\n",
        "pkg/low.py": """
            import os

            def f():
                from .high import g
                return g()
            """,
        "pkg/high.py": """
            from .low import f

            def g():
                return 1
            """,
    })
    layers = [("low", ["pkg.low"]), ("high", ["pkg.high"]), ("top", ["pkg"])]
    modules = find_modules(pkg, "pkg")
    imports = find_imports(modules, "pkg")
    assert Import("pkg.low", "pkg.high", 5, True) in imports
    assert not any(i.target == "os" for i in imports)          # third-party: not an edge
    deps = dependencies(imports)
    assert [_describe(i, t, layers, "pkg") for i, t in upward_imports(deps, layers, "pkg")] == [
        "pkg.low [low] imports pkg.high [high] inside a function, line 5"]
    graph = {m: {t for t, _ in ts} for m, ts in deps.items()}
    assert find_circles(graph) == [frozenset({"pkg.low", "pkg.high"})]


def test_checker_counts_the_packages_an_import_runs(tmp_path):
    # importing pkg.sub.leaf runs pkg/sub/__init__.py, which imports pkg.high: so pkg.low
    # depends on pkg.high although it never names it
    pkg = _write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/low.py": "from .sub.leaf import x\n",
        "pkg/high.py": "y = 1\n",
        "pkg/sub/__init__.py": "from ..high import y\n",
        "pkg/sub/leaf.py": "x = 1\n",
    })
    layers = [("low", ["pkg.low", "pkg.sub.leaf"]), ("high", ["pkg.high", "pkg.sub"]),
              ("top", ["pkg"])]
    deps = dependencies(find_imports(find_modules(pkg, "pkg"), "pkg"))
    assert [(i.importer, t) for i, t in upward_imports(deps, layers, "pkg")] == [
        ("pkg.low", "pkg.sub")]
    # ... but a module importing a sibling does not depend on its own package, which Python
    # has already started
    assert dependencies([Import("pkg.sub.leaf", "pkg.sub.other", 1, False)]) == {
        "pkg.sub.leaf": {("pkg.sub.other", Import("pkg.sub.leaf", "pkg.sub.other", 1, False))}}
