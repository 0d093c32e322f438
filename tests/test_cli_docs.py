"""docs/cli.md's command reference is what scripts/generate_cli_docs.py makes of the commands.

The generator is also checked on a small click application built here, so that these tests fail
if it stopped reflecting options, defaults, help or sub-commands (and cannot pass vacuously).
"""

import difflib
import importlib.util
from pathlib import Path

import click
import pytest

from neurocine_toolbox.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "generate_cli_docs.py"


def _load_generator():
    spec = importlib.util.spec_from_file_location("generate_cli_docs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def test_docs_cli_md_is_generated_from_the_current_commands():
    current = gen.DOCUMENT.read_text(encoding="utf-8")
    wanted = gen.update_document(current, gen.render_reference(cli))
    if current != wanted:
        diff = "".join(difflib.unified_diff(current.splitlines(keepends=True), wanted.splitlines(keepends=True),
                                            "docs/cli.md", "generated", n=1))
        pytest.fail(f"docs/cli.md is out of date with the click commands; run `{gen.RERUN}`\n{diff[:4000]}")


def test_every_real_command_and_option_is_in_the_reference():
    reference = gen.render_reference(cli)
    ctx = cli.make_context("neurocine", [], resilient_parsing=True)
    names = cli.list_commands(ctx)
    assert len(names) >= 8
    for name in names:
        command = cli.get_command(ctx, name)
        section = reference.split(f"### neurocine {name}\n", 1)[1].split("\n### ", 1)[0]
        for param in command.params:
            if isinstance(param, click.Option):
                assert all(f"`{opt}`" in section for opt in param.opts), (name, param.opts)
            else:
                assert f"`{param.human_readable_name}`" in section, (name, param.name)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--loud", is_flag=True, help="Say more.")
def toy():
    """A toy application.

    \b
    Typical use:
      toy count 3
    """


@toy.command("count")
@click.argument("start", type=int)
@click.argument("out_dir", required=False, default="out", type=click.Path(file_okay=False))
@click.option("-n", "--times", type=click.IntRange(min=1), default=3, show_default=True,
              help="How many <items> to count, e.g. a|b.")
@click.option("--mode", type=click.Choice(["fast", "slow"]), default="slow", help="Speed.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag (repeatable).")
@click.option("--subject", required=True, help="Who counts.")
@click.option("--colour/--no-colour", default=True, help="Colour the output.")
@click.option("--secret", hidden=True)
def count(start, out_dir, times, mode, tags, subject, colour, secret):
    """Count from START.

    - not a list item: the dash starts the paragraph.
    """


@toy.group("nested")
def nested():
    """Commands below a sub-group."""


@nested.command("leaf")
@click.option("--size", type=float, default=1.5, help="The size.")
def leaf(size):
    """A command two levels down."""


def test_a_small_application_renders_its_usage_help_and_options():
    text = gen.render_reference(toy, prog_name="toy")
    lines = text.splitlines()
    # The CLI's own order (click lists a group's commands alphabetically), depth first.
    headings = [line for line in lines if line.startswith("### ")]
    assert headings == ["### toy", "### toy count", "### toy nested", "### toy nested leaf"]
    assert "| [`toy count`](#toy-count) | Count from START. |" in lines
    assert "| [`toy nested leaf`](#toy-nested-leaf) | A command two levels down. |" in lines
    assert "Every command also takes `-h` / `--help`, which prints its help and exits." in lines
    assert "toy count [OPTIONS] START [OUT_DIR]" in lines
    assert "toy nested leaf [OPTIONS]" in lines
    # \b paragraphs keep their lines in a code block; prose is escaped.
    assert "```\nTypical use:\n  toy count 3\n```" in text
    assert r"\- not a list item: the dash starts the paragraph." in lines
    rows = {line.split(" | ")[0]: line for line in lines if line.startswith("| `")}
    assert rows["| `START`"] == "| `START` | integer | – | required |  |"
    assert rows["| `OUT_DIR`"] == "| `OUT_DIR` | folder | `out` |  |  |"
    assert rows["| `-n`, `--times`"] == (
        r"| `-n`, `--times` | integer ≥ 1 | `3` |  | How many \<items\> to count, e.g. a\|b. |")
    assert rows["| `--mode`"] == r"| `--mode` | `fast` \| `slow` | `slow` |  | Speed. |"
    assert rows["| `--tag` `KEY=VALUE`"] == "| `--tag` `KEY=VALUE` | text | – | repeatable | A tag (repeatable). |"
    assert rows["| `--subject`"] == "| `--subject` | text | – | required | Who counts. |"
    assert rows["| `--colour` / `--no-colour`"] == (
        "| `--colour` / `--no-colour` | flag | `--colour` |  | Colour the output. |")
    assert rows["| `--loud`"] == "| `--loud` | flag | off |  | Say more. |"
    assert rows["| `--size`"] == "| `--size` | number | `1.5` |  | The size. |"
    assert "--secret" not in text and "`--help`" not in "".join(rows.values())


def test_the_reference_follows_a_changed_default_and_help():
    before = gen.render_reference(toy, prog_name="toy")
    option = next(p for p in count.params if p.name == "times")
    old = option.default, option.help
    try:
        option.default, option.help = 7, "Counted differently."
        after = gen.render_reference(toy, prog_name="toy")
    finally:
        option.default, option.help = old
    assert before != after
    assert "| `-n`, `--times` | integer ≥ 1 | `7` |  | Counted differently. |" in after.splitlines()


def test_output_does_not_depend_on_the_terminal(monkeypatch):
    reference = gen.render_reference(cli)
    monkeypatch.setenv("COLUMNS", "30")
    assert gen.render_reference(cli) == reference
    assert str(ROOT) not in reference and str(Path.home()) not in reference


def test_update_document_rewrites_only_between_the_markers():
    text = f"# Title\n\nprose\n\n{gen.BEGIN}\nold\n{gen.END}\n\nafter\n"
    assert gen.update_document(text, "new\n") == f"# Title\n\nprose\n\n{gen.BEGIN}\n\nnew\n\n{gen.END}\n\nafter\n"
    for broken in ["no markers", f"{gen.END}\n{gen.BEGIN}\n", f"{gen.BEGIN}\n{gen.BEGIN}\n{gen.END}\n"]:
        with pytest.raises(ValueError):
            gen.update_document(broken, "new\n")


def test_check_reports_a_stale_file_and_writing_fixes_it(tmp_path, capsys):
    path = tmp_path / "cli.md"
    path.write_text(f"# neurocine\n\n{gen.BEGIN}\nstale\n{gen.END}\n", encoding="utf-8")
    assert gen.main(["--check", "--path", str(path)]) == 1
    out = capsys.readouterr().out
    assert "-stale" in out and "+### neurocine prep" in out and gen.RERUN in out
    assert "stale" in path.read_text(encoding="utf-8")
    assert gen.main(["--path", str(path)]) == 0
    assert gen.main(["--check", "--path", str(path)]) == 0
    assert path.read_text(encoding="utf-8").startswith("# neurocine\n\n")
    path.write_text("no markers\n", encoding="utf-8")
    assert gen.main(["--check", "--path", str(path)]) == 2
