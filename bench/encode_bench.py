"""Encoding throughput: all-MiniLM-L6-v2 through sentence-transformers' ``encode`` and through
``bmembed_lab.encoder``, equal settings, side by side in one process (``python bench/run_bench.py
encode``), and its table for bench/README.md."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from benchutil import RESULTS, ROOT

def peak_gflops() -> dict:
    """The CPU's peak fp32 rate, estimated: cores x FLOPs per cycle x clock. FLOPs per cycle
    from the widest FMA the CPU reports (AVX-512: 64, AVX2: 32 per core; two FMA units,
    Zen 4 and recent Intel cores) and the clock from /proc/cpuinfo. An estimate, said so."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    flags = set(
        next(
            (ln.split(":", 1)[1].split() for ln in info.splitlines() if ln.startswith("flags")), []
        )
    )
    mhz = [float(ln.split(":", 1)[1]) for ln in info.splitlines() if ln.startswith("cpu MHz")]
    per_cycle = 64 if "avx512f" in flags else 32 if "avx2" in flags else 16
    ghz = (max(mhz) / 1000) if mhz else 3.0
    return {"cores": os.cpu_count(), "flops_per_cycle_per_core": per_cycle, "ghz": ghz,
            "gflops": os.cpu_count() * per_cycle * ghz}


def minilm_flops_per_token(
    seq: int, layers: int = 6, hidden: int = 384, inter: int = 1536
) -> float:
    """Matrix-multiply FLOPs per token of a BERT encoder pass: projections, MLP, attention."""
    return layers * 2 * (4 * hidden * hidden + 2 * hidden * inter + 2 * seq * hidden)


def bench_encode(n_texts: int = 512, repeats: int = 2) -> dict:
    """Equal settings, side by side, one process, every peer warmed up, best of ``repeats``:
    the same model and texts through sentence-transformers' ``encode`` and ours, at the same
    precision (fp32 everywhere; bf16 only where the CPU has it natively), plus ST's int8
    dynamic quantisation and, where they install, its ONNX / OpenVINO backends. Reports each
    peer's texts/s, the ratio to the fastest ST peer, cosine to ST fp32, Hit@10 on the demo's
    test questions (every chunk and question encoded by that peer), and the share of the CPU's
    estimated peak FLOP rate (the useful work: real tokens only, padding not counted)."""
    import importlib.util

    import torch
    from sentence_transformers import SentenceTransformer

    from bmembed_lab.config import EncoderConfig, load_config
    from bmembed_lab.encoder import Encoder, native_bf16, resolve_model_path
    from bmembed_lab.pipeline import Pipeline

    pipe = Pipeline(load_config(ROOT / "configs" / "demo.toml"))
    chunks, _ = pipe.chunks()
    texts = [c.text for c in chunks[:n_texts]]
    path = str(resolve_model_path("all-MiniLM-L6-v2"))

    peers: dict[str, tuple] = {}  # name -> (embeddings of texts, best seconds)
    encoders = {}  # name -> its encode function, for Hit@10

    def measure(name, fn):
        encoders[name] = fn
        fn(texts[:64])
        times, out = [], None
        for _ in range(repeats):
            t = time.perf_counter()
            out = fn(texts)
            times.append(time.perf_counter() - t)
        peers[name] = np.asarray(out, dtype=np.float32), min(times)

    def st_encode(model):
        return lambda t: model.encode(t, batch_size=32, normalize_embeddings=True)

    measure(
        "sentence-transformers encode, fp32", st_encode(SentenceTransformer(path, device="cpu"))
    )
    ours32 = Encoder.load(EncoderConfig(precision="fp32", batch_size=32))
    measure("bmembed_lab Encoder.encode, fp32", lambda t: ours32.encode(t, progress=False))
    skipped = {}
    if native_bf16("cpu"):
        measure("sentence-transformers encode, bf16", st_encode(
            SentenceTransformer(path, device="cpu", model_kwargs={"torch_dtype": torch.bfloat16})))
        ours16 = Encoder.load(EncoderConfig(precision="bf16", batch_size=32))
        measure("bmembed_lab Encoder.encode, bf16", lambda t: ours16.encode(t, progress=False))
    else:
        skipped["bf16 (both)"] = (
            "no native bf16 on this CPU: bf16 would be emulated, slower for both"
        )
    st8 = SentenceTransformer(path, device="cpu")
    attr = "model" if hasattr(st8[0], "model") else "auto_model"  # sentence-transformers 6 / 3-5
    setattr(
        st8[0],
        attr,
        torch.ao.quantization.quantize_dynamic(
            getattr(st8[0], attr), {torch.nn.Linear}, dtype=torch.qint8
        ),
    )
    measure("sentence-transformers encode, int8 dynamic quantisation", st_encode(st8))
    for backend, module in (("onnx", "onnxruntime"), ("openvino", "openvino")):
        if importlib.util.find_spec(module) is None or importlib.util.find_spec("optimum") is None:
            skipped[f"sentence-transformers backend={backend}"] = (
                f"{module} / optimum not installed here: " + NOT_INSTALLABLE[backend])
            continue
        try:
            measure(f"sentence-transformers encode, {backend}",
                    st_encode(SentenceTransformer(path, device="cpu", backend=backend)))
        except Exception as err:  # noqa: BLE001 - a backend that fails to export is reported
            skipped[f"sentence-transformers backend={backend}"] = str(err)[:160]
    ref = peers["sentence-transformers encode, fp32"][0]
    tok = ours32.tokenizer
    lengths = [len(x) for x in tok(texts, truncation=True, max_length=256)["input_ids"]]
    peak = peak_gflops()
    flops = sum(n * minilm_flops_per_token(n) for n in lengths)  # real tokens: the useful work
    st_best = max(v[1] ** -1 for k, v in peers.items() if k.startswith("sentence"))
    hits = demo_hit10(pipe, encoders)
    rows = {
        name: {
            "texts_per_s": len(texts) / t,
            "ratio_to_fastest_st": (len(texts) / t) / (len(texts) * st_best),
            "cosine_min": float((ref * e).sum(1).min()),
            "cosine_mean": float((ref * e).sum(1).mean()),
            "share_of_peak_flops": flops / t / 1e9 / peak["gflops"],
            "hit10": hits[name],
        }
        for name, (e, t) in peers.items()
    }
    return {
        "texts": len(texts),
        "mean_tokens": float(np.mean(lengths)),
        "batch_size": 32,
        "peers": rows,
        "hit10_questions": hits["questions"],
        "hit10_chunks": len(chunks),
        "skipped": skipped,
        "peak": peak,
        "target": "ahead of the fastest sentence-transformers "
        "CPU peer at cosine >= 0.998 and Hit@10 within 0.3 points of sentence-transformers fp32's",
    }


def demo_hit10(pipe, encoders: dict) -> dict:
    """Hit@10 (%) on the demo's test questions with every chunk and question encoded by each
    peer of ``encoders`` (name -> texts -> normalised embeddings), clean protocol (no query
    prefix), exact dense retrieval; plus ``questions``, how many were scored."""
    from bmembed_lab.evaluation import per_query_table
    from bmembed_lab.retrieval import dense_run

    chunks, _ = pipe.chunks()
    rel, _ = pipe.relevance()
    qids, qtexts = pipe.questions("test").ids, pipe.questions("test").texts
    out = {}
    for name, fn in encoders.items():
        docs = np.asarray(fn([c.text for c in chunks]), dtype=np.float32)
        queries = np.asarray(fn(qtexts), dtype=np.float32)
        table = per_query_table(dense_run(queries, docs, qids, 10, name), rel)
        out[name] = float(100 * table["Hit@10"].mean())
        out["questions"] = len(table)
    return out

# `pip install --dry-run` here, 2026-11-30, beside torch 2.13 / transformers 5.24
NOT_INSTALLABLE = {
    "onnx": "optimum[onnxruntime] would replace transformers 5.24 with 4.57.6",
    "openvino": "optimum-intel[openvino] would replace the pinned CPU torch 2.13 with a CUDA torch "
                "2.14 "
    "and transformers 5.24 with 5.5",
}


def encode_table() -> list[str]:
    """The encoding table from bench/results/encode.json (none when it is missing)."""
    out = []
    enc = RESULTS / "encode.json"
    if enc.is_file():
        e = json.loads(enc.read_text())
        if "peers" in e:
            out += [
                "### Encoding throughput (all-MiniLM-L6-v2, same texts, equal settings, one "
                "process)",
                "",
                "| peer | texts/s | ratio to the fastest ST peer | cosine to ST fp32 (min / mean) "
                "| "
                "Hit@10 on the demo | share of peak FLOP rate |",
                "|---|---|---|---|---|---|",
            ]
            for name, x in e["peers"].items():
                share = "-" if "bf16" in name else f"{100 * x['share_of_peak_flops']:.0f}%"
                hit = f"{x['hit10']:.2f}" if "hit10" in x else "-"
                out.append(
                    f"| {name} | {x['texts_per_s']:.1f} | **{x['ratio_to_fastest_st']:.2f}x** | "
                    f"{x['cosine_min']:.5f} / {x['cosine_mean']:.5f} | {hit} | {share} |"
                )
            pk = e["peak"]
            out += [
                "",
                f"{e['texts']} demo chunks, {e['mean_tokens']:.0f} tokens on average, batch "
                f"{e['batch_size']}, best of 2 after a warm-up; {e['machine']['cpu_count']} CPU "
                "cores, "
                f"torch {e['machine']['torch']}. Peak FLOP rate estimated as {pk['cores']} cores x "
                f"{pk['flops_per_cycle_per_core']} FLOPs/cycle x {pk['ghz']:.2f} GHz = "
                f"{pk['gflops']:.0f} "
                "GFLOP/s for fp32 (the useful work counted: matrix multiplies over real tokens, "
                "padding not; bf16 runs on AMX tiles, whose peak this estimate does not cover, so "
                "no share is given). "
                + (
                    f"Hit@10: the demo's {e['hit10_questions']:,} test questions against all "
                    f"{e['hit10_chunks']:,} chunks, each encoded by the peer of its row. "
                    if "hit10_questions" in e
                    else ""
                )
                + "Not run: "
                + "; ".join(f"{k}: {v}" for k, v in e["skipped"].items())
                + f". Target: {e['target']}.",
                "",
            ]
    return out
