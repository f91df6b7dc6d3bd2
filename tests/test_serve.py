"""`bmembed-lab notebooks`: which notebook a name means, what the server imports before it
listens (never torch), what it hands marimo, and the errors on a wrong name or config. The
browser tests start every notebook through this command (tests/test_browser.py)."""
import subprocess
import sys

import pytest

from bmembed_lab import cli, serve
from bmembed_lab.errors import InputError

from .test_notebooks import ROOT


def test_a_notebook_is_named_by_number_name_or_path_and_a_wrong_name_lists_the_right_ones():
    six = ROOT / "notebooks" / "06_embedding_map.py"
    assert serve.notebook_path("06") == six
    assert (
        serve.notebook_path("06_embedding_map") == serve.notebook_path("06_embedding_map.py") == six
    )
    assert serve.notebook_path(str(six)) == six
    assert serve.notebook_path(None) == ROOT / "notebooks"  # every notebook: marimo's gallery
    assert (
        serve.notebook_path(str(ROOT / "bench" / "reference_notebooks"))
        == ROOT / "bench" / "reference_notebooks"
    )
    with pytest.raises(InputError, match="no notebook '10'") as err:
        serve.notebook_path("10")
    assert "07_perturbation" in err.value.fix
    with pytest.raises(InputError, match="more than one"):
        serve.notebook_path("0")


def test_the_server_imports_what_the_notebooks_import_and_never_torch():
    code = (
        "import sys; from bmembed_lab.serve import warm_imports; s = warm_imports(); "
        "print([m for m in ('pandas', 'plotly.graph_objs._scattergl', 'bmembed_lab.workbench') "
        "if m not in sys.modules], sorted(m for m in ('torch', 'transformers', 'scipy', 'numba', "
        "'umap') if m in sys.modules), s > 0)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0 and out.stdout.strip() == "[] [] True", (
        out.stdout + out.stderr[-2000:]
    )


def test_marimo_gets_the_notebook_host_token_and_options_and_the_notebooks_get_the_config(
        tmp_path, monkeypatch):
    tiny_toml = tmp_path / "mine.toml"
    tiny_toml.write_text("[chunking]\nchunk_tokens = 128\n")
    seen = {}
    monkeypatch.setattr(serve, "warm_imports", lambda: seen.setdefault("warmed", 0.0))
    monkeypatch.setattr(serve.gc, "freeze", lambda: seen.setdefault("frozen", True))
    monkeypatch.setattr(serve.runpy, "run_module", lambda name, **kw: seen.update(
        module=name, argv=list(sys.argv), env=serve.os.environ.get("BMEMBED_CONFIG")))
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setenv("BMEMBED_CONFIG", "")  # restored after the test, which serve() changes
    monkeypatch.delenv("BMEMBED_CONFIG")
    assert cli.main(["notebooks", "06", "-c", str(tiny_toml), "--port", "2718", "--headless",
                     "--", "--token-password", "t"]) == 0
    assert seen["module"] == "marimo" and seen["env"] == str(tiny_toml.resolve())
    assert seen["argv"] == [
        "marimo",
        "run",
        str(ROOT / "notebooks" / "06_embedding_map.py"),
        "--host",
        "127.0.0.1",
        "--port",
        "2718",
        "--headless",
        "--token",
        "--token-password",
        "t",
    ]
    assert seen["warmed"] == 0.0 and seen["frozen"]
    seen.clear()
    assert cli.main(["notebooks", "--edit"]) == 0  # the editor: its kernels are processes
    assert seen["argv"] == ["marimo", "edit", str(ROOT / "notebooks"), "--host", "127.0.0.1"]
    assert "warmed" not in seen


def test_a_wrong_config_or_name_stops_before_the_server_and_only_notebooks_takes_marimo_options(
        tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[chunking]\nchunk_tokns = 3\n")
    assert cli.main(["notebooks", "06", "-c", str(bad)]) == 2
    assert "chunk_tokns" in capsys.readouterr().err
    assert cli.main(["notebooks", "9"]) == 2
    assert "no notebook '9'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["run", "--", "--watch"])
    assert "only `bmembed-lab notebooks`" in capsys.readouterr().err
