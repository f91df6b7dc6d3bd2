# /// script
# [tool.marimo.opengraph]  # the title and line of this notebook's card in `bmembed-lab notebooks`
# title = "01 · Query generation"
# description = "Training questions per document, offline or by an LLM; what was filtered and why"
# ///
import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="01 · Query generation")


@app.cell
def _():
    import marimo as mo
    import pandas as pd

    from bmembed_lab import workbench
    return mo, pd, workbench


@app.cell
def _(mo):
    mo.md(r"""
    # 01 · Query generation (paper Section 3.1, Appendix A)

    BMEmbed needs questions about the private corpus. The **llm** backend asks any
    OpenAI-compatible endpoint to extract events from each document segment and to write
    questions about them; the **offline** backend (the default, no network) builds template
    questions from a passage's most distinctive words (`keyphrase`) or deletes words from one of
    its sentences (`ict`). Filters drop empty, duplicate and copied queries and any query that
    leaks an evaluation question.
    """)
    return


@app.cell
def _(mo, workbench):
    cfg = workbench.open_pipeline(read_only=True).cfg
    backend = mo.ui.dropdown(
        ["offline", "llm"],
        value=cfg.queries.backend if cfg.queries.backend != "file" else "offline",
        label="backend",
    )
    method = mo.ui.dropdown(["keyphrase", "ict"], value=cfg.queries.method, label="offline method")
    base_url = mo.ui.text(value=cfg.llm.base_url or "", label="LLM base URL (OpenAI-compatible)",
                          full_width=True)
    generate = mo.ui.run_button(label="Generate (or load the cached queries)")
    mo.vstack([mo.hstack([backend, method]), base_url, generate])
    return backend, base_url, generate, method


@app.cell
def _(backend, base_url, method, workbench):
    overrides = workbench.overrides("queries", backend=backend.value, method=method.value)
    if base_url.value:
        overrides += workbench.overrides("llm", base_url=base_url.value)
    return (overrides,)


@app.cell
def _(generate, mo, overrides, pd, workbench):
    from bmembed_lab.querygen import dry_run

    # opening only reads the cache; the Generate button opens a computing pipeline
    pipe = workbench.open_pipeline(overrides=overrides, read_only=not generate.value)
    _how = ("Generate (or load the cached queries)", workbench.command("queries", overrides))
    docs = workbench.from_cache(pipe.dataset, *_how)[0].documents
    est = dry_run(docs, pipe.cfg.queries, pipe.cfg.llm)
    mo.vstack(
        [
            mo.md(
                "**LLM dry run** (nothing is sent): what the llm backend would cost on this corpus"
            ),
            workbench.table(
                pd.DataFrame({"item": list(est), "value": [str(v) for v in est.values()]}),
                selection=None,
            ),
        ]
    )
    return docs, pipe


@app.cell
def _(backend, generate, mo, overrides, pipe, workbench):
    mo.stop(backend.value == "llm" and not generate.value,
            mo.md("Press *Generate* to call the endpoint (replies are cached one by one)."))
    # offline: one tick a document; llm: one a call (extraction calls, then synthesis calls)
    _unit = "LLM calls" if backend.value == "llm" else "documents"
    with workbench.Progress("generating queries", _unit) as _bar:
        qs, _ = workbench.from_cache(lambda: pipe.synthetic_queries(progress=_bar),
                                     "Generate (or load the cached queries)",
                                     workbench.command("queries", overrides))
    mo.md("**Counts**: " + ", ".join(f"{k}: {v}" for k, v in qs.counts.items()))
    return (qs,)


@app.cell
def _(docs, mo, pipe, qs, workbench):
    # the URL's ?question=ID opens the document of its gold chunk
    _focus = workbench.focus_gold(pipe, workbench.focus_id())
    _shown = docs[:300] + [d for d in docs[300:] if _focus and d.doc_id in _focus["documents"]]
    _first = next((d for d in _shown if _focus and d.doc_id in _focus["documents"]), docs[0])
    doc = mo.ui.dropdown({d.title or d.doc_id: d.doc_id for d in _shown},
                         value=(_first.title or _first.doc_id), label="document",
                         searchable=True)
    mo.vstack([doc] + ([mo.md(f"Following question **{_focus['id']}**: _{_focus['text']}_ "
                              "(its gold chunk's document is chosen). "
                              + workbench.focus_links(_focus["id"], "01_query_generation"))]
                       if _focus else []))
    return (doc,)


@app.cell
def _(doc, docs, mo, pd, qs, workbench):
    d = next(x for x in docs if x.doc_id == doc.value)
    events = [e for e in qs.events if e.doc_id == d.doc_id]
    queries = [q for q in qs.queries if q.doc_id == d.doc_id]
    side = pd.DataFrame(
        {
            "event": [e.event[:200] for e in events],
            "evidence": [" … ".join(e.context)[:300] for e in events],
            "queries": [
                " | ".join(q.text for q in queries if q.event_id == e.event_id) for e in events
            ],
        }
    )
    mo.vstack(
        [
            mo.md(
                f"**{d.title or d.doc_id}** ({len(d.text):,} characters): {len(events)} events → "
                f"{len(queries)} kept queries"
            ),
            mo.md(f"> {d.text[:600]}…"),
            workbench.table(side, selection=None, page_size=8),
        ]
    )
    return (side,)


@app.cell
def _(mo, pd, qs, workbench):
    dropped = pd.DataFrame(qs.dropped, columns=["query_id", "text", "reason", "detail"])
    leak = pd.DataFrame(qs.leakage)
    mo.vstack([mo.md(f"### Filter report: {len(dropped)} dropped"),
               workbench.table(dropped, selection=None, page_size=8),
               mo.md(f"### Leakage check: {len(leak)} queries too close to an evaluation question"),
               workbench.table(leak, selection=None, page_size=8)])
    return dropped, leak


if __name__ == "__main__":
    app.run()
