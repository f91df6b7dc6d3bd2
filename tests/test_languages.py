"""Languages beyond English (issue 30, line 7): CJK corpora get bigrams (or a segmenter) so
BM25 ranks each query's source passage first; the stemmer follows bm25.language; what cannot
follow a language is an error naming the option; the run says when a corpus is not English."""

import pytest

from bmembed_lab import tokenizers
from bmembed_lab.bm25 import BM25Index, tokenize_cfg
from bmembed_lab.config import BM25Config, load_config
from bmembed_lab.errors import InputError

PASSAGES = [  # six short Chinese passages on different topics, and a question on each
    "糖尿病是一种代谢疾病，患者的血糖长期偏高，需要控制饮食并按时注射胰岛素。",
    "高血压患者应减少食盐摄入，坚持运动，并定期测量血压。",
    "哮喘发作时气道变窄，患者会感到呼吸困难，可以使用吸入剂缓解症状。",
    "骨质疏松症多见于老年女性，骨密度下降，容易发生骨折，应补充钙和维生素D。",
    "偏头痛常表现为一侧头部搏动性疼痛，可伴有恶心和畏光。",
    "过敏性鼻炎的症状包括打喷嚏、流鼻涕和鼻塞，花粉是常见的过敏原。",
]
QUESTIONS = ["糖尿病患者为什么要注射胰岛素？", "高血压患者如何测量血压？",
             "哮喘发作时呼吸困难怎么办？", "老年女性为什么容易骨折？", "偏头痛有哪些表现？",
             "过敏性鼻炎有哪些症状？"]


def ranks_first(cfg: BM25Config) -> int:
    index = BM25Index.from_texts(PASSAGES, cfg)
    top, _ = index.topk(tokenize_cfg(QUESTIONS, cfg), 1)
    return sum(int(top[i, 0]) == i for i in range(len(QUESTIONS)))


def test_bm25_ranks_each_chinese_querys_source_first_with_bigrams():
    assert ranks_first(BM25Config(tokenizer="cjk-bigrams")) == len(QUESTIONS)
    assert ranks_first(BM25Config()) < 2  # 'words': every clause one token, nothing matches


def test_the_stemmer_follows_the_language_and_stopwords_are_english_only():
    from bmembed_lab.bm25 import tokenize

    assert tokenize(["les chevaux"], stem=True, language="french") == [["le", "cheval"]]
    assert tokenize(["les chevaux"], stem=True) == [["les", "chevaux"]]  # English: unchanged
    assert load_config(None, ["bm25.language=german", "bm25.stem=true"]).bm25.language == "german"
    with pytest.raises(InputError, match="bm25.language"):
        load_config(None, ["bm25.language=klingon", "bm25.stem=true"])
    with pytest.raises(InputError, match="bm25.stopwords"):
        load_config(None, ["bm25.language=french", "bm25.stopwords=true"])
    with pytest.raises(InputError, match="bm25.tokenizer"):
        load_config(None, ["bm25.tokenizer=spaces"])


def test_a_missing_segmenter_says_how_to_get_it(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_jieba(name, *a, **k):
        if name == "jieba":
            raise ImportError(name)
        return real(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_jieba)
    tokenizers.segmenter.cache_clear()
    with pytest.raises(InputError, match="pip install jieba"):
        tokenizers.split("糖尿病", "jieba")
    tokenizers.segmenter.cache_clear()


def test_the_run_says_when_a_corpus_is_not_english():
    note = tokenizers.language_note(PASSAGES, "words")
    assert "CJK" in note and "cjk-bigrams" in note and "English-only stages" in note
    assert "set bm25.tokenizer" not in tokenizers.language_note(PASSAGES, "cjk-bigrams")
    assert tokenizers.language_note(["Gallstones form in the gallbladder."], "words") is None
