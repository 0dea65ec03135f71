"""The layer rule of docs/architecture.md holds by itself: no module imports from a later layer
than its own (imports inside functions, under TYPE_CHECKING and module paths handed to
importlib or the runner as strings count too), except the exceptions the doc names."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "nsca"
DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"

# Bottom up, as in docs/architecture.md's table: a module may import its own layer and earlier ones.
LAYERS = (
    ("foundations", ("nsca", "nsca.errors", "nsca.config", "nsca.utils", "nsca.stats", "nsca.runner")),
    ("priors", ("nsca.priors",)),
    ("envs", ("nsca.envs",)),
    ("data", ("nsca.data",)),
    ("babbling", ("nsca.babbling",)),
    ("model", ("nsca.model",)),
    ("learning", ("nsca.learning",)),
    ("training", ("nsca.training",)),
    ("experiments", ("nsca.experiments",)),
    ("evaluation", ("nsca.evaluation",)),
    ("reporting", ("nsca.reporting",)),
    ("commands", ("nsca.cli", "nsca.commands")),
)
# The documented exceptions (docs/architecture.md, under the table): importer -> imported module.
EXCEPTIONS = {("nsca.model.verify", "nsca.training.data"), ("nsca.model.verify", "nsca.training.synthetic")}
MODULE_STRING = re.compile(r"^nsca(\.[a-z_0-9]+)+(:[A-Za-z_]\w*)?$")


def layer(module: str) -> int:
    best = max(((len(p), i) for i, (_, prefixes) in enumerate(LAYERS) for p in prefixes
                if module == p or module.startswith(p + ".")), default=None)
    assert best is not None, f"{module} is in no layer of docs/architecture.md"
    return best[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every nsca module `path` imports: import statements anywhere in it, and module paths
    written as strings ("nsca.experiments.noisy_tv", "nsca.experiments.lethality:run_cell")."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.startswith("nsca"):
            found |= {f"{node.module}.{a.name}" if _is_module(f"{node.module}.{a.name}") else node.module for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import (write it absolute, so the layer rule can be checked)")
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("nsca")}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and MODULE_STRING.match(node.value):
            name = node.value.split(":")[0]
            if _is_module(name):
                found.add(name)
    return found


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (SRC.parent / rel).with_suffix(".py").is_file() or (SRC.parent / rel / "__init__.py").is_file()


def upward_imports() -> list[tuple[str, str]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        me = module_name(path)
        out += [(me, other) for other in sorted(imports(path)) if layer(other) > layer(me)]
    return out


def test_no_module_imports_from_a_later_layer():
    bad = [f"{a} ({LAYERS[layer(a)][0]}) imports {b} ({LAYERS[layer(b)][0]})"
           for a, b in upward_imports() if (a, b) not in EXCEPTIONS]
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_the_documented_exceptions_exist_and_are_documented():
    assert set(upward_imports()) >= EXCEPTIONS  # a stale exception is removed here and in the doc
    doc = DOC.read_text()
    for importer, imported in EXCEPTIONS:
        assert f"`{importer.removeprefix('nsca.').replace('.', '/')}`" in doc and f"`{imported.split('.')[1]}`" in doc


def test_the_layers_are_the_doc_table_in_its_order_and_hold_every_module():
    rows = re.findall(r"^\| ([a-z]+) \| `", DOC.read_text(), re.M)
    assert rows == [name for name, _ in LAYERS]
    for path in SRC.rglob("*.py"):
        layer(module_name(path))


def test_the_scan_sees_an_upward_import(tmp_path):
    """The scan itself: an import inside a function and a module path as a string are found."""
    probe = tmp_path / "probe.py"
    probe.write_text('def f():\n    from nsca.reporting.page import build_report\n\nX = "nsca.commands.sanity"\n')
    assert imports(probe) == {"nsca.reporting.page", "nsca.commands.sanity"}
