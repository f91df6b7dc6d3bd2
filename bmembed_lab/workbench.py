"""What the notebooks call besides the pipeline: which config to open, and small functions that
shape stage results into the tables the notebooks display. No algorithm lives in a notebook;
the ones here are plain functions over plain data, tested like the rest.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from . import methods
from .assets import demo_config
from .config import load_config
from .evaluation import systems_for  # noqa: F401 (the notebooks' lists of systems)
from .listview import (  # noqa: F401 (the notebooks' views of the training lists)
    design_list, listnet_floor, model_view, peaked_warning, target_spread)
from .mapview import (  # noqa: F401 (06's map and the followed question)
    FOCUS, FOLLOW, cached_map, focus_gold, focus_id, focus_links, focus_training_query,
    gold_rank_moves, map_table, movements, panel_shift, question_moves, region_table,
    selected_keys)
from .pageui import (  # noqa: F401 (what a page shows around the cache)
    Progress, compute_button, encode_with_progress, error_note, from_cache, stage_spinner,
    table)

CONFIG_ENV = "BMEMBED_CONFIG"

# plotly's renderers import nbformat, nbformat imports jsonschema, and jsonschema imports
# rfc3987-syntax where it is installed (JupyterLab's dependencies install it), which compiles 38
# lark grammars at import: 1-2 s on 2 cores, for IRI format checks nothing in a notebook kernel
# makes. The notebooks' own figures skip the renderers (charts.PLOT_CONFIG); this covers a figure
# shown any other way. Marked absent in this process (unless already imported), jsonschema simply
# skips those two format checkers.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def config_path() -> Path:
    """``$BMEMBED_CONFIG`` if set (tests point it at a tiny config), else the demo config."""
    return Path(os.environ.get(CONFIG_ENV) or demo_config())


def shown_path(path: str | Path) -> str:
    """A path as a page shows it: relative to the current folder when it lies under it, under
    ``~`` when it lies in the home folder, else as it is (never a long absolute path where a
    short one says the same)."""
    p = Path(path).expanduser().resolve()
    for root, prefix in ((Path.cwd().resolve(), ""), (Path.home().resolve(), "~/")):
        if p == root or root in p.parents:
            rel = p.relative_to(root).as_posix()
            return prefix + rel if rel != "." else (prefix.rstrip("/") or ".")
    return str(p)


def open_pipeline(path: str | Path | None = None, overrides: list[str] | None = None,
                  read_only: bool = False):
    """The pipeline of the notebooks' config. ``read_only``: it only reads the stage cache (a
    notebook opens this way, so opening never computes or writes); a compute button opens a
    computing one, whose stages announce themselves in a spinner (:func:`stage_spinner`)."""
    from .pipeline import Pipeline

    pipe = Pipeline(load_config(path or config_path(), overrides), read_only=read_only)
    if not read_only:
        pipe.on_stage = stage_spinner
    return pipe


def overrides(section: str, **values) -> list[str]:
    """Config overrides (``section.key=JSON``, as ``--set`` takes them) from a notebook's
    controls."""
    import json

    return [f"{section}.{k}={json.dumps(v)}" for k, v in values.items()]


def command(sub: str, settings: list[str] = ()) -> str:
    """The CLI command that computes a page's stage for its current settings, as a "not
    computed yet" note names it: ``bmembed-lab SUB -c CONFIG`` (``CONFIG``: the notebooks'
    config, filled in by :func:`from_cache`) and a ``--set`` for each of ``settings`` (a
    page's :func:`overrides`) that differs from the config."""
    import json
    import re
    import shlex

    cfg = load_config(config_path())
    out = [f"bmembed-lab {sub} -c CONFIG"]
    for item in settings:
        key, _, raw = item.partition("=")
        section, name = key.split(".", 1)
        value = json.loads(raw)
        if getattr(getattr(cfg, section), name) == value:
            continue
        bare = isinstance(value, str) and re.fullmatch(r"[\w.:/-]+", value)
        out.append("--set " + shlex.quote(f"{key}={value if bare else raw}"))
    return " ".join(out)


def win_loss(per_query: pd.DataFrame, a: str, b: str, metric: str = "Hit@10") -> pd.DataFrame:
    """Per query: a's and b's value of ``metric`` and whether a fixed it (b misses, a hits),
    broke it (b hits, a misses), or both / neither hit. For binary metrics (Hit@k); other
    metrics compare as a > b / a < b."""
    pa = per_query[per_query.system == a].set_index("query_id")
    pb = per_query[per_query.system == b].set_index("query_id")
    common = pa.index.intersection(pb.index)
    va, vb = pa.loc[common, metric], pb.loc[common, metric]
    status = np.select(
        [va > vb, va < vb, (va > 0) & (vb > 0)], ["fixed", "broke", "both hit"], "both miss"
    )
    binary = set(np.unique(np.r_[va.to_numpy(), vb.to_numpy()])) <= {0.0, 1.0}
    out = pd.DataFrame({"query_id": common, a: va.to_numpy(), b: vb.to_numpy(), "status": status})
    if binary:  # hits are counts: 0 or 1, not 0.0 / 1.0
        out[a], out[b] = out[a].astype(int), out[b].astype(int)
    for col in ("gold_rank",):
        if col in pa.columns:
            out[f"gold rank ({a})"] = [rank_text(x) for x in pa.loc[common, col]]
            out[f"gold rank ({b})"] = [rank_text(x) for x in pb.loc[common, col]]
    return out.reset_index(drop=True)


def rank_text(rank) -> str:
    """A gold chunk's rank for display: the number, or '>depth' when the run never found it."""
    return "not found" if rank is None or pd.isna(rank) else str(int(rank))


def drilldown(pipe, query_id: str, systems: list[str], depth: int = 10, width: int = 90) -> dict:
    """One test question under every system: its text, its gold chunks' texts, and a table of
    each system's top ``depth`` chunk texts (cut to ``width`` characters, gold marked ★)."""
    chunks, _ = pipe.chunks()
    q = pipe.questions()
    gold = q.relevance.grades[query_id]
    question = dict(zip(q.ids, q.texts)).get(query_id, "")

    def cut(i: int) -> str:
        t = " ".join(chunks[i].text.split())
        return ("★ " if i in gold else "") + (t[:width] + ("…" if len(t) > width else ""))
    cols = {}
    for s in systems:
        run, _ = pipe.run(s)
        top = [c for c in run.ranked(run.query_ids.index(query_id))[:depth] if c >= 0]
        cols[s] = [cut(c) for c in top] + [""] * (depth - len(top))
    ranked = pd.DataFrame({"rank": range(1, depth + 1), **cols})
    return {"question": question, "gold": [" ".join(chunks[c].text.split()) for c in sorted(gold)],
            "table": ranked}


def highlight(text: str, phrases: list[str], color: str = "#ffe08a") -> str:
    """HTML of ``text`` with every whole-word occurrence of ``phrases`` (any case) marked,
    the rest escaped: the perturbation notebook's side-by-side view."""
    import html

    from .perturbation import occurrences

    out, last = [], 0
    for start, end, _ in occurrences(text, [p for p in phrases if p]):
        out += [html.escape(text[last:start]),
                f'<mark style="background:{color}">{html.escape(text[start:end])}</mark>']
        last = end
    return "".join(out + [html.escape(text[last:])])


def perturbation_view(pset, mask_token: str, first: int | None = None) -> pd.DataFrame:
    """One row per query (the ``first`` ones, or all): original with its keywords marked,
    masked with the mask tokens marked, substituted with the replacements marked (HTML), and
    the keyword lists. Marking builds a regex per question: the notebook marks only what it
    shows."""
    queries = pset.queries[:first]
    marked = pd.DataFrame([{
        "original": highlight(q.text, q.keywords),
        "masked": highlight(q.masked, [mask_token], "#f4a6a6") if q.masked else "<i>no keyword</i>",
        "substituted": (highlight(q.substituted, list(q.substitutions.values()), "#a6d8f4")
                        if q.substituted else "<i>no substitute</i>")} for q in queries])
    keys = perturbation_keywords(queries)
    return pd.concat([keys[["query_id"]], marked, keys[["keywords", "no substitute"]]], axis=1)


def perturbation_keywords(queries) -> pd.DataFrame:
    """One row per perturbed query: its id, its keywords and the keywords left without a
    substitute, each list as one comma-separated string."""
    return pd.DataFrame([{"query_id": q.query_id, "keywords": ", ".join(q.keywords),
                          "no substitute": ", ".join(q.no_substitute)} for q in queries],
                        columns=["query_id", "keywords", "no substitute"])


def loss_start(losses: list[dict], steps: int = 10) -> float:
    """Where a training run's loss started: the mean loss of its first ``steps`` steps (one
    list's loss alone is too noisy to compare with; their learning rate is still warming up,
    so the model is close to the untrained one). The reference line of notebook 03's curve."""
    return float(np.mean([r["loss"] for r in losses[:steps]]))


def finding(res: dict, metric: str = "MAP@10") -> str:
    """The corpus's finding in words, computed from an ``evaluate`` result: the best system on
    ``metric``, where the base encoder stands against BM25, and each adapted encoder against
    the base, with paired 95% intervals."""
    s, c = res["summary"], res["comparisons"]
    c = c[c.metric == metric] if len(c) else c
    best = s[metric].idxmax()
    out = [
        f"{best} ranks best ({metric} {s.loc[best, metric]:.1f} on {int(s.loc[best, 'queries'])} "
        f"{res.get('questions', 'test')} questions, {res.get('protocol', 'clean')} protocol)"
    ]

    def said(row) -> str:
        verdict = ("a gain" if row.ci_low > 0 else "a loss" if row.ci_high < 0
                   else "no clear difference")
        return f"{row['diff']:+.1f} [{row.ci_low:+.1f}, {row.ci_high:+.1f}], {verdict}"
    rows = {r.comparison: r for _, r in c.iterrows()}
    if "base - bm25" in rows:
        out.append(f"base - BM25 {said(rows['base - bm25'])}")
    out += [f"{k} {said(r)}" for k, r in rows.items()
            if k.endswith(" - base") and not k.startswith(("rrf", "base"))]
    return "; ".join(out) + f" ({metric} points, paired 95% interval)."


def rank_pairs(per_query: pd.DataFrame, a: str, b: str, depth: int) -> pd.DataFrame:
    """Per question both systems rank: the first gold chunk's rank under ``b`` and ``a``
    (past ``depth`` or never found: depth + 1) and whether ``a`` brought it closer, further or
    left it (04's rank scatter: which questions moved)."""
    ra = per_query[per_query.system == a].set_index("query_id")["gold_rank"]
    rb = per_query[per_query.system == b].set_index("query_id")["gold_rank"]
    common = ra.index.intersection(rb.index)
    x = rb.loc[common].fillna(depth + 1).clip(upper=depth + 1).astype(int).to_numpy()
    y = ra.loc[common].fillna(depth + 1).clip(upper=depth + 1).astype(int).to_numpy()
    move = np.select([y < x, y > x], ["closer", "further"], "same")
    return pd.DataFrame({"query_id": common, f"rank ({b})": x, f"rank ({a})": y, "move": move})


def training_estimate(cache, method: str, steps: int, per_step: int, list_size: int,
                      eval_every: int = 0, requested: int | None = None) -> str:
    """A sentence estimating a run's time from :mod:`bmembed_lab.timing` (training and dev
    evaluations measured apart), or saying there is no measurement yet. ``requested``: the
    lists (or pairs) per step the form asks for, when the method raises it."""
    from .timing import MIN_STEPS, estimate

    e = estimate(cache, method, steps, per_step, list_size, eval_every)
    raised = (f" ({method} raises the {requested} asked for to {per_step}: in-batch negatives "
              "need a batch)" if requested is not None and requested < per_step else "")
    if e["train"] is None:
        return (f"No run of {MIN_STEPS} steps or more has been timed on this machine yet: the "
                f"progress bar will tell after a few steps{raised}.")
    texts = methods.get(method).texts_per_item(list_size)
    evals = ("" if not e["n_evals"] else
             f" plus {e['n_evals']} dev evaluations" + (
                 f", about {e['evals'] / 60:.1f} min" if e["evals"] is not None else ""))
    return (f"Estimated {e['train'] / 60:.1f} min of training ({steps} steps x {per_step} per "
            f"step x {texts} texts at {e['rate'] * 1000:.0f} ms per text, the median of "
            f"{e['runs']} run(s) in this cache){evals}{raised}.")
