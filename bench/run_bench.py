"""Benchmarks: encoding speed against sentence-transformers, and FinanceBench retrieval.

    python bench/run_bench.py [encode] [bm25] [train] [train-proxy] [financebench] [compare] [perturb]
                              [--corpora demo,financebench] [--max-docs N]

* encode: the same model and texts through sentence-transformers' ``encode`` (fp32, its
  defaults) and through ``bmembed_lab.encoder`` (precision auto), side by side in one process,
  both warmed up first; throughput ratio and min/mean cosine to sentence-transformers.
* bm25: ranking the offline synthetic queries' top 1,000 over the FinanceBench chunks with
  ``BM25Index.topk`` against rank_bm25's ``get_scores`` loop and bm25s's numpy and numba
  backends, same tokens and parameters, one process; speed ratio, max relative score
  difference, identical top-k lists.
* train / train-proxy: our ListNet trainer against sentence-transformers' trainer on the same
  lists at equal precision and dropout: the demo's lists, or 8 lists per step of the
  Multihop-RAG sentence proxy (bench/build_multihop_proxy.py).
* financebench: the 74 PDFs in ../shared/datasets/financebench read with the project's own
  folder loader, the 150 questions' evidence turned into page-level and text-level labels,
  BM25 / base MiniLM / RRF evaluated, wall time of every stage.

* compare: the paper's Table 2/6 (every system, bootstrap comparisons) on the demo and FinanceBench.
* perturb: the paper's Table 5 (keyword masking / synonym substitution) on the demo and FinanceBench.

Results go to bench/results/<name>.json; bench/README.md holds the table.
FinanceBench is CC BY-NC 4.0: its derived files live in bench/.work/ (git-ignored), never in git.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import shutil
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "bench" / ".work"
FB = ROOT.parent / "shared" / "datasets" / "financebench"


def machine() -> dict:
    import torch

    return {"cpu_count": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
            "threads": torch.get_num_threads()}


def peak_gflops() -> dict:
    """The CPU's peak fp32 rate, estimated: cores x FLOPs per cycle x clock. FLOPs per cycle
    from the widest FMA the CPU reports (AVX-512: 64, AVX2: 32 per core; two FMA units,
    Zen 4 and recent Intel cores) and the clock from /proc/cpuinfo. An estimate, said so."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    flags = set(next((ln.split(":", 1)[1].split() for ln in info.splitlines() if ln.startswith("flags")), []))
    mhz = [float(ln.split(":", 1)[1]) for ln in info.splitlines() if ln.startswith("cpu MHz")]
    per_cycle = 64 if "avx512f" in flags else 32 if "avx2" in flags else 16
    ghz = (max(mhz) / 1000) if mhz else 3.0
    return {"cores": os.cpu_count(), "flops_per_cycle_per_core": per_cycle, "ghz": ghz,
            "gflops": os.cpu_count() * per_cycle * ghz}


def minilm_flops_per_token(seq: int, layers: int = 6, hidden: int = 384, inter: int = 1536) -> float:
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

    measure("sentence-transformers encode, fp32", st_encode(SentenceTransformer(path, device="cpu")))
    ours32 = Encoder.load(EncoderConfig(precision="fp32", batch_size=32))
    measure("bmembed_lab Encoder.encode, fp32", lambda t: ours32.encode(t, progress=False))
    skipped = {}
    if native_bf16("cpu"):
        measure("sentence-transformers encode, bf16", st_encode(
            SentenceTransformer(path, device="cpu", model_kwargs={"torch_dtype": torch.bfloat16})))
        ours16 = Encoder.load(EncoderConfig(precision="bf16", batch_size=32))
        measure("bmembed_lab Encoder.encode, bf16", lambda t: ours16.encode(t, progress=False))
    else:
        skipped["bf16 (both)"] = "no native bf16 on this CPU: bf16 would be emulated, slower for both"
    st8 = SentenceTransformer(path, device="cpu")
    attr = "model" if hasattr(st8[0], "model") else "auto_model"  # sentence-transformers 6 / 3-5
    setattr(st8[0], attr, torch.ao.quantization.quantize_dynamic(getattr(st8[0], attr), {torch.nn.Linear},
                                                                 dtype=torch.qint8))
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
    rows = {name: {"texts_per_s": len(texts) / t, "ratio_to_fastest_st": (len(texts) / t) / (len(texts) * st_best),
                   "cosine_min": float((ref * e).sum(1).min()), "cosine_mean": float((ref * e).sum(1).mean()),
                   "share_of_peak_flops": flops / t / 1e9 / peak["gflops"], "hit10": hits[name]}
            for name, (e, t) in peers.items()}
    return {"texts": len(texts), "mean_tokens": float(np.mean(lengths)), "batch_size": 32, "peers": rows,
            "hit10_questions": hits["questions"], "hit10_chunks": len(chunks),
            "skipped": skipped, "peak": peak, "target": "ahead of the fastest sentence-transformers "
            "CPU peer at cosine >= 0.998 and Hit@10 within 0.3 points of sentence-transformers fp32's"}


def demo_hit10(pipe, encoders: dict) -> dict:
    """Hit@10 (%) on the demo's test questions with every chunk and question encoded by each
    peer of ``encoders`` (name -> texts -> normalised embeddings), clean protocol (no query
    prefix), exact dense retrieval; plus ``questions``, how many were scored."""
    from bmembed_lab.evaluation import per_query_table
    from bmembed_lab.retrieval import dense_run

    chunks, _ = pipe.chunks()
    rel, _ = pipe.relevance()
    qids, qtexts = pipe.eval_queries("test")
    out = {}
    for name, fn in encoders.items():
        docs = np.asarray(fn([c.text for c in chunks]), dtype=np.float32)
        queries = np.asarray(fn(qtexts), dtype=np.float32)
        table = per_query_table(dense_run(queries, docs, qids, 10, name), rel)
        out[name] = float(100 * table["Hit@10"].mean())
        out["questions"] = len(table)
    return out


def financebench_inputs(max_docs: int = 0) -> tuple[Path, Path, Path, dict]:
    """Queries/evidence JSONL for the PDFs present; a folder of symlinks when subsetting."""
    rows = [json.loads(line) for line in open(FB / "data" / "financebench_open_source.jsonl")]
    present = {p.stem for p in (FB / "pdfs").glob("*.pdf")}
    docs = sorted(present)
    if max_docs:
        needed = sorted({e["doc_name"] for r in rows for e in r["evidence"]} & present)
        docs = needed[:max_docs]
    WORK.mkdir(parents=True, exist_ok=True)
    folder = FB / "pdfs"  # the whole set in place; a subset copied (links leading outside a
    if max_docs:          # corpus folder are skipped by the loader)
        folder = WORK / f"fb_pdfs_{max_docs}"
        folder.mkdir(exist_ok=True)
        for d in docs:
            if not (folder / f"{d}.pdf").is_file():
                shutil.copyfile(FB / "pdfs" / f"{d}.pdf", folder / f"{d}.pdf")
    keep = set(docs)
    queries, evidence, dropped = [], [], 0
    for r in rows:
        ev = [e for e in r["evidence"] if e["doc_name"] in keep]
        if len(ev) < len(r["evidence"]):
            dropped += 1
            continue  # only questions whose every evidence document is in the corpus
        queries.append({"_id": r["financebench_id"], "text": r["question"]})
        for e in ev:
            evidence.append({"query_id": r["financebench_id"], "doc_id": f"{e['doc_name']}.pdf",
                             "page": e["evidence_page_num"], "text": e["evidence_text"]})
    qp, ep = WORK / "fb_queries.jsonl", WORK / "fb_evidence.jsonl"
    qp.write_text("".join(json.dumps(q) + "\n" for q in queries))
    ep.write_text("".join(json.dumps(e) + "\n" for e in evidence))
    return folder, qp, ep, {"pdfs": len(docs), "questions": len(queries),
                            "questions dropped (evidence document missing)": dropped}


def bench_financebench(max_docs: int = 0) -> dict:
    from bmembed_lab.pipeline import Pipeline

    folder, qp, ep, info = financebench_inputs(max_docs)
    out = {"inputs": info, "relevance": {}}
    for match in ("page", "text"):
        cfg = financebench_config(folder, qp, ep, match)
        pipe = Pipeline(cfg)
        t = time.perf_counter()
        res = pipe.evaluate()
        total = time.perf_counter() - t
        out["relevance"][match] = {
            "counts": pipe.report(),
            "summary": res["summary"].reset_index().to_dict(orient="records"),
            "comparisons": res["comparisons"].to_dict(orient="records"),
            "stage_seconds": pipe.timings, "total_seconds": total}
        print(match, pipe.report(), "\n", res["summary"].round(2).to_string(), flush=True)
    return out


def financebench_config(folder: Path, qp: Path, ep: Path, match: str = "page", extra: list[str] = ()):
    from bmembed_lab.config import load_config

    return load_config(None, [*extra, "corpus.format=folder", f'corpus.path="{folder}"',
                              f'corpus.queries="{qp}"', f'corpus.evidence="{ep}"',
                              f"relevance.match={json.dumps(match)}", "chunking.chunk_tokens=254",
                              f'cache.dir="{ROOT / ".bmembed_cache"}"'])


def bench_bm25(n_ref: int = 200, k: int = 1000) -> dict:
    """Training-query ranking on the FinanceBench chunks: bmembed_lab's BM25Index.topk against
    rank_bm25's BM25Okapi.get_scores loop (+ a stable argsort for the top k), same tokens,
    same parameters, same queries (the offline synthetic queries), one process."""
    from rank_bm25 import BM25Okapi

    from bmembed_lab.bm25 import COMPILED_FROM, BM25Index, tokenize_cfg
    from bmembed_lab.pipeline import Pipeline

    folder, qp, ep, _ = financebench_inputs(0)
    cfg = financebench_config(folder, qp, ep)
    pipe = Pipeline(cfg)
    chunks, _ = pipe.chunks()
    qs, _ = pipe.synthetic_queries()
    b = cfg.bm25
    corpus_tokens = tokenize_cfg([c.text for c in chunks], b)
    query_tokens = tokenize_cfg([q.text for q in qs.queries], b)
    sub = query_tokens[:n_ref]
    t = time.perf_counter()
    ours = BM25Index.build(corpus_tokens, b)
    build_ours = time.perf_counter() - t
    t = time.perf_counter()
    ref = BM25Okapi(corpus_tokens, k1=b.k1, b=b.b, epsilon=b.epsilon)
    build_ref = time.perf_counter() - t
    t = time.perf_counter()
    ours.topk(sub[:COMPILED_FROM], k)  # warm-up: numba compiles, or loads its on-disk cache
    first_call = time.perf_counter() - t
    t = time.perf_counter()
    idx, val = ours.topk(sub, k, drop_nonpositive=True)
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    ref_scores = []
    for q in sub:
        s = ref.get_scores(q)
        top = np.argsort(-s, kind="stable")[:k]
        ref_scores.append((s, top))
    t_ref = time.perf_counter() - t
    t = time.perf_counter()
    ours.topk(query_tokens, k, drop_nonpositive=True)
    t_all = time.perf_counter() - t
    worst, same_lists, tie_only, kept = 0.0, 0, 0, 0
    for row, (s, top) in enumerate(ref_scores):
        got = idx[row][idx[row] >= 0]
        kept += len(got)
        worst = max(worst, float(np.max(np.abs(val[row, :len(got)] - s[got]) / np.abs(s[got]))))
        want = top[s[top] > 0]
        same = np.array_equal(got, want)
        same_lists += same
        # otherwise: same scores rank by rank, only the order of (float-)tied chunks differs
        tie_only += (not same) and len(got) == len(want) and bool(np.allclose(s[got], s[want], rtol=1e-12, atol=0))
    peers = bm25s_peers(corpus_tokens, sub, k, b, ref_scores)
    return {"peers": peers, "chunks": len(chunks), "queries_compared": len(sub), "queries_all": len(query_tokens),
            "k": k, "kept_scores_compared": kept,
            "build_s": {"bmembed_lab": build_ours, "rank_bm25": build_ref},
            "ms_per_query": {"bmembed_lab": 1e3 * t_ours / len(sub), "rank_bm25": 1e3 * t_ref / len(sub),
                             "bmembed_lab_all_queries": 1e3 * t_all / len(query_tokens)},
            "speedup": t_ref / t_ours, "max_relative_difference": worst,
            "engine": "numba kernel, 2 threads" if len(sub) >= COMPILED_FROM else "scipy.sparse",
            "first_call_s": first_call,
            "identical_top_k_lists": same_lists, "lists_differing_only_in_tie_order": tie_only,
            "target": ">= 100x rank_bm25 and >= 1.0x bm25s's fastest backend, max relative difference <= 1e-6"}


def bm25s_peers(corpus_tokens, queries, k: int, b, ref_scores) -> dict:
    """bm25s (Robertson's BM25, rank_bm25's formula without its negative-idf floor; float32)
    with each backend, on the same tokens and queries, top-k: build time, ms per query and how
    far its scores and lists are from rank_bm25's."""
    import bm25s

    out = {}
    for backend, threads in (("numpy", 0), ("numpy", 2), ("numba", 2)):
        t = time.perf_counter()
        r = bm25s.BM25(k1=b.k1, b=b.b, method="robertson", backend=backend)
        r.index(corpus_tokens, show_progress=False)
        build = time.perf_counter() - t
        r.retrieve(queries[:8], k=k, show_progress=False, n_threads=threads)  # warm-up (numba compiles)
        t = time.perf_counter()
        docs, scores = r.retrieve(queries, k=k, show_progress=False, n_threads=threads)
        dt = time.perf_counter() - t
        worst, same = 0.0, 0
        for row, (s, top) in enumerate(ref_scores):
            got = docs[row][scores[row] > 0]
            keep = s[got] > 0
            if keep.any():
                worst = max(worst, float(np.max(np.abs(scores[row][scores[row] > 0][keep] - s[got][keep])
                                                / s[got][keep])))
            same += np.array_equal(got, top[s[top] > 0])
        out[f"bm25s {backend}, " + ("one process" if threads == 0 else f"{threads} threads/processes")] = {
            "build_s": build, "ms_per_query": 1e3 * dt / len(queries), "max_relative_difference": worst,
            "identical_top_k_lists": same}
    return out


NOT_INSTALLABLE = {  # `pip install --dry-run` here, 2026-11-30, beside torch 2.13 / transformers 5.24
    "onnx": "optimum[onnxruntime] would replace transformers 5.24 with 4.57.6",
    "openvino": "optimum-intel[openvino] would replace the pinned CPU torch 2.13 with a CUDA torch 2.14 "
                "and transformers 5.24 with 5.5"}
TRAIN_CORPORA = {  # config, lists per optimizer step
    "demo": (ROOT / "configs" / "demo.toml", 1),
    "proxy": (ROOT / "bench" / ".work" / "multihop_proxy" / "clean.toml", 8)}


def bench_train(steps: int = 30, timed_from: int = 6, corpus: str = "demo", rounds: int = 3) -> dict:
    """Training throughput of our ListNet trainer against sentence-transformers' trainer with
    DistillKLDivLoss (student temperature = tau, teacher temperature = alpha on the raw BM25
    scores: the same objective up to the targets' entropy, a constant), all-MiniLM-L6-v2, the
    same lists in the same order, same optimizer settings, one process: on the demo 1 list of
    1 + 9 chunks of up to 256 tokens per step; on the Multihop-RAG proxy (``corpus="proxy"``,
    bench/build_multihop_proxy.py) 8 lists of sentences per step (batch 1 x gradient
    accumulation 8, the reference code's way), where most of a padded batch is padding. ST runs
    twice: its defaults (fp32) and ``bf16=True``. Every trainer runs ``rounds`` times,
    interleaved (the order reversed each round), and keeps its fastest round. Loss curves are
    compared as KL divergence: ours minus the step's target entropy, theirs divided by tau^2;
    a last pair of runs with every dropout off checks that the objectives coincide."""
    import tempfile

    import torch
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import DistillKLDivLoss
    from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.training_args import SentenceTransformerTrainingArguments
    from sentence_transformers.util import pairwise_cos_sim
    from torch.utils.data import BatchSampler, SequentialSampler
    from transformers import TrainerCallback

    from bmembed_lab.config import EncoderConfig, TrainingConfig, load_config
    from bmembed_lab.encoder import Encoder, resolve_model_path
    from bmembed_lab.losses import listnet_target
    from bmembed_lab.pipeline import Pipeline
    from bmembed_lab.stages.train import training_data
    from bmembed_lab.training import batch_indices, prepare_model, train

    config, accum = TRAIN_CORPORA[corpus]
    pipe = Pipeline(load_config(config))
    ch, _ = pipe.chunks()
    qs, _ = pipe.synthetic_queries()
    lists, _ = pipe.training_lists()
    data = training_data("bmembed", qs, lists, ch)
    tcfg = TrainingConfig(steps=steps, lr=2e-5, warmup_steps=5, batch_size=1, grad_accum=accum,
                          checkpoint_every=0, seed=0)
    order = [batch_indices(len(data), t, m, tcfg)[0] for t in range(steps) for m in range(accum)]
    sc = torch.tensor(data.scores[order], dtype=torch.float32)
    target = listnet_target(sc, tcfg.alpha)
    entropy = (-(target * target.clamp_min(1e-30).log()).sum(-1)).numpy().reshape(steps, accum).mean(1)
    path = str(resolve_model_path("all-MiniLM-L6-v2"))

    def rate(times: list[float]) -> float:
        return (len(times) - timed_from) / (times[-1] - times[timed_from - 1])

    probe = Encoder.load(EncoderConfig(precision="fp32"))  # its tokenizer counts real tokens per step
    tok = probe.tokenizer
    lens = [len(x) for x in tok([t for i in order[timed_from * accum:] for t in [data.queries[i], *data.passages[i]]],
                                truncation=True, max_length=tcfg.max_length)["input_ids"]]
    out = {"corpus": corpus, "lists_per_step": accum, "steps": steps, "timed_steps": f"{timed_from + 1}..{steps}",
           "real_tokens_per_step": sum(lens) / (steps - timed_from),
           "texts_per_step": accum * (1 + len(data.passages[0])),
           "alpha": tcfg.alpha, "tau": tcfg.tau, "lr": tcfg.lr, "runs": {}}
    from bmembed_lab.encoder import native_bf16
    from bmembed_lab.training import set_attention_dropout

    precisions = ["fp32"] + (["bf16"] if native_bf16("cpu") else [])
    from scale import peak_mb, reset_peak

    def no_dropout(model) -> None:
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0

    def run_ours(precision: str, dropout: bool = True) -> dict:
        reset_peak()
        torch.manual_seed(0)
        enc = prepare_model(Encoder.load(EncoderConfig(precision=precision), trainable=True), tcfg)
        if not dropout:
            no_dropout(enc.model)
        times: list[float] = []
        with tempfile.TemporaryDirectory() as tmp:
            res = train(enc, data, tcfg, Path(tmp), progress=False,
                        on_step=lambda *a, times=times: times.append(time.perf_counter()))
        kl = [r["loss"] - float(h) for r, h in zip(res.losses, entropy)]
        return {"steps_per_s": rate(times), "kl": kl, "peak_rss_mb": peak_mb()}

    class Clock(TrainerCallback):
        def __init__(self):
            self.times, self.loss = [], []

        def on_step_end(self, args, state, control, **kw):
            self.times.append(time.perf_counter())

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                self.loss.append(float(logs["loss"]))

    rows = {"query": [data.queries[i] for i in order]}
    for j in range(len(data.passages[0])):
        rows[f"p{j}"] = [data.passages[i][j] for i in order]
    rows["label"] = [list(map(float, data.scores[i])) for i in order]
    ds = Dataset.from_dict(rows)

    def run_st(bf16: bool, dropout: bool = True) -> dict:
        reset_peak()
        torch.manual_seed(0)
        model = SentenceTransformer(path, device="cpu")
        model.max_seq_length = 256
        set_attention_dropout(model[0].model if hasattr(model[0], "model") else model[0].auto_model,
                              tcfg.attention_dropout if tcfg.attention_dropout >= 0 else 0.1)
        if not dropout:
            no_dropout(model)
        loss = DistillKLDivLoss(model, similarity_fct=pairwise_cos_sim, student_temperature=tcfg.tau,
                                teacher_temperature=tcfg.alpha)
        clock = Clock()
        with tempfile.TemporaryDirectory() as tmp:
            args = SentenceTransformerTrainingArguments(
                output_dir=tmp, max_steps=steps, per_device_train_batch_size=1, learning_rate=tcfg.lr,
                gradient_accumulation_steps=accum,
                warmup_steps=5, weight_decay=tcfg.weight_decay, lr_scheduler_type="linear", bf16=bf16,
                use_cpu=True, logging_steps=1, save_strategy="no", report_to="none", seed=0,
                dataloader_drop_last=False, disable_tqdm=True,
                batch_sampler=lambda dataset, batch_size, drop_last, **kw: BatchSampler(
                    SequentialSampler(range(len(dataset))), batch_size, drop_last))
            SentenceTransformerTrainer(model=model, args=args, train_dataset=ds, loss=loss,
                                       callbacks=[clock]).train()
        return {"steps_per_s": rate(clock.times), "peak_rss_mb": peak_mb(),
                "kl": [x / tcfg.tau ** 2 for x in clock.loss]}

    trainers = {f"bmembed_lab ({p})": (run_ours, p) for p in precisions}
    trainers["sentence-transformers trainer (fp32)"] = (run_st, False)
    if "bf16" in precisions:
        trainers["sentence-transformers trainer (bf16=True)"] = (run_st, True)
    names = list(trainers)
    for round_ in range(rounds):  # interleaved, forwards then backwards: drift hits all alike
        for name in (names if round_ % 2 == 0 else names[::-1]):
            fn, arg = trainers[name]
            r = fn(arg)  # equal settings: attention dropout off in every trainer
            best = out["runs"].get(name)
            if best is None or r["steps_per_s"] > best["steps_per_s"]:
                out["runs"][name] = r | {"rounds": [*(best or {}).get("rounds", []), r["steps_per_s"]]}
            else:
                best["rounds"].append(r["steps_per_s"])
    # the objective itself: with every dropout off (fp32) the two loss curves must coincide
    ours_nd, st_nd = run_ours("fp32", dropout=False), run_st(False, dropout=False)
    out["no_dropout_check"] = {
        "kl_ours": ours_nd["kl"], "kl_st": st_nd["kl"],
        "kl_max_abs_step_difference": float(np.abs(np.array(ours_nd["kl"]) - np.array(st_nd["kl"])).max()),
        "ratio_ours_over_st": ours_nd["steps_per_s"] / st_nd["steps_per_s"]}
    for r in out["runs"].values():
        k = np.array(r["kl"])
        r["kl_mean_first_10"], r["kl_mean_last_10"] = float(k[:10].mean()), float(k[-10:].mean())
    for precision in precisions:  # each of ours against ST at the same precision
        ours = out["runs"][f"bmembed_lab ({precision})"]
        st = out["runs"]["sentence-transformers trainer (" + ("fp32)" if precision == "fp32" else "bf16=True)")]
        st["ratio_ours_over_this"] = ours["steps_per_s"] / st["steps_per_s"]
        ours["ratio_ours_over_this"] = 1.0
        out[f"kl_max_abs_step_difference_{precision}"] = float(
            np.abs(np.array(ours["kl"]) - np.array(st["kl"])).max())
    for r in out["runs"].values():
        r["lists_per_s"] = r["steps_per_s"] * accum
        r["real_tokens_per_s"] = r["steps_per_s"] * out["real_tokens_per_step"]
    out["attention_dropout"] = tcfg.attention_dropout if tcfg.attention_dropout >= 0 else 0.1
    out["unpadded"] = probe.unpads
    from bmembed_lab.dropout import LEVELS

    hidden = probe.model.config.hidden_dropout_prob
    out["hidden_dropout"] = {"p": hidden, "ours_p": round(hidden * LEVELS) / LEVELS}
    out["target"] = ">= 1.3x sentence-transformers' trainer at equal precision, dropout and loss curve"
    return out


COMPARE_SYSTEMS = ["bm25", "base", "cl", "mnrl", "bmembed", "rrf", "rrf+bmembed", "base@128", "mnrl@128"]
TEXTS_PER_STEP = {"bmembed": 10, "cl": 32, "mnrl": 48}  # 1 query + 9 passages; 16 x (q, p[, n])


def compare_one(cfg, label: str) -> dict:
    """The paper's Table 2/6 layout on one corpus: every system, bootstrap comparisons.
    Each trained method gets the config's steps scaled to the same number of encoded texts as
    BMEmbed's (CL and MNRL encode 32 / 48 texts per step at batch 16, BMEmbed 10), and MNRL is
    trained with a Matryoshka loss over 384/256/128/64 dimensions."""
    from dataclasses import replace

    import pandas as pd

    from bmembed_lab.evaluation import compare_systems, parse_system, per_query_table, summary_table
    from bmembed_lab.pipeline import Pipeline

    steps = cfg.training.steps
    pipes = {}
    for method in ("bmembed", "cl", "mnrl"):
        c = replace(cfg, training=replace(cfg.training, steps=max(1, round(
            steps * TEXTS_PER_STEP["bmembed"] / TEXTS_PER_STEP[method]))))
        if method == "mnrl":
            c = replace(c, training=replace(c.training, matryoshka_dims=[384, 256, 128, 64]))
        pipes[method] = Pipeline(c)
    main = pipes["bmembed"]
    rel, _ = main.relevance()
    t0 = time.perf_counter()
    tables = []
    for s in COMPARE_SYSTEMS:
        owner = next((m for m in ("mnrl", "cl") if parse_system(s).encoder == m), "bmembed")
        run, _ = pipes[owner].run(s)
        tables.append(per_query_table(run, rel, (1, 4, 10)))
        print(f"{label}: {s} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    pq = pd.concat(tables, ignore_index=True)
    pairs = [("bmembed", "base"), ("bmembed", "bm25"), ("bmembed", "cl"), ("bmembed", "mnrl"),
             ("rrf+bmembed", "rrf"), ("cl", "base"), ("mnrl", "base"), ("mnrl@128", "base@128")]
    n_boot, seed = cfg.eval.bootstrap, cfg.eval.seed
    cmp = pd.concat([compare_systems(pq, a, b, n_boot=n_boot, seed=seed) for a, b in pairs], ignore_index=True)
    trained = {m: pipes[m].trained(m)[0].info for m in ("bmembed", "cl", "mnrl")}
    runs = {s: main.run(s)[0] for s in ("bm25", "base", "bmembed")}
    out_teacher = teacher_effect(pq, runs)
    return {"counts": main.report(),
            "training": {m: {"steps": i["steps"], "seconds": i["seconds"], "final_loss": i["final_loss"],
                             "batch_size": i["hyperparameters"]["batch_size"], "lr": i["hyperparameters"]["lr"]}
                         for m, i in trained.items()},
            "queries": main.synthetic_queries()[0].counts, "lists": main.training_lists()[0].counts,
            "mined": pipes["mnrl"].mined_negatives()[0].counts,
            "summary": summary_table(pq).reset_index().to_dict(orient="records"),
            "comparisons": cmp.to_dict(orient="records"), "teacher": out_teacher,
            "seconds": time.perf_counter() - t0}


def teacher_effect(pq, runs: dict) -> dict:
    """Did BMEmbed move the encoder towards its teacher? Mean top-10 overlap (Jaccard) with BM25
    for base and for bmembed, and the questions BMEmbed fixed / broke against base (Hit@10)
    split by whether BM25 itself finds a gold chunk in its top 10."""
    from bmembed_lab.workbench import win_loss

    def overlap(a, b) -> float:
        rows = [len(set(a.ranked(i)[:10]) & set(b.ranked(i)[:10])) / max(1, len(set(a.ranked(i)[:10]) | set(b.ranked(i)[:10])))
                for i in range(len(a.query_ids))]
        return float(np.mean(rows))

    wl = win_loss(pq, "bmembed", "base", "Hit@10")
    bm = pq[pq.system == "bm25"].set_index("query_id")["Hit@10"]
    wl["bm25 hit"] = wl.query_id.map(bm) > 0
    split = {st: {"bm25 hit": int((g["bm25 hit"]).sum()), "bm25 miss": int((~g["bm25 hit"]).sum())}
             for st, g in wl.groupby("status")}
    return {"top10_jaccard_with_bm25": {"base": overlap(runs["base"], runs["bm25"]),
                                         "bmembed": overlap(runs["bmembed"], runs["bm25"])},
            "bmembed_vs_base_hit10": split}


def perturb_one(cfg, label: str) -> dict:
    """The paper's Table 5 on one corpus: BM25, Base, BMEmbed and RRF+BMEmbed on original,
    masked and substituted questions (offline keywords, WordNet substitutes)."""
    from bmembed_lab.pipeline import Pipeline

    pipe = Pipeline(cfg)
    t0 = time.perf_counter()
    res = pipe.perturbation_study(["bm25", "base", "bmembed", "rrf+bmembed"],
                                  progress=lambda d, n: print(f"{label}: {d}/{n} runs", flush=True))
    pset, _ = pipe.perturbations()
    examples = [{"original": q.text, "keywords": q.keywords, "masked": q.masked, "substituted": q.substituted}
                for q in pset.queries[:: max(1, len(pset.queries) // 6)][:6]]
    return {"counts": res["counts"], "study": res["study"].to_dict(orient="records"),
            "reading": res["reading"], "examples": examples,
            "stage_seconds": pipe.timings, "seconds": time.perf_counter() - t0}


def bench_perturb(which: list[str], max_docs: int = 0) -> dict:
    from bmembed_lab.config import load_config

    path = RESULTS / "perturbation.json"
    out = json.loads(path.read_text()) if path.is_file() else {}
    demo = load_config(ROOT / "configs" / "demo.toml")
    out["machine"] = machine()
    if "demo" in which:
        out["demo"] = perturb_one(demo, "demo")
        path.write_text(json.dumps(out, indent=1, default=str))
    if "financebench" in which:
        folder, qp, ep, info = financebench_inputs(max_docs)
        cfg = financebench_config(folder, qp, ep, "page", [f"training.steps={demo.training.steps}",
                                                           f"training.warmup_steps={demo.training.warmup_steps}"])
        out["financebench"] = {"inputs": info, **perturb_one(cfg, "financebench")}
        path.write_text(json.dumps(out, indent=1, default=str))
    return out


def bench_compare(which: list[str], max_docs: int = 0) -> dict:
    from bmembed_lab.config import load_config

    out = json.loads((RESULTS / "compare.json").read_text()) if (RESULTS / "compare.json").is_file() else {}
    demo = load_config(ROOT / "configs" / "demo.toml")
    if "demo" in which:
        out["demo"] = compare_one(demo, "demo")
        (RESULTS / "compare.json").write_text(json.dumps(out, indent=1, default=str))
    if "financebench" in which:
        folder, qp, ep, info = financebench_inputs(max_docs)
        cfg = financebench_config(folder, qp, ep, "page", [f"training.steps={demo.training.steps}",
                                                           f"training.warmup_steps={demo.training.warmup_steps}"])
        out["financebench"] = {"inputs": info, **compare_one(cfg, "financebench")}
        (RESULTS / "compare.json").write_text(json.dumps(out, indent=1, default=str))
    return out


def render_tables() -> str:
    """Markdown tables from bench/results/*.json (what bench/README.md shows)."""
    out = []
    enc = RESULTS / "encode.json"
    if enc.is_file():
        e = json.loads(enc.read_text())
        if "peers" in e:
            out += ["### Encoding throughput (all-MiniLM-L6-v2, same texts, equal settings, one process)", "",
                    "| peer | texts/s | ratio to the fastest ST peer | cosine to ST fp32 (min / mean) | "
                    "Hit@10 on the demo | share of peak FLOP rate |", "|---|---|---|---|---|---|"]
            for name, x in e["peers"].items():
                share = "-" if "bf16" in name else f"{100 * x['share_of_peak_flops']:.0f}%"
                hit = f"{x['hit10']:.2f}" if "hit10" in x else "-"
                out.append(f"| {name} | {x['texts_per_s']:.1f} | **{x['ratio_to_fastest_st']:.2f}x** | "
                           f"{x['cosine_min']:.5f} / {x['cosine_mean']:.5f} | {hit} | {share} |")
            pk = e["peak"]
            out += ["", f"{e['texts']} demo chunks, {e['mean_tokens']:.0f} tokens on average, batch "
                    f"{e['batch_size']}, best of 2 after a warm-up; {e['machine']['cpu_count']} CPU cores, "
                    f"torch {e['machine']['torch']}. Peak FLOP rate estimated as {pk['cores']} cores x "
                    f"{pk['flops_per_cycle_per_core']} FLOPs/cycle x {pk['ghz']:.2f} GHz = {pk['gflops']:.0f} "
                    "GFLOP/s for fp32 (the useful work counted: matrix multiplies over real tokens, "
                    "padding not; bf16 runs on AMX tiles, whose peak this estimate does not cover, so "
                    "no share is given). "
                    + (f"Hit@10: the demo's {e['hit10_questions']:,} test questions against all "
                       f"{e['hit10_chunks']:,} chunks, each encoded by the peer of its row. "
                       if "hit10_questions" in e else "") + "Not run: "
                    + "; ".join(f"{k}: {v}" for k, v in e["skipped"].items()) + f". Target: {e['target']}.", ""]
    bm = RESULTS / "bm25.json"
    if bm.is_file():
        r = json.loads(bm.read_text())
        ms = r["ms_per_query"]
        out += [f"### BM25 top-{r['k']} ranking of training queries (FinanceBench, {r['chunks']:,} chunks)", "",
                "| implementation | index build (s) | ms / query | ratio | max relative score difference |",
                "|---|---|---|---|---|",
                f"| rank_bm25 `BM25Okapi.get_scores` loop + argsort | {r['build_s']['rank_bm25']:.1f} | "
                f"{ms['rank_bm25']:.1f} | 1x | reference |",
                f"| bmembed_lab `BM25Index.topk` ({r.get('engine', 'scipy.sparse')}) | "
                f"{r['build_s']['bmembed_lab']:.1f} | {ms['bmembed_lab']:.2f} | **{r['speedup']:.0f}x** | "
                f"{r['max_relative_difference']:.1e} |"]
        for name, x in r.get("peers", {}).items():
            out.append(f"| {name} | {x['build_s']:.1f} | {x['ms_per_query']:.2f} | "
                       f"{ms['rank_bm25'] / x['ms_per_query']:.0f}x (ours: "
                       f"**{x['ms_per_query'] / ms['bmembed_lab']:.2f}x** its speed) | "
                       f"{x['max_relative_difference']:.1e} ({x['identical_top_k_lists']} of "
                       f"{r['queries_compared']} lists identical) |")
        out += ["",
                f"The same {r['queries_compared']} offline synthetic queries, the same tokens and k1/b for every "
                "implementation, top-1000 each, in one process (the numba ones on numba's 2 threads; bm25s "
                "numpy's 2 processes gain nothing here). bm25s implements Robertson's BM25 in float32 without "
                "rank_bm25's floor for negative idf (a term in more than half of the chunks), hence its score "
                "differences; ours sums float64 weights term by term and selects the top k above a threshold "
                "guessed from a sample of the scores, then checked (bmembed_lab/bm25_numba.py). Its first "
                f"call in a process takes {r.get('first_call_s', 0):.2f} s (numba loads the compiled kernel from "
                "its on-disk cache; the first run on a machine compiles it, about 15 s); a single query "
                "stays on scipy. Ours: "
                f"{r['kept_scores_compared']:,} kept scores compared with rank_bm25; "
                f"{r['identical_top_k_lists']} of "
                f"{r['queries_compared']} top-k lists identical index for index, the other "
                f"{r['queries_compared'] - r['identical_top_k_lists']} differ only in the order of chunks whose "
                f"scores tie within 1e-12 ({r['lists_differing_only_in_tie_order']} verified). All "
                f"{r['queries_all']:,} queries: {ms['bmembed_lab_all_queries']:.2f} ms each. "
                f"Target: {r['target']}.", ""]
    for tr in (RESULTS / "train.json", RESULTS / "train_proxy.json"):
        if not (tr.is_file() and "attention_dropout" in json.loads(tr.read_text())):
            continue
        r = json.loads(tr.read_text())
        where = ("the Multihop-RAG proxy's lists (sentences; 8 lists per step, batch 1 x accumulation 8)"
                 if r.get("corpus") == "proxy" else "the demo lists (chunks of up to 256 tokens, 1 list per step)")
        out += [f"### Training throughput: ListNet on {where} (all-MiniLM-L6-v2, {r['texts_per_step']} "
                "texts per step, equal precision and dropout, one process)", "",
                "| trainer | steps/s | lists/s | real tokens/s | peak memory (MB) | ours / this (same precision) | "
                "KL, mean of steps 1-10 | KL, mean of the last 10 |",
                "|---|---|---|---|---|---|---|---|"]
        for name, x in r["runs"].items():
            out.append(f"| {name} | {x['steps_per_s']:.3f} | {x.get('lists_per_s', x['steps_per_s']):.2f} | "
                       f"{x['real_tokens_per_s']:,.0f} | " if "real_tokens_per_s" in x else
                       f"| {name} | {x['steps_per_s']:.3f} | {x['steps_per_s']:.2f} | - | ")
            out[-1] += (f"{x['peak_rss_mb']:,.0f} | " if "peak_rss_mb" in x else "- | ")
            out[-1] += (f"**{x['ratio_ours_over_this']:.2f}x** | {x['kl_mean_first_10']:.4f} | "
                        f"{x['kl_mean_last_10']:.4f} |")
        diffs = ", ".join(f"{k.rsplit('_', 1)[1]} {v:.4f}" for k, v in r.items()
                          if k.startswith("kl_max_abs_step_difference_"))
        n_rounds = len(next(iter(r["runs"].values())).get("rounds", [0]))
        rounds = (f"; each trainer ran {n_rounds} times, interleaved, and shows its fastest run (steps/s of "
                  "each run: " + "; ".join(
                      k.replace("sentence-transformers trainer", "ST") + " " + " / ".join(f"{v:.3f}" for v in x["rounds"])
                      for k, x in r["runs"].items()) + "; ours / ST within each round: " + "; ".join(
                      f"{prec} " + ", ".join(f"{a / b:.2f}x" for a, b in zip(
                          r["runs"][f"bmembed_lab ({prec})"]["rounds"], r["runs"][st]["rounds"]))
                      for prec, st in (("fp32", "sentence-transformers trainer (fp32)"),
                                       ("bf16", "sentence-transformers trainer (bf16=True)"))
                      if f"bmembed_lab ({prec})" in r["runs"] and st in r["runs"]) + ")") if n_rounds > 1 else ""
        out += ["", f"{r['steps']} steps each, timed over steps {r['timed_steps']}{rounds}. The same lists in the same "
                f"order, lr {r['lr']}, 5 warm-up steps, alpha {r['alpha']}, tau {r['tau']}, attention dropout "
                f"{r['attention_dropout']} in every trainer; sentence-transformers runs DistillKLDivLoss with "
                "student temperature tau and teacher temperature alpha on the raw BM25 scores. Loss as KL "
                "divergence (ours minus the target entropy; theirs / tau^2); the largest per-step KL difference "
                f"between ours and theirs at the same precision: {diffs} (hidden-state dropout masks differ). "
                + (f"The objective itself, checked with every dropout off (fp32, the same {r['steps']} steps): "
                   f"the largest per-step KL difference is {r['no_dropout_check']['kl_max_abs_step_difference']:.4f} "
                   f"(ours {r['no_dropout_check']['ratio_ours_over_st']:.2f}x ST's speed there). "
                   if "no_dropout_check" in r else "")
                + ("Our passes here are unpadded: each list's texts in one sequence, attention text by "
                   "text (bmembed_lab/passes.py). " if r.get("unpadded") else "")
                + (f"Hidden-state dropout {r['hidden_dropout']['p']} in every trainer; ours draws its masks "
                   f"with bmembed_lab/dropout.py (p rounded to {r['hidden_dropout']['ours_p']:.7f}), "
                   "sentence-transformers with PyTorch's. " if "hidden_dropout" in r else "")
                + f"Target: {r['target']}.", ""]
    cp = RESULTS / "compare.json"
    if cp.is_file():
        for corpus, r in json.loads(cp.read_text()).items():
            c = r["counts"]
            out += [f"### Comparison table ({corpus}: {c['chunks']:,} chunks, {c['evaluated queries']} questions; "
                    "the paper's Table 2/6 layout)", "",
                    "| system | Hit@1 | Hit@4 | Hit@10 | MAP@10 (Multihop-RAG) | MAP@10 (textbook) | nDCG@10 |",
                    "|---|---|---|---|---|---|---|"]
            for row in r["summary"]:
                out.append(f"| {row['system']} | {row['Hit@1']:.2f} | {row['Hit@4']:.2f} | {row['Hit@10']:.2f} | "
                           f"{row['MAP@10']:.2f} | {row['MAP@10 (textbook)']:.2f} | {row['nDCG@10']:.2f} |")
            out += ["", "Paired bootstrap (10,000 resamples), difference in points [95% interval]:", "",
                    "| comparison | Hit@1 | Hit@4 | Hit@10 | MAP@10 | nDCG@10 |", "|---|---|---|---|---|---|"]
            by = {}
            for x in r["comparisons"]:
                by.setdefault(x["comparison"], {})[x["metric"]] = x
            for name, ms in by.items():
                out.append(f"| {name} | " + " | ".join(
                    f"{ms[m]['diff']:+.2f} [{ms[m]['ci_low']:+.2f}, {ms[m]['ci_high']:+.2f}]"
                    for m in ("Hit@1", "Hit@4", "Hit@10", "MAP@10", "nDCG@10")) + " |")
            te = r.get("teacher")
            if te:
                j = te["top10_jaccard_with_bm25"]
                sp = te["bmembed_vs_base_hit10"]
                out += ["", f"Teacher effect: top-10 overlap (Jaccard) with BM25 rises from {j['base']:.3f} (base) to "
                        f"{j['bmembed']:.3f} (bmembed). Against base on Hit@10, bmembed fixed "
                        f"{sum(sp.get('fixed', {}).values())} questions ({sp.get('fixed', {}).get('bm25 hit', 0)} of them "
                        f"found by BM25) and broke {sum(sp.get('broke', {}).values())} "
                        f"({sp.get('broke', {}).get('bm25 miss', 0)} of them missed by BM25)."]
            tr = r["training"]
            out += ["", "Training (compute-matched: every method encodes about the same number of texts): "
                    + "; ".join(f"{m} {t['steps']} steps x batch {t['batch_size']}, lr {t['lr']:g}, "
                                f"{t['seconds'] / 60:.1f} min" for m, t in tr.items())
                    + f". Offline keyphrase queries: {r['queries'].get('kept')} kept; MNRL pairs with a mined "
                    f"hard negative: {r['mined'].get('pairs')}. MNRL uses a Matryoshka loss (384/256/128/64); "
                    f"`@128` rows keep the first 128 dimensions. Wall time {r['seconds'] / 60:.1f} min.", ""]
    pp = RESULTS / "perturbation.json"
    if pp.is_file():
        import pandas as pd

        from bmembed_lab.perturbation import table5

        for corpus, r in json.loads(pp.read_text()).items():
            if corpus == "machine":
                continue
            c = r["counts"]
            out += [f"### Lexical sensitivity ({corpus}: {c['queries']} questions; the paper's Table 5 layout)", "",
                    "Original -> perturbed value on the same questions, in percent, then the change in "
                    "points [paired-bootstrap 95% interval]; negative = worse. Offline keywords (words a question shares with its "
                    "gold chunks, by BM25 idf, at most 5), WordNet substitutes.", ""]
            t = table5(pd.DataFrame(r["study"]))
            out += ["| " + " | ".join(t.columns) + " |", "|" + "---|" * len(t.columns)]
            out += ["| " + " | ".join(map(str, row)) + " |" for row in t.itertuples(index=False)]
            out += ["", "Counts: " + ", ".join(f"{k} {v}" for k, v in c.items()) + ".", "",
                    "What the numbers say (computed by `perturbation.reading`):", ""]
            out += [f"- {line}" for line in r["reading"]]
            out += ["", "Examples:", ""] + [
                f"- {e['original']!r} -> masked {e['masked']!r} -> substituted {e['substituted']!r}"
                for e in r["examples"]]
            out += ["", f"Wall time {r['seconds'] / 60:.1f} min (trained models and chunk embeddings from the "
                    "stage cache where present).", ""]
    sw = RESULTS / "sweep_demo.json"
    if sw.is_file():
        r = json.loads(sw.read_text())
        t = r.get("teacher_check", {})
        out += ["### Why BMEmbed does not beat Base here: the sweep (`python bench/sweep.py`, demo corpus)", "",
                "| variant (200 steps, warm-up 20) | overrides | BMEmbed MAP@10 | Base MAP@10 | difference [95% interval] | "
                "BMEmbed Hit@10 | Base Hit@10 |", "|---|---|---|---|---|---|---|"]
        for name, v in r["variants"].items():
            d = v["bmembed_minus_base"]["MAP@10"]
            ov = ", ".join(o for o in v["overrides"] if not o.startswith(("training.steps", "training.warmup"))) or "-"
            out.append(f"| {name} | `{ov}` | {v['bmembed']['MAP@10']:.2f} | {v['base']['MAP@10']:.2f} | "
                       f"{d['diff']:+.2f} [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}] | {v['bmembed']['Hit@10']:.2f} | "
                       f"{v['base']['Hit@10']:.2f} |")
        if t:
            out += ["", f"Teacher check on {t['queries']} synthetic training queries: BM25 ranks the query's own "
                    f"source chunk first for {100 * t['bm25_top1_is_source']:.1f}% of them, the base encoder for "
                    f"{100 * t['base_top1_is_source']:.1f}%. On the held-out questions the order flips (see the "
                    "comparison table): BM25 is the better ranker on its keyword queries, the worse one on real questions.", ""]
            h = t.get("held_out_synthetic")
            if h:
                d1, d10 = h["bmembed - base Hit@1"], h["bmembed - base Hit@10"]
                out += [f"What the student learned: on {h['queries']} held-out synthetic queries (the same offline "
                        "generator with another seed, texts seen in training removed; gold = the query's source "
                        "chunk), Hit@1 / Hit@10 of BM25 "
                        f"{h['bm25 Hit@1']:.1f} / {h['bm25 Hit@10']:.1f}, base {h['base Hit@1']:.1f} / "
                        f"{h['base Hit@10']:.1f}, BMEmbed {h['bmembed Hit@1']:.1f} / {h['bmembed Hit@10']:.1f}; "
                        f"BMEmbed - base Hit@1 {d1['diff']:+.2f} [{d1['ci_low']:+.2f}, {d1['ci_high']:+.2f}], "
                        f"Hit@10 {d10['diff']:+.2f} [{d10['ci_low']:+.2f}, {d10['ci_high']:+.2f}].", ""]
    fb = RESULTS / "financebench.json"
    if fb.is_file():
        f = json.loads(fb.read_text())
        info = f["inputs"]
        out += ["### FinanceBench (BM25, base MiniLM, RRF)", "",
                f"{info['pdfs']} PDFs read by the project's folder loader; {info['questions']} questions "
                f"({info['questions dropped (evidence document missing)']} dropped because an evidence "
                "document is not among the PDFs); chunks of at most 254 MiniLM tokens.", ""]
        for match, r in f["relevance"].items():
            c = r["counts"]
            out += [f"**Relevance by evidence {match}** ({c['chunks']} chunks, {c['evaluated queries']} "
                    f"questions evaluated, {c['labelled queries without a relevant chunk (excluded)']} "
                    "without any relevant chunk excluded)", "",
                    "| system | Hit@1 | Hit@4 | Hit@10 | MAP@10 (Multihop-RAG) | MAP@10 (textbook) | nDCG@10 |",
                    "|---|---|---|---|---|---|---|"]
            for row in r["summary"]:
                out.append(f"| {row['system']} | {row['Hit@1']:.2f} | {row['Hit@4']:.2f} | {row['Hit@10']:.2f} | "
                           f"{row['MAP@10']:.2f} | {row['MAP@10 (textbook)']:.2f} | {row['nDCG@10']:.2f} |")
            t = r["stage_seconds"]
            out += ["", "Stage wall times (s, cached stages load in well under a second): "
                    + ", ".join(f"{k} {v:.1f}" for k, v in t.items()) + f"; total {r['total_seconds']:.1f}", ""]
    return "\n".join(out)


def write_readme() -> None:
    from benchutil import write_block

    write_block(ROOT / "bench" / "README.md", "results", render_tables())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", nargs="*", default=["encode", "bm25", "train", "financebench", "compare"])
    ap.add_argument("--corpora", default="demo,financebench", help="compare: demo and/or financebench")
    ap.add_argument("--train-steps", type=int, default=30, help="train, train-proxy: steps per trainer")
    ap.add_argument("--rounds", type=int, default=3, help="train, train-proxy: interleaved runs per trainer")
    ap.add_argument("--max-docs", type=int, default=0, help="FinanceBench: only the first N evidence PDFs")
    a = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if "encode" in a.which:
        r = {"machine": machine(), **bench_encode()}
        (RESULTS / "encode.json").write_text(json.dumps(r, indent=1))
        print(json.dumps(r, indent=1), flush=True)
    if "bm25" in a.which:
        r = {"machine": machine(), **bench_bm25()}
        (RESULTS / "bm25.json").write_text(json.dumps(r, indent=1))
        print(json.dumps(r, indent=1), flush=True)
    for which, corpus, name in (("train", "demo", "train.json"), ("train-proxy", "proxy", "train_proxy.json")):
        if which in a.which:
            if corpus == "proxy" and not TRAIN_CORPORA["proxy"][0].is_file():
                sys.exit("build the proxy first: python bench/build_multihop_proxy.py")
            r = {"machine": machine(), **bench_train(a.train_steps, corpus=corpus, rounds=a.rounds)}
            (RESULTS / name).write_text(json.dumps(r, indent=1))
            print(json.dumps({k: v for k, v in r.items() if k != "runs"}, indent=1),
                  {k: v["steps_per_s"] for k, v in r["runs"].items()}, flush=True)
    if "compare" in a.which:
        bench_compare(a.corpora.split(","), a.max_docs)
    if "perturb" in a.which:
        bench_perturb(a.corpora.split(","), a.max_docs)
    if "financebench" in a.which:
        if not FB.is_dir():
            sys.exit(f"FinanceBench not found at {FB}")
        r = {"machine": machine(), **bench_financebench(a.max_docs)}
        (RESULTS / "financebench.json").write_text(json.dumps(r, indent=1, default=str))
    write_readme()  # the tables always reflect every result file present


if __name__ == "__main__":
    main()
