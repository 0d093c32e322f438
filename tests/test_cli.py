"""The ``neurocine`` group: version, help, one-line errors, ``--debug``, ``--quiet``, entry point.

Error display and logging are checked on a new group that reuses ``NeurocineGroup`` and the real
global options, with throwaway commands, so these tests do not depend on any real command.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from neurocine_toolbox import NeurocineError, __version__

# Built the same way in-process (below) and in a subprocess (test_traceback_reaches_the_terminal).
PROBE_GROUP = '''
import logging
import click
from neurocine_toolbox import NeurocineError
from neurocine_toolbox.cli.main import NeurocineGroup, cli

group = NeurocineGroup(name="neurocine", params=list(cli.params), callback=cli.callback,
                       context_settings=cli.context_settings)

@group.command()
def bad():
    raise NeurocineError("not a CIFTI file", path="sub-01_bold.nii")

@group.command()
def crash():
    raise RuntimeError("boom")

@group.command()
@click.pass_obj
def talk(settings):
    log = logging.getLogger("neurocine")
    log.debug("debug detail")
    log.info("step one done")
    log.warning("careful")
    click.echo(f"quiet={settings.quiet}")
'''


@pytest.fixture
def probe(cli_runner):
    namespace = {}
    exec(PROBE_GROUP, namespace)  # noqa: S102 - our own constant, shared with the subprocess test

    def run(*args):
        return cli_runner.invoke(namespace["group"], list(args), prog_name="neurocine")

    return run


def test_version(invoke):
    result = invoke(["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"neurocine, version {__version__}\n"


def test_short_and_long_help_show_the_global_options(invoke):
    short, long = invoke(["-h"]), invoke(["--help"])
    assert short.exit_code == 0
    assert short.stdout == long.stdout
    assert short.stdout.startswith("Usage: neurocine [OPTIONS] COMMAND [ARGS]...")
    for option in ("--version", "--debug", "--quiet", "-h, --help"):
        assert option in short.stdout


def test_neurocine_error_is_one_line_without_traceback(probe):
    result = probe("bad")
    assert result.exit_code == 1
    assert result.stderr == "neurocine: error: sub-01_bold.nii: not a CIFTI file\n"
    assert result.stdout == ""


def test_debug_lets_the_neurocine_error_through(probe):
    result = probe("--debug", "bad")
    assert isinstance(result.exception, NeurocineError)
    assert str(result.exception) == "sub-01_bold.nii: not a CIFTI file"
    assert "neurocine: error:" not in result.stderr


def test_unexpected_error_is_one_line_pointing_to_debug(probe):
    result = probe("crash")
    assert result.exit_code == 2
    assert result.stderr == (
        "neurocine: internal error: RuntimeError: boom (rerun with --debug)\n"
    )
    assert isinstance(probe("--debug", "crash").exception, RuntimeError)


@pytest.mark.parametrize("debug", [False, True])
def test_traceback_reaches_the_terminal_only_with_debug(tmp_path, debug):
    script = PROBE_GROUP + '\nimport sys\ngroup(sys.argv[1:], prog_name="neurocine")\n'
    args = ["--debug", "bad"] if debug else ["bad"]
    proc = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 1
    if debug:
        assert proc.stderr.startswith("Traceback (most recent call last):")
        assert proc.stderr.rstrip().endswith(
            "NeurocineError: sub-01_bold.nii: not a CIFTI file"
        )
    else:
        assert proc.stderr == "neurocine: error: sub-01_bold.nii: not a CIFTI file\n"


def test_default_logging_shows_info_and_warnings(probe):
    result = probe("talk")
    assert result.exit_code == 0
    assert result.stdout == "quiet=False\n"
    assert result.stderr == "step one done\nwarning: careful\n"


def test_quiet_keeps_only_warnings_and_reaches_commands(probe):
    result = probe("--quiet", "talk")
    assert result.exit_code == 0
    assert result.stdout == "quiet=True\n"
    assert result.stderr == "warning: careful\n"


def test_debug_adds_debug_messages(probe):
    result = probe("--debug", "talk")
    assert result.stderr == "debug detail\nstep one done\nwarning: careful\n"


def test_installed_console_script(tmp_path):
    script = Path(sys.executable).with_name("neurocine")
    assert script.is_file(), f"no console script next to {sys.executable}; run `make test`"
    proc = subprocess.run([str(script), "--version"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"neurocine, version {__version__}\n"
