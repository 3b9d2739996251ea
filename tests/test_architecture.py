"""The architecture as tests: the import-linter contracts of pyproject.toml (layers that import
only downward, a pure theory, closed forms without torch), imports inside functions only with a
stated reason, no two modules of one name, none named like a standard-library module, no source
file over 400 lines, and a declared public API per package."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "vaecollapse"
SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_import_linter_contracts_are_kept():
    """Every contract of [tool.importlinter] holds (`lint-imports`, as `make lint` runs it);
    import-linter reads every import statement, those inside functions included, so no layer is
    crossed through a lazy import either."""
    lint = Path(sys.executable).with_name("lint-imports")
    res = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "0 broken" in res.stdout, res.stdout[-2000:]


def test_the_contracts_name_every_package():
    """The layers contract covers every subpackage and top-level module (none escapes it)."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["id"] == "layers")["layers"]
    named = {m.strip().removeprefix("vaecollapse.") for layer in layers for m in layer.split("|")}
    present = {p.stem if p.parent == PACKAGE else p.relative_to(PACKAGE).parts[0]
               for p in SOURCES if p.name not in ("__init__.py", "__main__.py")}
    assert present <= named, f"modules outside every layer: {sorted(present - named)}"


def _function_imports(path: Path):
    lines = path.read_text().splitlines()
    tree = ast.parse("\n".join(lines))
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(fn):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    yield node.lineno, lines[node.lineno - 1]


def test_every_import_inside_a_function_says_why():
    """An import inside a function only where it keeps start-up light (torch out of `predict`,
    matplotlib out of everything that does not plot, an optional extra), with its reason on the
    line: ``# lazy: …``."""
    missing = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in SOURCES
               for n, line in _function_imports(p) if "# lazy:" not in line]
    assert not missing, "imports inside functions without a '# lazy: reason':\n" + "\n".join(missing)


def test_no_two_modules_share_a_name():
    """One name, one module: no two source files of the package have the same name (packages'
    __init__ and __main__ aside), and none shadows a standard-library module (``io``, …)."""
    names = Counter(p.stem for p in SOURCES if p.name not in ("__init__.py", "__main__.py"))
    packages = Counter(p.parent.name for p in SOURCES if p.name == "__init__.py")
    twice = sorted(n for n, k in (names + packages).items() if k > 1)
    assert not twice, f"module names used twice: {twice}"
    stdlib = sorted(n for n in (names | packages) if n in sys.stdlib_module_names)
    assert not stdlib, f"modules named like the standard library's: {stdlib}"


def test_no_source_file_is_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in SOURCES
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, f"source files over 400 lines: {long}"


PACKAGES = sorted(".".join(p.relative_to(PACKAGE.parent).parent.parts)
                  for p in PACKAGE.rglob("__init__.py"))


@pytest.mark.parametrize("name", PACKAGES)
def test_every_package_declares_its_public_api(name):
    """Each package lists what it exports in ``__all__``, and every listed name exists."""
    pytest.importorskip("pytorch_lightning") if name.endswith("integrations") else None
    module = importlib.import_module(name)
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it does not have: {missing}"
