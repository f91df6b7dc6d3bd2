"""What a page shows around the cache (bmembed_lab/pageui.py), outside a browser: progress bars
that open and close (a bar that never closed raised AttributeError at the end of every real
encoding or LLM generation a notebook showed), the compute button inside a "not computed yet"
note, the pipeline announcing each stage it computes, and the command a note names."""

import pytest

from bmembed_lab import pageui, workbench
from bmembed_lab.errors import InputError, NotComputed


def test_progress_opens_a_bar_per_pass_and_closes_it():
    with pageui.Progress("generating", "calls") as bar:
        bar(1, 3)
        bar(3, 3)
        bar(1, 5)  # a second pass (the llm backend's synthesis calls): a new bar
        assert bar._part == 2 and bar._bar is not None
    assert bar._bar is None


def test_a_missing_stage_stops_the_cell_with_the_pages_button_in_the_note():
    from marimo._runtime.control_flow import MarimoStopError

    button = pageui.compute_button()

    def missing():
        raise NotComputed("lists")

    with pytest.raises(MarimoStopError) as err:
        pageui.from_cache(missing, button)
    shown = err.value.output.text
    assert "Not computed yet" in shown and "lists" in shown
    assert pageui.COMPUTE in shown  # the button itself, rendered inside the note
    with pytest.raises(MarimoStopError) as err:
        pageui.from_cache(missing, "Train")
    assert "press" in err.value.output.text and "Train" in err.value.output.text


def test_a_package_error_stops_the_cell_with_its_fix():
    from marimo._runtime.control_flow import MarimoStopError

    def bad():
        raise InputError("no training list could be drawn", "sampling", "set sampling.m = 4")

    with pytest.raises(MarimoStopError) as err:
        pageui.from_cache(bad, pageui.compute_button())
    assert "set sampling.m = 4" in err.value.output.text


def test_a_computing_pipeline_announces_each_stage(tiny_toml, monkeypatch):  # noqa: F811
    seen = []
    monkeypatch.setattr(pageui, "stage_spinner", seen.append)
    monkeypatch.setattr(workbench, "stage_spinner", seen.append)
    pipe = workbench.open_pipeline(tiny_toml)
    pipe.chunks()
    assert seen[:2] == ["chunks", "dataset"]  # the stage asked for, then what it needs
    assert workbench.open_pipeline(tiny_toml, read_only=True).on_stage is None


def test_a_note_names_the_command_for_the_pages_settings(tiny_toml, monkeypatch):  # noqa: F811
    monkeypatch.setenv(workbench.CONFIG_ENV, str(tiny_toml))
    same = workbench.overrides("perturbation", max_keywords=5)
    other = workbench.overrides("perturbation", max_keywords=3, mask_token="[UNK] x")
    assert workbench.command("perturb", same) == "bmembed-lab perturb -c CONFIG"
    assert workbench.command("perturb", other) == (
        "bmembed-lab perturb -c CONFIG --set perturbation.max_keywords=3 "
        "--set 'perturbation.mask_token=\"[UNK] x\"'")


from .test_notebooks import tiny_toml  # noqa: E402, F401  (fixture)


def test_a_followed_question_opens_its_document_list_and_links(tiny_toml):  # noqa: F811
    """?question=ID: focus_gold names its gold chunks and their documents (01 opens the first),
    focus_training_query the training query whose BM25 top chunks hold a gold chunk (02's
    list), focus_links the other notebooks on the same question."""
    pipe = workbench.open_pipeline(tiny_toml)
    q = pipe.questions()
    chunks = pipe.chunks()[0]
    ranking = pipe.training_ranking()[0]
    f = workbench.focus_gold(pipe, q.ids[0])
    assert f["id"] == q.ids[0] and f["text"] == q.texts[0]
    assert set(f["gold"]) == set(q.relevance.grades[q.ids[0]])
    assert f["documents"] == list(dict.fromkeys(chunks[c].doc_id for c in f["gold"]))
    assert workbench.focus_gold(pipe, "not-a-question") is None
    assert workbench.focus_gold(pipe, None) is None
    found = [workbench.focus_training_query(ranking, workbench.focus_gold(pipe, i)["gold"])
             for i in q.ids]
    for qid, row in zip(q.ids, found):
        if row is not None:
            assert set(ranking.indices[row, :10]) & set(q.relevance.grades[qid])
    assert any(r is not None for r in found)
    links = workbench.focus_links("q 1", "04_evaluation")
    assert "?file=06_embedding_map.py&question=q%201" in links and "04_evaluation" not in links


def test_a_table_shows_lists_as_their_items_and_no_dtype_labels():
    import pandas as pd

    rows = pageui.table([{"count": "examples", "value": ["a", "b"]}, {"count": "n", "value": 3}])
    assert rows.data[0]["value"] == "a, b" and rows.data[1]["value"] == 3
    frame = pageui.table(pd.DataFrame({"names": [["x", "y"]], "n": [1]}))
    assert frame.data["names"].tolist() == ["x, y"] and frame.data["n"].tolist() == [1]


def test_the_stage_spinner_opens_once_per_thread_and_closes():
    import threading

    pageui.stage_spinner("chunks")
    pageui.stage_spinner("dense_run:base:test")  # the same spinner, its subtitle changed
    assert len(pageui._active()) == 1
    seen = []
    other = threading.Thread(target=lambda: seen.append(len(pageui._active())))
    other.start()
    other.join()
    assert seen == [0]  # another session's thread has its own
    pageui._close_spinner()
    assert pageui._active() == []
