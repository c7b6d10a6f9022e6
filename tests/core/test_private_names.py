"""No module uses another module's private names (``_x``): what is shared is made public.

A private name reached from elsewhere is a dependency nobody sees when they change it. Checked
over the product, its tests and its benchmarks by reading the source: ``from m import _x`` and
``m._x`` where ``m`` is one of the project's modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PACKAGES = ("registry", "reports", "tests", "benchmarks")


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _is_project(module: str | None) -> bool:
    return bool(module) and module.split(".")[0] in PACKAGES


def _is_module(dotted: str) -> bool:
    relative = Path(*dotted.split("."))
    return (ROOT / relative).with_suffix(".py").exists() or (ROOT / relative / "__init__.py").exists()


def private_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    found, project_modules = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and _is_project(node.module):
            for alias in node.names:
                if _is_private(alias.name):
                    found.append(f"{where}:{node.lineno} imports {node.module}.{alias.name}")
                elif _is_module(f"{node.module}.{alias.name}"):
                    project_modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _is_project(alias.name):
                    project_modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and _is_private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id in project_modules
        ):
            found.append(f"{where}:{node.lineno} uses {node.value.id}.{node.attr}")
    return found


def test_no_module_reaches_into_another_modules_private_names():
    files = [path for package in PACKAGES for path in (ROOT / package).rglob("*.py") if ".venv" not in path.parts]
    assert len(files) > 100
    assert [use for path in files for use in private_uses(path)] == []


def test_the_check_sees_both_forms(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from registry.followup import dispatch\nfrom reports.services import _key\n"
        "from registry.followup.models import OutboundMessage\n"
        "dispatch._drop()\nOutboundMessage._meta\n"
    )
    # A model's _meta is Django's public API on a class, not a module's private name
    assert private_uses(sample) == ["sample.py:2 imports reports.services._key", "sample.py:4 uses dispatch._drop"]
