"""The distribution: what the wheel holds, and that it works away from the repository.

``cli/`` and ``bids_templates/`` sit at the top of the repository but must be installed as
``neurocine_toolbox.cli`` and ``neurocine_toolbox.bids_templates``; a bare top-level ``cli``
package in site-packages would clash with other projects.
"""

import configparser
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from neurocine_toolbox import __version__

REPO = Path(__file__).resolve().parents[1]
# What a build needs; the copy keeps build/ and *.egg-info out of the working tree.
BUILD_FILES = ["setup.py", "pyproject.toml", "setup.cfg", "MANIFEST.in", "README.md", "LICENSE"]
BUILD_DIRS = ["neurocine_toolbox", "cli", "bids_templates"]
TEMPLATES = sorted(
    p.name for p in (REPO / "bids_templates").iterdir() if p.suffix in (".json", ".md")
)
CLI_MODULES = sorted(p.name for p in (REPO / "cli").glob("*.py"))
#: The built-in model names the wheel's entry points declare (the natural world's variants too).
BUILTIN_NAMES = ["tiny-blip", "tiny-clip", "tiny-clip-natural", "tiny-sd", "tiny-sd-natural", "tiny-sd-random",
                 "tiny-videomae", "tiny-videomae-natural", "tiny-vit", "tiny-vit-natural"]


def _run(cmd, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _env(pythonpath=None):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    return env


# Run from a folder outside the repository, so its folders cannot be imported by accident.
PROBE = """
import importlib.metadata, importlib.util, json, sys
import neurocine_toolbox, neurocine_toolbox.cli.main, neurocine_toolbox.bids_templates
from neurocine_toolbox.bids.templates import read_template
from neurocine_toolbox.models.pretrained import builtin_builder, builtin_models
builders = {name: builtin_builder(name) for name in builtin_models()}
print(json.dumps({
    "builtin_models": {name: [sys.modules[b.__module__].__file__, b.builder_version] for name, b in builders.items()},
    "package": neurocine_toolbox.__file__,
    "cli": neurocine_toolbox.cli.main.__file__,
    "templates_pkg": neurocine_toolbox.bids_templates.__file__,
    "templates": {name: read_template(name) for name in sys.argv[1:]},
    "top_level_cli": importlib.util.find_spec("cli") is not None,
    "direct_url": importlib.metadata.distribution("neurocine").read_text("direct_url.json"),
}))
"""


def _probe(cwd, pythonpath=None):
    proc = _run([sys.executable, "-c", PROBE, *TEMPLATES], cwd=cwd, env=_env(pythonpath))
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    for name in BUILD_FILES:
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, src / name)
    for name in BUILD_DIRS:
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path_factory.mktemp("dist")
    _run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(dist)],
        cwd=src,
    )
    (path,) = dist.glob("neurocine-*.whl")
    return path


@pytest.fixture(scope="module")
def target(wheel, tmp_path_factory):
    target = tmp_path_factory.mktemp("target")
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
          "--target", str(target), str(wheel)])
    return target


def test_templates_and_cli_modules_exist_in_repo():
    # Guards the tests below against passing on empty lists.
    assert "main.py" in CLI_MODULES
    assert any(n.endswith(".json") for n in TEMPLATES)
    assert any(n.startswith("README_") and n.endswith(".md") for n in TEMPLATES)


def test_wheel_holds_cli_and_templates_inside_the_library(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert wheel.name.startswith(f"neurocine-{__version__}-")
    for module in CLI_MODULES:
        assert f"neurocine_toolbox/cli/{module}" in names
    for template in TEMPLATES:
        assert f"neurocine_toolbox/bids_templates/{template}" in names
    for data in ("fslr32k_to_fsaverage5.npz", "LICENSE-HCPpipelines.md"):  # the surface table and its notice
        assert f"neurocine_toolbox/interpretation/data/{data}" in names
    for template in ("report.html.j2", "report.js"):  # the attention report's page
        assert f"neurocine_toolbox/interpretation/templates/{template}" in names
    assert {n.split("/")[0] for n in names} == {
        "neurocine_toolbox",
        f"neurocine-{__version__}.dist-info",
    }, "only the library and its metadata may be installed at the top level (no cli/)"


def test_wheel_declares_the_console_script_and_the_builtin_models(wheel):
    with zipfile.ZipFile(wheel) as zf:
        text = zf.read(f"neurocine-{__version__}.dist-info/entry_points.txt").decode()
    entry_points = configparser.ConfigParser()
    entry_points.read_string(text)
    assert dict(entry_points["console_scripts"]) == {
        "neurocine": "neurocine_toolbox.cli.main:main"
    }
    assert sorted(entry_points["neurocine.builtin_models"]) == BUILTIN_NAMES


def test_installed_wheel_imports_and_reads_templates_away_from_repo(target, tmp_path):
    assert sorted(p.name for p in target.iterdir() if p.name != "bin") == [
        f"neurocine-{__version__}.dist-info",
        "neurocine_toolbox",
    ]
    found = _probe(cwd=tmp_path, pythonpath=target)
    for key in ("package", "cli", "templates_pkg"):
        assert Path(found[key]).is_relative_to(target), (key, found[key])
    # The built-in model names resolve, through the wheel's entry points, to its own builders.
    assert sorted(found["builtin_models"]) == BUILTIN_NAMES
    for name, (module_file, version) in found["builtin_models"].items():
        assert Path(module_file).is_relative_to(target / "neurocine_toolbox" / "tiny_models"), (name, module_file)
        assert isinstance(version, int)
    assert not found["top_level_cli"]
    for name in TEMPLATES:
        assert found["templates"][name] == (REPO / "bids_templates" / name).read_text()


def test_installed_wheel_console_script_runs(target, tmp_path):
    proc = _run([str(target / "bin" / "neurocine"), "--version"], cwd=tmp_path,
                env=_env(pythonpath=target))
    assert proc.stdout == f"neurocine, version {__version__}\n"


def test_editable_install_maps_repo_folders(tmp_path):
    found = _probe(cwd=tmp_path)
    if not json.loads(found["direct_url"] or "{}").get("dir_info", {}).get("editable"):
        pytest.skip("neurocine is not installed editable in this environment")
    assert Path(found["package"]) == REPO / "neurocine_toolbox" / "__init__.py"
    assert Path(found["cli"]) == REPO / "cli" / "main.py"
    assert Path(found["templates_pkg"]) == REPO / "bids_templates" / "__init__.py"
    assert not found["top_level_cli"]
    for name in TEMPLATES:
        assert found["templates"][name] == (REPO / "bids_templates" / name).read_text()
