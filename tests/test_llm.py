"""The LLM backend through the real openai client over real HTTP, against a local
OpenAI-compatible server (tests/openai_server.py): faults, retries, resume, key hygiene."""

import json
import logging

import pytest

from bmembed_lab.config import LLMConfig, QueriesConfig
from bmembed_lab.corpus import Document
from bmembed_lab.errors import InputError
from bmembed_lab.llm import LLMClient
from bmembed_lab.pipeline import Pipeline
from bmembed_lab.querygen import dry_run, generate_queries

from .conftest import DOCS, tiny_config
from .openai_server import FakeOpenAI

KEY = "sk-test-DO-NOT-LEAK-4f9a2c"


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("BMEMBED_TEST_KEY", KEY)
    with FakeOpenAI(api_key=KEY, timeout_sleep=1.5) as s:
        yield s


def llm_cfg(server, **kw) -> LLMConfig:
    return LLMConfig(**{"base_url": server.base_url, "api_key_env": "BMEMBED_TEST_KEY",
                        "backoff": 0.01, "max_retries": 3, "timeout": 0.5, "concurrency": 3,
                        "segment_tokens": 40, **kw})


def docs():
    return [Document(d["_id"], d["text"], d["title"]) for d in DOCS]


def run(server, tmp_path, qcfg=None, **kw):
    client = LLMClient(llm_cfg(server, **kw), tmp_path / "calls")
    return generate_queries(docs(), qcfg or QueriesConfig(backend="llm", queries_per_event=2,
                                                          max_copy_ratio=1.0), client), client


def test_two_stage_generation_over_http(server, tmp_path):
    qs, client = run(server, tmp_path)
    n_segs = qs.counts["segments"]
    assert n_segs > len(DOCS)  # segment_tokens=40: documents split into several segments
    assert qs.counts["extraction calls"] == qs.counts["synthesis calls"] == n_segs
    assert len(server.requests) == 2 * n_segs
    assert {r["model"] for r in server.requests} == {"gpt-4o", "gpt-4o-mini"}
    assert qs.events and all(e.context_in_doc and e.type == "fine-grained" for e in qs.events)
    q = qs.queries[0]
    assert q.backend == "llm" and q.event_id.startswith(q.doc_id)
    ev = next(e for e in qs.events if e.event_id == q.event_id)
    assert q.evidence == ev.context  # the event's original context is the query's evidence
    assert qs.counts["generated"] == 2 * len(qs.events)
    assert server.auth_headers[0] == f"Bearer {KEY}"


def test_faults_are_retried_and_malformed_replies_kept(server, tmp_path):
    server.script("429", "500", "timeout", "badbody", "garbage")
    qs, client = run(server, tmp_path)
    assert client.stats.retries == 4  # 429, 500, timeout and the non-JSON body were retried
    assert qs.counts["unparsed replies"] == 1  # the garbage completion: kept raw, counted
    u = qs.unparsed[0]
    assert u["raw"] == "I cannot help with that, sorry." and u["stage"] == "extraction"
    clean, _ = run(server, tmp_path / "clean")
    assert qs.counts["segments"] == clean.counts["segments"]
    assert len(qs.events) == len(clean.events) - 2  # one segment's two events lost to garbage
    # the garbage was never cached: the same run asks for exactly that reply again, and gets it
    sent = len(server.requests)
    again, client2 = run(server, tmp_path)
    # that extraction again, then the synthesis its events now need; every other reply cached
    assert len(server.requests) - sent == 2
    assert client2.stats.cached == 2 * qs.counts["segments"] - 2
    assert again.counts["unparsed replies"] == 0 and len(again.events) == len(clean.events)


def test_an_endpoint_that_answers_only_prose_is_named_and_nothing_is_cached(server, tmp_path):
    server.always = "garbage"
    with pytest.raises(InputError, match="(?s)none of the .* replies is the JSON.*response_format"):
        run(server, tmp_path)
    assert not list((tmp_path / "calls").rglob("*.json"))  # a rerun asks again
    server.always = None
    qs, _ = run(server, tmp_path)
    assert qs.events


def test_interrupted_run_resumes_sending_only_missing_calls(server, tmp_path):
    server.fail_after = 4  # the endpoint goes down after 4 answers
    with pytest.raises(InputError) as err:
        run(server, tmp_path, max_retries=1)
    assert "rerun" in str(err.value)
    answered = server.answered
    assert answered == 4
    server.fail_after = None
    before = len(server.requests)
    qs, client = run(server, tmp_path)
    total = 2 * qs.counts["segments"]
    assert len(server.requests) - before == total - answered  # nothing asked twice
    assert client.stats.cached == answered
    again, c2 = run(server, tmp_path)  # fully cached: no request at all
    assert len(server.requests) - before == total - answered and c2.stats.sent == 0
    assert [q.text for q in again.queries] == [q.text for q in qs.queries]


def test_wrong_key_stops_with_a_fix(server, tmp_path, monkeypatch):
    monkeypatch.setenv("BMEMBED_TEST_KEY", "sk-wrong")
    with pytest.raises(InputError, match="HTTP 401") as err:
        run(server, tmp_path)
    assert "BMEMBED_TEST_KEY" in str(err.value) and "sk-wrong" not in str(err.value)
    monkeypatch.delenv("BMEMBED_TEST_KEY")
    client = LLMClient(LLMConfig(api_key_env="BMEMBED_TEST_KEY"), None)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(InputError, match="is not set"):
        client.client()


def test_dry_run_counts_calls_and_sends_nothing(server):
    est = dry_run(docs(), QueriesConfig(backend="llm"), llm_cfg(server))
    assert est["extraction calls"] == est["synthesis calls (at most)"] == est["segments"] > 3
    assert (
        est["approx prompt tokens"] > 0
        and est["max completion tokens"] == 2 * est["segments"] * 2048
    )
    assert server.requests == []


def test_api_key_never_written(server, tmp_path, beir_dir, tiny_model_dir, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir, queries__backend="llm",
                      llm__base_url=server.base_url, llm__api_key_env="BMEMBED_TEST_KEY",
                      llm__segment_tokens=40, queries__max_copy_ratio=1.0)
    pipe = Pipeline(cfg)
    qs, _ = pipe.synthetic_queries()
    assert qs.counts["kept"] > 0 and (tmp_path / "cache" / "llm_calls").is_dir()
    written = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert len(written) > 10
    for p in written:
        assert KEY.encode() not in p.read_bytes(), p
    assert KEY not in json.dumps(cfg.to_dict())
    assert KEY not in caplog.text and KEY not in capsys.readouterr().out


@pytest.mark.parametrize("fault", ["nochoices", "nullcontent", "empty", "huge"])
def test_unusable_replies_are_retried_never_cached(server, tmp_path, fault):
    server.script(fault)  # the first call gets it, its retry a good answer
    qs, client = run(server, tmp_path)
    assert client.stats.retries >= 1 and qs.queries
    for f in (tmp_path / "calls").rglob("*.json"):
        assert json.loads(f.read_text())["text"].strip()  # only usable replies are stored


@pytest.mark.parametrize("fault, cause", [("empty", "the reply is empty"),
                                          ("nochoices", "no choices"),
                                          ("nullcontent", "no content")])
def test_an_endpoint_that_never_answers_usably_names_the_cause(server, tmp_path, fault, cause):
    server.always = fault
    with pytest.raises(InputError) as err:
        run(server, tmp_path, max_retries=1)
    assert cause in str(err.value) and "filter" not in str(err.value)
    assert "chat models it serves" in str(err.value)
    assert not list((tmp_path / "calls").rglob("*.json"))  # nothing cached: a rerun asks again
    server.always = None
    qs, _ = run(server, tmp_path)  # the endpoint recovered: the same command now works
    assert qs.queries


def test_an_echoed_key_is_blanked_out(server, tmp_path, caplog):
    server.always = "echokey"
    with caplog.at_level(logging.DEBUG), pytest.raises(InputError) as err:
        run(server, tmp_path, max_retries=0)
    assert KEY not in str(err.value) and KEY not in caplog.text and "***" in str(err.value)


@pytest.mark.parametrize("fmt", ["json_schema", "json_object"])
def test_structured_output_and_server_options_reach_the_endpoint(server, tmp_path, fmt):
    """llm.response_format and llm.extra_body are sent with every call (extra_body's fields
    merge into the request body, as the openai client sends them); the server enforces the
    format (bare JSON objects, events wrapped under the schema's name) and the replies parse."""
    qs, _ = run(server, tmp_path, response_format=fmt, extra_body={"top_k": 20})
    assert qs.queries and qs.events
    assert all(r["top_k"] == 20 for r in server.requests)
    formats = [r["response_format"] for r in server.requests]
    if fmt == "json_object":
        assert all(f == {"type": "json_object"} for f in formats)
    else:
        assert {f["json_schema"]["name"] for f in formats} == {"events", "questions"}


def test_request_options_enter_a_reply_key_only_when_set():
    """Replies cached before the options existed keep their keys; a reply asked for in
    another format is another reply."""
    import hashlib
    import json

    from bmembed_lab.llm import Call

    plain = Call("m", "system", "user", 0.0, 512)
    old = hashlib.sha256(json.dumps({"model": "m", "system": "system", "user": "user",
                                     "temperature": 0.0, "max_tokens": 512},
                                    sort_keys=True).encode()).hexdigest()[:32]
    assert plain.key == old
    assert (
        Call("m", "system", "user", 0.0, 512, response_format='{"type": "json_object"}').key != old
    )
    assert Call("m", "system", "user", 0.0, 512, extra_body='{"top_k": 20}').key != old


def test_perturbation_calls_carry_their_own_schemas(server):
    from bmembed_lab.perturbation.llm import keyword_call, substitute_call

    cfg = llm_cfg(server, response_format="json_schema")
    k = json.loads(keyword_call("q", "p", "m", 3, llm=cfg).response_format)
    s = json.loads(substitute_call("q", ["a"], "m", cfg).response_format)
    assert (k["json_schema"]["name"], s["json_schema"]["name"]) == ("keywords", "substitutions")


def test_a_web_page_at_the_endpoint_is_named_not_an_attribute_error(server, tmp_path):
    """base_url pointing at a web page (200, text/html) ended in "AttributeError: 'str' object
    has no attribute 'choices'" after every retry: it stops at the first reply, naming it."""
    server.always = "html"
    with pytest.raises(InputError, match="not an API reply") as err:
        run(server, tmp_path)
    sent = [json.dumps(r, sort_keys=True) for r in server.requests]
    assert "/v1" in err.value.fix and len(set(sent)) == len(sent)  # no call was retried


@pytest.mark.parametrize("url", ["http://user:sk-secret@127.0.0.1:8000/v1",
                                 "https://api.example.com/v1?api_key=sk-secret",
                                 "https://api.example.com/v1?key=sk-secret&x=1"])
def test_a_key_in_the_base_url_is_refused_and_never_printed(tmp_path, capsys, url):
    from bmembed_lab.cli import main

    assert main(["config", "--set", f"llm.base_url={json.dumps(url)}"]) == 2
    err = capsys.readouterr().err
    assert "holds a credential" in err and "sk-secret" not in err and "api_key_env" in err
