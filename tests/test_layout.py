"""The layout the style guide promises, checked on the production code's syntax trees (no Django, no
database): errors live in each app's errors.py, no module passes 400 lines nor a function 50,
selectors only read, and no module is a grab bag named utils."""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = ("cxfeedback", "contacts", "surveys", "departments", "results", "audit", "scripts")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50
# Functions allowed past MAX_FUNCTION_LINES, each with the reason: split, they would read worse.
LONG_FUNCTIONS_ALLOWED = {
    ("surveys/gatekeeper/screening_sql.py", "_verdicts_sql"): (
        "one SQL text, the screening's verdict per contact: its CASE follows the order in which "
        "surveys/gatekeeper/rules.py decides, and reads best whole"
    ),
}
APPLICATION_ERROR = "cxfeedback.exceptions.ApplicationError"
# Where error classes live: the bases in cxfeedback/exceptions.py, named errors in each app's errors.py.
ERROR_MODULES = {
    "cxfeedback.exceptions",
    "cxfeedback.errors",
    "contacts.errors",
    "surveys.errors",
    "results.errors",
}
# The modules that write (selectors only read, so they import none of them), besides services.
WRITE_MODULES = (
    "surveys.gatekeeper.send_requests",
    "surveys.gatekeeper.triggers",
    "surveys.gatekeeper.frequency_rules",
    "surveys.gatekeeper.audiences",
    "surveys.public.responses",
    "surveys.public.preferences",
)


@dataclass(frozen=True)
class Module:
    """One parsed source file of the production code."""

    path: Path
    name: str  # dotted: "surveys.gatekeeper.triggers", "contacts.admin" for contacts/admin/__init__.py
    tree: ast.Module
    lines: int

    @property
    def relative(self) -> str:
        return self.path.relative_to(ROOT).as_posix()

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"


@functools.cache
def production_modules() -> tuple[Module, ...]:
    """Every production module (not migrations, not tests), parsed."""
    modules = []
    for top in PRODUCTION:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts or "tests" in parts:
                continue
            source = path.read_text(encoding="utf-8")
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules.append(
                Module(path, name, ast.parse(source, filename=str(path)), len(source.splitlines()))
            )
    return tuple(modules)


def test_the_production_code_is_found():
    names = {module.name for module in production_modules()}

    assert {"cxfeedback.exceptions", "surveys.gatekeeper.triggers", "scripts.run"} <= names
    assert not any(".migrations." in name for name in names)


# --- Errors ---------------------------------------------------------------------------------------


def _imported_from(module: Module, node: ast.ImportFrom) -> str:
    """The dotted module a `from … import` reads from, relative imports made absolute."""
    if not node.level:
        return node.module or ""
    package = (module.name if module.is_package else module.name.rpartition(".")[0]).split(".")
    anchor = package[: len(package) - (node.level - 1)]
    return ".".join([*anchor, *([node.module] if node.module else [])])


def _imported_names(module: Module) -> dict[str, str]:
    """What each name imported at the module's top level stands for, as a dotted path."""
    names = {}
    for node in module.tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:  # `import a.b` binds a
                    head = alias.name.partition(".")[0]
                    names[head] = head
        elif isinstance(node, ast.ImportFrom):
            base = _imported_from(module, node)
            for alias in node.names:
                names[alias.asname or alias.name] = f"{base}.{alias.name}"
    return names


def _dotted(node: ast.expr) -> str | None:
    """`a.b.C` as written in a class's bases; None for anything else (a call, a subscript)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        owner = _dotted(node.value)
        return f"{owner}.{node.attr}" if owner else None
    return None


@functools.cache
def _classes_and_aliases() -> tuple[dict[str, list[str]], dict[str, str], dict[str, Module]]:
    """Every class (dotted name → its bases, dotted), every imported name (dotted → what it stands
    for, to follow re-exports), and the module each class is defined in."""
    classes: dict[str, list[str]] = {}
    aliases: dict[str, str] = {}
    defined_in: dict[str, Module] = {}
    for module in production_modules():
        imported = _imported_names(module)
        aliases.update({f"{module.name}.{local}": target for local, target in imported.items()})
        local_classes = {node.name for node in ast.walk(module.tree) if isinstance(node, ast.ClassDef)}
        for node in ast.walk(module.tree):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = []
            for base in node.bases:
                dotted = _dotted(base)
                if dotted is None:
                    continue
                head, _, rest = dotted.partition(".")
                if head in local_classes and not rest:
                    bases.append(f"{module.name}.{head}")
                elif head in imported:
                    bases.append(".".join(filter(None, [imported[head], rest])))
                else:
                    bases.append(dotted)
            classes[f"{module.name}.{node.name}"] = bases
            defined_in[f"{module.name}.{node.name}"] = module
    return classes, aliases, defined_in


def application_errors() -> dict[str, Module]:
    """Every subclass of ApplicationError in the production code, directly or through others."""
    classes, aliases, defined_in = _classes_and_aliases()

    def resolved(name: str) -> str:
        seen = set()
        while name not in classes and name in aliases and name not in seen:
            seen.add(name)
            name = aliases[name]
        return name

    @functools.cache
    def is_error(name: str) -> bool:
        return name == APPLICATION_ERROR or any(is_error(resolved(base)) for base in classes.get(name, []))

    return {name: defined_in[name] for name in classes if name != APPLICATION_ERROR and is_error(name)}


def test_the_error_check_finds_errors_through_their_bases():
    errors = application_errors()

    assert "cxfeedback.exceptions.NotFound" in errors  # a base
    assert "cxfeedback.errors.IdempotencyKeyReused" in errors  # through Unprocessable
    assert len(errors) > 20


def test_every_application_error_is_defined_in_an_errors_module():
    misplaced = sorted(
        f"{module.relative}: {name.rpartition('.')[2]}"
        for name, module in application_errors().items()
        if module.name not in ERROR_MODULES
    )

    assert not misplaced, (
        "ApplicationError subclasses belong in their app's errors.py (or are bases in "
        f"cxfeedback/exceptions.py); move these: {misplaced}"
    )


# --- Size -----------------------------------------------------------------------------------------


def test_no_module_is_over_400_lines():
    long_modules = sorted(
        f"{module.relative} ({module.lines} lines)"
        for module in production_modules()
        if module.lines > MAX_MODULE_LINES
    )

    assert not long_modules, (
        f"Split these modules by what they hold (a package past ~{MAX_MODULE_LINES} lines): {long_modules}"
    )


def function_lengths() -> dict[tuple[str, str], int]:
    """Every function and method, nested ones too: (module path, qualified name) → lines, decorators
    included."""
    lengths = {}
    for module in production_modules():

        def visit(node: ast.AST, prefix: str, module: Module = module) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                    first = min([child.lineno, *(decorator.lineno for decorator in child.decorator_list)])
                    lengths[(module.relative, prefix + child.name)] = child.end_lineno - first + 1
                    visit(child, f"{prefix}{child.name}.")
                elif isinstance(child, ast.ClassDef):
                    visit(child, f"{prefix}{child.name}.")
                else:
                    visit(child, prefix)

        visit(module.tree, "")
    return lengths


def test_no_function_is_over_50_lines():
    lengths = function_lengths()
    long_functions = sorted(
        f"{path} {name} ({lines} lines)"
        for (path, name), lines in lengths.items()
        if lines > MAX_FUNCTION_LINES and (path, name) not in LONG_FUNCTIONS_ALLOWED
    )

    assert not long_functions, f"Split these functions into named steps: {long_functions}"


def test_every_allowed_long_function_exists_and_is_still_long():
    lengths = function_lengths()
    stale = sorted(
        f"{path} {name}"
        for path, name in LONG_FUNCTIONS_ALLOWED
        if lengths.get((path, name), 0) <= MAX_FUNCTION_LINES
    )

    assert not stale, f"Remove these from LONG_FUNCTIONS_ALLOWED (gone, or short now): {stale}"


# --- Roles ----------------------------------------------------------------------------------------


def _is_selectors(module: Module) -> bool:
    """selectors.py (or consent_selectors.py and the like), or a module of a selectors/ package."""
    parts = module.name.split(".")
    return parts[-1].endswith("selectors") or "selectors" in parts[:-1]


def _imported_modules(module: Module) -> set[str]:
    """Every module the module imports from, anywhere in it (imports inside functions too); for
    `from a import b` both a and a.b, since b may be a module."""
    imported = set()
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _imported_from(module, node)
            imported.add(base)
            imported.update(f"{base}.{alias.name}" for alias in node.names)
    return imported


def _writes(imported: str) -> bool:
    """Whether the dotted module is a services module (or in a services package) or a write module."""
    parts = imported.split(".")
    in_write_module = any(imported == name or imported.startswith(f"{name}.") for name in WRITE_MODULES)
    return "services" in parts or in_write_module


def test_selectors_import_no_services_nor_write_modules():
    selectors = [module for module in production_modules() if _is_selectors(module)]
    offenders = set()
    for module in selectors:
        writing = {imported for imported in _imported_modules(module) if _writes(imported)}
        # `from results.services import rollups` names results.services once, not its rollups too.
        offenders |= {
            f"{module.relative} imports {imported}"
            for imported in writing
            if imported.rpartition(".")[0] not in writing
        }

    assert len(selectors) >= 5  # contacts, departments, results/selectors/, surveys design and public
    assert not offenders, f"Selectors only read; they may not import code that writes: {sorted(offenders)}"


def test_no_module_is_named_utils():
    named_utils = sorted(
        module.relative for module in production_modules() if "utils" in module.name.split(".")
    )

    assert not named_utils, f"Name a module after what it does, not utils: {named_utils}"
