"""Export of a trained encoder (paper Section 3.3's adapted model, ready to use elsewhere).

In: the trained :class:`~bmembed_lab.encoder.Encoder`, the base model's folder, an output
folder and the run's information. Out: ``adapter/`` (LoRA, peft format), ``merged/`` (a plain
transformers folder that sentence-transformers also loads, pooling and normalisation
included) and ``README.md`` (the model card).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path


ST_FILES = ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json")


def export_model(enc, base_path: Path, out: Path, card: dict) -> dict:
    """Write ``out/adapter`` (LoRA only, peft format), ``out/merged`` (a plain transformers
    folder that sentence-transformers also loads, pooling and normalisation included) and
    ``out/README.md`` (the model card). Returns the paths."""
    out = Path(out)
    paths = {}
    model = enc.model
    if hasattr(model, "merge_and_unload"):  # a peft model
        model.save_pretrained(str(out / "adapter"))
        paths["adapter"] = str(out / "adapter")
        model = model.merge_and_unload()
    merged = out / "merged"
    model.save_pretrained(str(merged), safe_serialization=True)
    enc.tokenizer.save_pretrained(str(merged))
    base_path = Path(base_path)
    if (base_path / "modules.json").is_file():
        for name in ST_FILES:
            if (base_path / name).is_file():
                shutil.copy(base_path / name, merged / name)
        for m in json.loads((base_path / "modules.json").read_text()):
            if m.get("path") and (base_path / m["path"]).is_dir():
                shutil.copytree(base_path / m["path"], merged / m["path"], dirs_exist_ok=True)
    else:
        dim = int(model.config.hidden_size)
        (merged / "modules.json").write_text(json.dumps([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]))
        (merged / "1_Pooling").mkdir(exist_ok=True)
        (merged / "1_Pooling" / "config.json").write_text(json.dumps({
            "word_embedding_dimension": dim, "pooling_mode_cls_token": enc.pooling == "cls",
            "pooling_mode_mean_tokens": enc.pooling == "mean",
            "pooling_mode_lasttoken": enc.pooling == "last", "include_prompt": True}))
        (merged / "2_Normalize").mkdir(exist_ok=True)
        (merged / "sentence_bert_config.json").write_text(json.dumps(
            {"max_seq_length": enc.max_length, "do_lower_case": False}))
    paths["merged"] = str(merged)
    (out / "README.md").write_text(model_card(card))
    paths["card"] = str(out / "README.md")
    return paths


def model_card(info: dict) -> str:
    """Markdown: base model, data and config hashes, every hyperparameter, the evaluation."""
    lines = [f"# {info.get('name', 'bmembed-lab adapted encoder')}", "",
             "Adapted to a private corpus with bmembed-lab "
             "(BMEmbed: listwise fine-tuning on BM25 rank lists).", "",
             f"- base model: `{info.get('base_model')}` (content hash `{info.get('base_fingerprint')}`)",
             f"- method: {info.get('method')}", f"- training data (lists) key: `{info.get('data_key')}`",
             f"- config hash: `{info.get('config_hash')}`", f"- steps: {info.get('steps')}, "
             f"seconds: {info.get('seconds', 0):.0f}, final loss: {info.get('final_loss')}", "",
             "## Hyperparameters", "", "| option | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(info.get("hyperparameters", {}).items())]
    if info.get("protocol"):
        lines += ["", f"Query protocol: **{info['protocol']}** (query prefix: "
                      f"{info.get('query_prefix')!r}; passages get none)."]
    sel = info.get("selection")
    if sel:
        lines += ["", "## Model selection on dev", "",
                  f"{sel['metric']} on {sel['on']}: base model {sel['base']:.2f}; best "
                  f"{sel['best']:.2f} at step {sel['best_step']} (the exported weights)"
                  + (f"; stopped early at step {sel['stopped_early_at']}" if sel.get("stopped_early_at") else "")
                  + ".", "", "| step | dev score |", "|---|---|"]
        lines += [f"| {c['step']} | {c['score']:.2f} |" for c in sel["curve"]]
        if sel.get("worse_than_base"):
            lines += ["", "**WORSE THAN BASE**: no checkpoint of this run beat the model it started "
                          "from on the dev split. Prefer the base model."]
    if info.get("evaluation"):
        lines += ["", "## Evaluation", "", info["evaluation"]]
    lines += ["", "Load with `sentence_transformers.SentenceTransformer('merged')` or "
              "`transformers.AutoModel.from_pretrained('merged')` (pooling: "
              f"{info.get('pooling')}, L2-normalised)."]
    return "\n".join(lines) + "\n"
