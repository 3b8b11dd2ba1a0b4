"""The tree keeps the architecture's shape: imports only in the design's direction, no import circles, small
modules. Reads the source with `ast` (nothing is imported), so a later change cannot quietly break it.

The rules (design.md, "Dependency direction"):
- `core_bridge` imports no other project package and none of Prefect, pandas, GX, SQLAlchemy (corectl starts
  fast);
- `hw` imports from `core_bridge` only the contract and its keys (protocol, reasons, auth, identifiers,
  settings), never flows or reports;
- `reports` imports neither Prefect nor ZeroMQ nor flows; from core_bridge only the protocol and reason codes;
- nothing outside `flows` imports `flows`; inside it, the domain packages import no Prefect and none of
  `flows.jobs`, `flows.opsctl`, `flows.orchestration`; only the console script reaches `flows.opsctl`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core_bridge", "hw", "flows", "reports")
MAX_LINES = 500
FLOWS_WIRING = ("flows.jobs", "flows.opsctl", "flows.orchestration")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported module, dotted (a submodule when `from pkg import sub` names one)
    line: int
    top_level: bool  # executed when the module is imported (not inside a function)


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str, root: Path) -> bool:
    base = root.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _resolve_relative(module: str, is_pkg: bool, level: int, name: str | None) -> str:
    parts = module.split(".")
    if not is_pkg:
        parts = parts[:-1]
    parts = parts[: len(parts) - (level - 1)] if level > 1 else parts
    return ".".join(parts + ([name] if name else []))


def collect_imports(root: Path, packages: tuple[str, ...] = PACKAGES) -> list[Import]:
    out: list[Import] = []
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            module = _module_name(path, root)
            tree = ast.parse(path.read_text(), filename=str(path))
            function_nodes = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
                              for n in ast.walk(f)}
            for node in ast.walk(tree):
                top = id(node) not in function_nodes
                if isinstance(node, ast.Import):
                    out += [Import(module, a.name, node.lineno, top) for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    base = node.module or ""
                    if node.level:
                        base = _resolve_relative(module, path.name == "__init__.py", node.level, node.module)
                    for a in node.names:
                        sub = f"{base}.{a.name}"
                        out.append(Import(module, sub if _is_module(sub, root) else base, node.lineno, top))
    return out


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(imports: list[Import]) -> list[str]:
    """Every import against the design's direction, as `module:line imports target (rule)`."""
    bad: list[str] = []

    def flag(i: Import, why: str) -> None:
        bad.append(f"{i.module}:{i.line} imports {i.target} ({why})")

    heavy = ("prefect", "pandas", "great_expectations", "sqlalchemy")
    hw_may_use = tuple(f"core_bridge.{m}" for m in ("protocol", "reasons", "auth", "identifiers", "settings"))
    for i in imports:
        src, dst = i.module, i.target
        if _under(dst, "flows") and not _under(src, "flows"):
            flag(i, "nothing outside flows imports flows")
        if _under(src, "core_bridge"):
            if any(_under(dst, p) for p in ("hw", "reports")):
                flag(i, "core_bridge imports no other project package")
            if any(_under(dst, h) for h in heavy):
                flag(i, "core_bridge imports nothing heavy: corectl must start fast")
        if _under(src, "hw"):
            if _under(dst, "reports"):
                flag(i, "hw never imports reports")
            if _under(dst, "core_bridge") and not any(_under(dst, m) for m in hw_may_use):
                flag(i, "hw uses only the core contract from core_bridge")
            if any(_under(dst, h) for h in heavy):
                flag(i, "the twins import no orchestration or dataframe library")
        if _under(src, "reports"):
            if any(_under(dst, p) for p in ("prefect", "zmq")):
                flag(i, "reports import neither Prefect nor ZeroMQ")
            if _under(dst, "core_bridge") and not any(_under(dst, m) for m in hw_may_use[:2]):
                flag(i, "reports use only the protocol and reason codes from core_bridge")
            if _under(dst, "hw") and not _under(dst, "hw.refdata"):
                flag(i, "reports use only reference data from hw")
        if _under(src, "flows") and not any(_under(src, w) for w in FLOWS_WIRING):
            if _under(dst, "prefect"):
                flag(i, "flows' domain packages hold logic without Prefect")
            if any(_under(dst, w) for w in FLOWS_WIRING):
                flag(i, "flows' domain packages never import the jobs, the CLI or orchestration")
        if _under(dst, "flows.opsctl") and not _under(src, "flows.opsctl"):
            flag(i, "only the console script reaches flows.opsctl")
    return bad


def cycles(imports: list[Import]) -> list[list[str]]:
    """Strongly connected components (size > 1) of the import-time graph (function-level imports excluded)."""
    graph: dict[str, set[str]] = {}
    for i in imports:
        if i.top_level and i.target.split(".")[0] in PACKAGES and i.target != i.module:
            graph.setdefault(i.module, set()).add(i.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan; the graph is small enough for recursion
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _source_files() -> Iterator[Path]:
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def test_imports_when_the_tree_is_read_then_every_import_follows_the_design_direction() -> None:
    assert violations(collect_imports(ROOT)) == []


def test_imports_when_the_tree_is_read_then_no_module_imports_itself_through_a_circle() -> None:
    assert cycles(collect_imports(ROOT)) == []


def test_modules_when_counted_then_none_is_over_the_line_budget() -> None:
    big = {str(p.relative_to(ROOT)): n for p in _source_files() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert big == {}


def test_packages_when_listed_then_each_says_what_it_holds() -> None:
    missing = []
    for pkg in PACKAGES:
        for d in [ROOT / pkg, *sorted(p for p in (ROOT / pkg).rglob("*") if p.is_dir() and p.name != "__pycache__")]:
            if "migrations" in d.parts or not any(d.glob("*.py")):
                continue
            init = d / "__init__.py"
            doc = ast.get_docstring(ast.parse(init.read_text())) if init.is_file() else None
            if not doc and not (d / "README.md").is_file():
                missing.append(str(d.relative_to(ROOT)))
    assert missing == []


@pytest.mark.parametrize(
    ("module", "source", "rule"),
    [
        ("reports.recon", "import prefect\n", "reports import neither Prefect nor ZeroMQ"),
        ("reports.cat.day", "from zmq import Context\n", "reports import neither Prefect nor ZeroMQ"),
        ("core_bridge.client", "import flows.calendars\n", "nothing outside flows imports flows"),
        ("core_bridge.audit", "def f():\n    import pandas\n", "core_bridge imports nothing heavy"),
        ("hw.twin", "from core_bridge.client import CoreClient\n", "hw uses only the core contract"),
        ("hw.refdata", "from reports.cat import day\n", "hw never imports reports"),
        ("flows.recon.matching", "from prefect import task\n", "domain packages hold logic without Prefect"),
        ("flows.clearing.runs", "from flows.jobs import sod_load\n", "never import the jobs, the CLI"),
        ("flows.jobs.cat", "from flows.opsctl import cat\n", "only the console script reaches flows.opsctl"),
    ],
)
def test_violations_when_a_forbidden_import_is_added_then_it_is_named(tmp_path: Path, module: str, source: str,
                                                                       rule: str) -> None:
    pkg = module.split(".")[0]
    path = tmp_path.joinpath(*module.split(".")).with_suffix(".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    for parent in [path.parent, *path.parent.parents]:
        if parent == tmp_path:
            break
        (parent / "__init__.py").touch()
    path.write_text(source)
    for sibling in ("flows/jobs", "flows/opsctl", "flows/calendars.py"):
        target = tmp_path / sibling
        if target.suffix:
            target.parent.mkdir(parents=True, exist_ok=True)
            (target.parent / "__init__.py").touch()
            target.touch()
        else:
            target.mkdir(parents=True, exist_ok=True)
            (target / "__init__.py").touch()
    found = violations(collect_imports(tmp_path, (pkg,)))
    assert len(found) == 1 and rule in found[0] and found[0].startswith(f"{module}:")


def test_cycles_when_two_modules_import_each_other_at_import_time_then_the_circle_is_found(tmp_path: Path) -> None:
    pkg = tmp_path / "core_bridge"
    (pkg / "cli").mkdir(parents=True)
    (pkg / "__init__.py").touch()
    (pkg / "cli" / "__init__.py").touch()
    (pkg / "cli" / "app.py").write_text("from core_bridge.cli import commands\n")
    (pkg / "cli" / "commands.py").write_text("from core_bridge.cli.app import helper\n")
    (pkg / "cli" / "lazy.py").write_text("def f():\n    from core_bridge.cli import app\n")
    assert cycles(collect_imports(tmp_path, ("core_bridge",))) == [["core_bridge.cli.app", "core_bridge.cli.commands"]]
