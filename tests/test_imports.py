"""The direction of imports between the library's subpackages, read from the source (ast).

``tiny_models/`` (the tiny CLIP, BLIP and Stable Diffusion stand-ins) depends on ``models/`` and
``simulate/``; nothing in the library's stages may import it back, not even lazily inside a
function: ``models/pretrained.py`` finds the builders through entry points instead.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "neurocine_toolbox"
TINY = "neurocine_toolbox.tiny_models"
#: Every subpackage of the library except tiny_models itself (cli/ sits outside the folder).
STAGES = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py") if p.parent.name != "tiny_models")


def module_name(path, package=PACKAGE):
    """``neurocine_toolbox/models/pretrained.py`` → ``neurocine_toolbox.models.pretrained``."""
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path, package=PACKAGE):
    """Every module ``path`` imports (at the top, inside functions, or by ``import_module("…")``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    name = module_name(path, package)
    here = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")[: len(here.split(".")) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module
            found.add(stem)
            found.update(f"{stem}.{alias.name}" for alias in node.names)  # `from . import clip`
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")):
            found.add(node.args[0].value)
    return found


def subpackage(module):
    """The first-level subpackage of a ``neurocine_toolbox`` module, or None."""
    parts = module.split(".")
    return parts[1] if parts[0] == "neurocine_toolbox" and len(parts) > 1 else None


def subpackage_graph():
    """``{subpackage: {subpackages it imports}}`` over the whole library."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        source = subpackage(module_name(path))
        if source is None:
            continue
        targets = {subpackage(m) for m in imported_modules(path)} - {None, source}
        graph.setdefault(source, set()).update(targets)
    return graph


def test_the_parser_sees_relative_lazy_and_string_imports(tmp_path):
    # A fake package laid out like the real one: the checks below would pass vacuously otherwise.
    root = tmp_path / "neurocine_toolbox"
    (root / "models").mkdir(parents=True)
    (root / "models" / "x.py").write_text(
        "from ..tiny_models.clip import build\n"
        "def f():\n    from .. import tiny_models\n"
        "def g():\n    import importlib\n    importlib.import_module('neurocine_toolbox.tiny_models.sd')\n")
    (root / "models" / "__init__.py").write_text("from .x import f\nfrom . import y\n")
    assert {"neurocine_toolbox.tiny_models.clip", "neurocine_toolbox.tiny_models",
            "neurocine_toolbox.tiny_models.sd"} <= imported_modules(root / "models" / "x.py", root)
    assert {"neurocine_toolbox.models.x", "neurocine_toolbox.models.y"} <= imported_modules(
        root / "models" / "__init__.py", root)


def test_the_library_stages_are_all_checked():
    assert {"models", "simulate", "data", "training", "pipelines", "evaluation"} <= set(STAGES)
    assert (PACKAGE / "tiny_models" / "__init__.py").is_file()


@pytest.mark.parametrize("stage", STAGES)
def test_no_stage_imports_the_tiny_models(stage):
    offenders = sorted(
        f"{path.relative_to(PACKAGE.parent)} imports {module}"
        for path in (PACKAGE / stage).rglob("*.py")
        for module in imported_modules(path)
        if module == TINY or module.startswith(TINY + ".")
    )
    assert not offenders, "tiny_models depends on the library, not the other way round:\n" + "\n".join(offenders)


def test_tiny_models_depend_on_models_and_simulate():
    assert {"models", "simulate"} <= subpackage_graph()["tiny_models"]


def test_models_and_simulate_do_not_import_each_other_in_a_circle():
    graph = subpackage_graph()
    assert not ("simulate" in graph.get("models", set()) and "models" in graph.get("simulate", set()))


def reaches(graph, start, goal):
    """Whether ``goal`` can be reached from ``start`` along ``graph``'s edges."""
    seen, todo = set(), list(graph.get(start, ()))
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return False


def test_reaches_follows_chains():
    assert reaches({"a": {"b"}, "b": {"c"}, "c": {"a"}}, "a", "a")
    assert not reaches({"a": {"b"}, "b": {"c"}}, "a", "a")


#: Still in a circle: pipelines/decode_split.py scores its clips with evaluation/clip_similarity.py,
#: while evaluation reads decode's run (pipelines) and fits the ridge baseline of training.
IN_A_CIRCLE = {"evaluation", "pipelines", "training"}


@pytest.mark.parametrize("name", sorted((set(STAGES) - IN_A_CIRCLE) | {"tiny_models"}))
def test_no_import_cycle_goes_through(name):
    assert not reaches(subpackage_graph(), name, name), f"{name} imports itself back through other subpackages"
