"""Export of a trained encoder (paper Section 3.3's adapted model, ready to use elsewhere).

In: the trained :class:`~bmembed_lab.encoder.Encoder`, the base model's folder, an output
folder and the run's information. Out: ``adapter/`` (LoRA, peft format), ``merged/`` (a
sentence-transformers folder, also a plain transformers one, with the module stack the
workbench trained and evaluated: pooling, Dense, Normalize, prompts, similarity) and the model
card, ``README.md`` with Hugging Face YAML metadata and its loss curve ``loss.svg``, inside
``merged/`` (where the Hub and sentence-transformers look for it) and beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import methods


def export_model(enc, base_path: Path, out: Path, card: dict) -> dict:
    """Write ``out/adapter`` (LoRA only, peft format), ``out/merged`` (a sentence-transformers
    folder: :func:`write_stack`) and the model card with its loss curve in ``out/merged`` and
    ``out``. Returns the paths."""
    out = Path(out)
    paths = {}
    model = enc.model
    folders = [out / "merged", out]
    if hasattr(model, "merge_and_unload"):  # a peft model
        model.save_pretrained(str(out / "adapter"))
        paths["adapter"] = str(out / "adapter")
        folders.append(out / "adapter")
        model = model.merge_and_unload()
    merged = out / "merged"
    model.save_pretrained(str(merged), safe_serialization=True)
    enc.tokenizer.save_pretrained(str(merged))
    write_stack(enc, merged)
    paths["merged"] = str(merged)
    for folder in folders:  # where the Hub, sentence-transformers and peft look for it
        (folder / "README.md").write_text(model_card(card))
        (folder / "loss.svg").write_text(loss_svg(card.get("losses") or []))
    paths["card"] = str(merged / "README.md")
    return paths


def results_table(sel: dict) -> list[str]:
    """The card's results: base, BM25 and this export on the dev split that chose the step,
    each with this export minus it and its paired 95% interval (no test split is read before
    the export: that is `bmembed-lab evaluate`'s)."""
    def iv(g):
        return "-" if not g else f"{g['diff']:+.2f} [{g['low']:+.2f}, {g['high']:+.2f}]"
    rows = [("base model (step 0)", sel.get("base"), sel.get("gain over base")),
            ("BM25", sel.get("bm25"), sel.get("gain over bm25")),
            (f"this export (step {sel.get('best_step')})", sel.get("best"), None)]
    return [f"| system | dev {sel['metric']} | this export minus it [paired 95%] |",
            "|---|---|---|",
            *[f"| {name} | {value:.2f} | {iv(g)} |" for name, value, g in rows
              if value is not None], ""]


def loss_svg(losses: list[dict], width: int = 640, height: int = 240) -> str:
    """The training loss per step as a small standalone SVG line chart (no plotting library:
    a card must render wherever Markdown shows images)."""
    pts = [(r["step"], r["loss"]) for r in losses if r.get("loss") == r.get("loss")]
    pad = 40
    if not pts:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
                '<text x="10" y="20">no loss recorded</text></svg>\n')
    (x0, x1), (y0, y1) = [(min(v), max(v)) for v in zip(*pts)]
    sx = (width - 2 * pad) / max(x1 - x0, 1)
    sy = (height - 2 * pad) / max(y1 - y0, 1e-12)
    line = " ".join(f"{pad + (x - x0) * sx:.1f},{height - pad - (y - y0) * sy:.1f}"
                    for x, y in pts)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif" font-size="12">'
            f'<rect width="100%" height="100%" fill="white"/>'
            f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{line}"/>'
            f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
            f'stroke="black"/><line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" '
            f'stroke="black"/>'
            f'<text x="{pad}" y="{height - 10}">step {x0}</text>'
            f'<text x="{width - pad}" y="{height - 10}" text-anchor="end">step {x1}</text>'
            f'<text x="4" y="{pad - 8}">loss {y1:.3g}</text>'
            f'<text x="4" y="{height - pad + 14}">{y0:.3g}</text></svg>\n')


def _module_type(module) -> str:
    return f"{type(module).__module__}.{type(module).__name__}"


def write_stack(enc, folder: Path) -> None:
    """Make ``folder`` (a saved transformers model) the sentence-transformers model that
    ``enc`` computes: the Transformer at its root, then the head's modules saved by
    sentence-transformers itself (the pooling modes used, the base's frozen Dense layers,
    Normalize where embeddings are normalised), the input limit and lower-casing, and the
    query and document prefixes as the ``query`` / ``document`` prompts with the base's
    similarity function, so ``encode_query`` / ``encode_document`` give what was evaluated."""
    from sentence_transformers.base.modules import Normalize, Transformer

    folder, head, stack = Path(folder), enc.head, enc.stack
    modules = [(f"{Transformer.__module__}.Transformer", "", None),
               (None, "1_Pooling", head.pooling)]
    modules += [(None, f"{2 + i}_Dense", layer) for i, layer in enumerate(head.dense)]
    if stack.normalize:
        modules.append((None, f"{2 + len(head.dense)}_Normalize", Normalize()))
    entries = []
    for i, (kind, sub, module) in enumerate(modules):
        if module is not None:
            (folder / sub).mkdir(parents=True, exist_ok=True)
            module.save(str(folder / sub))
        entries.append({"idx": i, "name": str(i), "path": sub,
                        "type": kind or _module_type(module)})
    (folder / "modules.json").write_text(json.dumps(entries, indent=2))
    (folder / "sentence_bert_config.json").write_text(json.dumps(
        {"max_seq_length": enc.max_length, "do_lower_case": stack.lowercase}, indent=2))
    (folder / "config_sentence_transformers.json").write_text(json.dumps(
        {"model_type": "SentenceTransformer", "default_prompt_name": None,
         "prompts": {"query": enc.query_instruction, "document": enc.document_prefix},
         "similarity_fn_name": stack.similarity}, indent=2))


def model_card(info: dict) -> str:
    """Markdown with Hugging Face YAML metadata: base model (as the config names it), data
    and config hashes, every hyperparameter, the loss curve and the dev evaluation that chose
    the exported step."""
    # the method family's tag (BMEmbed) and this run's method
    tags = ["sentence-transformers", "feature-extraction", methods.DEFAULT, "bmembed-lab",
            info.get("method", methods.DEFAULT)]
    meta = ["---", "library_name: sentence-transformers", "pipeline_tag: sentence-similarity",
            "tags:"] + [f"- {t}" for t in dict.fromkeys(tags)]
    if info.get("base_hub_id"):  # a Hub id only, never a path of this machine
        meta.append(f"base_model: {json.dumps(info['base_hub_id'])}")
    if info.get("base_license"):
        meta.append(f"license: {json.dumps(str(info['base_license']))}")
    lines = meta + [
        "---",
        "",
        f"# {info.get('name', 'bmembed-lab adapted encoder')}",
        "",
        "Adapted to a private corpus with bmembed-lab "
        "(BMEmbed: listwise fine-tuning on BM25 rank lists).",
        "",
        f"- base model: `{info.get('base_model')}` (content hash `{info.get('base_fingerprint')}`)",
        f"- method: {info.get('method')}",
        f"- training data (lists) key: `{info.get('data_key')}`",
        f"- config hash: `{info.get('config_hash')}`",
        f"- steps: {info.get('steps')}, "
        f"seconds: {info.get('seconds', 0):.0f}, final loss: {info.get('final_loss')}",
        *([f"- **query side only**: encode queries with this model and documents with the base "
           f"model `{info.get('base_model')}` (the index was never rebuilt)"]
          if (info.get("hyperparameters") or {}).get("query_side") else []),
        "",
        "## Hyperparameters",
        "",
        "| option | value |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in sorted(info.get("hyperparameters", {}).items())]
    if info.get("losses"):
        lines += ["", "## Training loss", "", "![training loss per step](loss.svg)"]
    if info.get("protocol"):
        lines += ["", f"Query protocol: **{info['protocol']}** (query prefix: "
                      f"{info.get('query_prefix')!r}; passages get none)."]
    sel = info.get("selection")
    if sel:
        lines += [
            "",
            "## Evaluation on the dev split (it chose the exported step)",
            "",
            f"{sel['metric']} on {sel['on']}: base model {sel['base']:.2f}; best "
            f"{sel['best']:.2f} at step {sel['best_step']} (the exported weights)"
            + (
                f"; stopped early at step {sel['stopped_early_at']}"
                if sel.get("stopped_early_at")
                else ""
            )
            + ".",
            "",
            *results_table(sel),
            "| step | dev score |",
            "|---|---|",
        ]
        lines += [f"| {c['step']} | {c['score']:.2f} |" for c in sel["curve"]]
        if sel.get("worse_than_base"):
            lines += [
                "",
                "**WORSE THAN BASE**: no checkpoint of this run beat the model it started "
                "from on the dev split. Prefer the base model.",
            ]
    lines += ["", "Test-split numbers: `bmembed-lab evaluate` with this model named as a system.",
              "", "Load with `sentence_transformers.SentenceTransformer('merged')` or "
              "`transformers.AutoModel.from_pretrained('merged')` (pooling: "
              f"{info.get('pooling')}, L2-normalised)."]
    return "\n".join(lines) + "\n"
