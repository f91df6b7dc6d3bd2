"""Chat calls to any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp), each reply
cached on disk by a hash of (model, messages, sampling options), so an interrupted run loses
nothing and a rerun sends only the calls not yet answered.

In: a list of :class:`Call`. Out: one :class:`Reply` per call (the raw text, or the error that
remained after the retries). Calls run ``concurrency`` at a time; 429, 5xx, timeouts and
connection errors are retried with exponential backoff and jitter (a server's Retry-After wins).
Other errors (401, 404: a wrong key, URL or model name) stop the run at once with a fix.

The API key is read from the environment variable named by ``llm.api_key_env`` when the client
is made and is kept only inside the client object: it is not part of any cache key, cache
file, log line or config dump.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .safeio import atomic_write_text
from .config import LLMConfig
from .errors import InputError

log = logging.getLogger(__name__)
RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Call:
    model: str
    system: str
    user: str
    temperature: float = 0.0
    max_tokens: int = 2048
    response_format: str = ""  # JSON of the request's response_format ('' = none)
    extra_body: str = ""  # JSON of server-specific request fields ('' = none)

    @property
    def key(self) -> str:
        """The reply's cache key: the request's content. The request options enter it only
        when set, so replies cached before they existed keep their keys."""
        fields_ = {k: v for k, v in asdict(self).items()
                   if v != "" or k not in ("response_format", "extra_body")}
        return hashlib.sha256(json.dumps(fields_, sort_keys=True).encode()).hexdigest()[:32]

    def approx_prompt_tokens(self) -> int:
        """About 4 characters a token (the usual rule for English with GPT tokenizers)."""
        return (len(self.system) + len(self.user)) // 4 + 8


@dataclass
class Reply:
    call_key: str
    text: str | None
    error: str | None = None
    attempts: int = 0
    cached: bool = False
    usage: dict = field(default_factory=dict)


@dataclass
class CallStats:
    sent: int = 0
    cached: int = 0
    retries: int = 0
    failed: int = 0
    unparsed: int = 0  # replies that were not the JSON asked for (never cached)
    prompt_tokens: int = 0
    completion_tokens: int = 0


def request_options(cfg: LLMConfig, name: str, schema: dict) -> dict:
    """The ``response_format`` and ``extra_body`` fields of a :class:`Call` under ``cfg``:
    ``json_object``, or ``json_schema`` with the step's reply ``schema`` (named ``name``)."""
    fmt = {"": None, "json_object": {"type": "json_object"},
           "json_schema": {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}
           }[cfg.response_format]
    return {"response_format": json.dumps(fmt, sort_keys=True) if fmt else "",
            "extra_body": json.dumps(cfg.extra_body, sort_keys=True) if cfg.extra_body else ""}


def estimate(calls: list[Call], max_output_tokens: int) -> dict:
    """Dry run: the number of calls and an upper estimate of tokens, nothing sent."""
    prompt = sum(c.approx_prompt_tokens() for c in calls)
    return {"calls": len(calls), "approx_prompt_tokens": prompt,
            "max_completion_tokens": len(calls) * max_output_tokens}


class LLMClient:
    """Cached, retrying, bounded-concurrency chat completions."""

    def __init__(self, cfg: LLMConfig, cache_dir: Path | None, client=None):
        self.cfg = cfg
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._client = client
        self.stats = CallStats()
        self._lock = threading.Lock()

    # -- the openai client, made on first use ------------------------------------------------
    def client(self):
        if self._client is None:
            import openai

            key = os.environ.get(self.cfg.api_key_env, "")
            base = self.cfg.base_url or os.environ.get("OPENAI_BASE_URL") or None
            if not key:
                if base is None:
                    raise InputError(f"environment variable {self.cfg.api_key_env} is not set",
                                     "llm.api_key_env", f"export {self.cfg.api_key_env}=... or set "
                                     "llm.base_url to a local server (which may take any key)")
                key = "none"  # local servers (vLLM, Ollama, llama.cpp) accept any key
            self._client = openai.OpenAI(api_key=key, base_url=base, timeout=self.cfg.timeout,
                                         max_retries=0)
        return self._client

    @property
    def endpoint(self) -> str:
        return self.cfg.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"

    def _short(self, err) -> str:
        """An endpoint's error text, shortened, with the API key blanked out."""
        msg = str(getattr(err, "message", None) or err)
        key = os.environ.get(self.cfg.api_key_env, "")
        if len(key) >= 4:
            msg = msg.replace(key, "***")
        return msg if len(msg) < 200 else msg[:200] + "..."

    # -- cache --------------------------------------------------------------------------------
    def _path(self, call: Call) -> Path | None:
        return self.cache_dir / call.key[:2] / f"{call.key}.json" if self.cache_dir else None

    def cached(self, call: Call, parses=None) -> Reply | None:
        """The stored reply to ``call``, or None: none stored, unreadable, or (``parses``
        given) not the JSON the caller reads (stored by an earlier version: asked again)."""
        p = self._path(call)
        if p is None or not p.is_file():
            return None
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
            if not isinstance(d.get("text"), str) or not d["text"].strip():
                raise ValueError("no usable text")  # cached by an earlier version: ask again
            if parses is not None and not parses(d["text"]):
                raise ValueError("not the JSON asked for")
            return Reply(call.key, d["text"], None, d.get("attempts", 0), True, d.get("usage", {}))
        except (ValueError, KeyError, AttributeError):
            log.warning("unreadable cached reply %s: asking again", p)
            return None

    def _store(self, call: Call, reply: Reply) -> None:
        p = self._path(call)
        if p is None:
            return
        p.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(p, json.dumps({"call": asdict(call), "text": reply.text,
                                         "attempts": reply.attempts, "usage": reply.usage,
                                         "endpoint": self.endpoint, "time": time.time()}))

    # -- one call with retries ----------------------------------------------------------------
    def _retry_wait(self, err, attempt: int) -> float:
        resp = getattr(err, "response", None)
        if resp is not None:
            ra = resp.headers.get("retry-after")
            try:
                if ra is not None:
                    return min(float(ra), 60.0)
            except ValueError:
                pass
        return self.cfg.backoff * (2 ** attempt) * (0.5 + random.random() / 2)

    def _send(self, call: Call, parses=None) -> Reply:
        """Ask the endpoint (no cache lookup), retrying transient failures; store the reply
        when it is usable and (``parses`` given) the JSON the caller reads. A reply that is not
        is returned, counted, and never stored, so a rerun asks again."""
        import openai

        client = self.client()
        attempt = 0
        while True:
            try:
                with self._lock:
                    self.stats.sent += 1
                options = {k: json.loads(v) for k, v in (("response_format", call.response_format),
                                                         ("extra_body", call.extra_body)) if v}
                resp = client.chat.completions.create(
                    model=call.model, temperature=call.temperature, max_tokens=call.max_tokens,
                    messages=[{"role": "system", "content": call.system},
                              {"role": "user", "content": call.user}], **options)
                if not hasattr(resp, "choices"):  # a 200 that is no JSON: a web page, a proxy
                    raise InputError(
                        f"the endpoint answered with something that is not an API "
                        f"reply ({str(resp)[:60]!r}...)",
                        f"llm endpoint {self.endpoint}",
                        "point llm.base_url at the OpenAI-compatible API (it usually "
                        "ends in /v1), not at a web page",
                    ) from None
                text = resp.choices[0].message.content if resp.choices else None
                usage = resp.usage.model_dump() if getattr(resp, "usage", None) else {}
                why = unusable(resp.choices, text, usage, call.max_tokens)
                if why:
                    raise UnusableReply(why)
                reply = Reply(call.key, text, None, attempt + 1, False,
                              {k: usage.get(k) for k in ("prompt_tokens", "completion_tokens")})
                with self._lock:
                    self.stats.prompt_tokens += usage.get("prompt_tokens") or 0
                    self.stats.completion_tokens += usage.get("completion_tokens") or 0
                if parses is None or parses(text):
                    self._store(call, reply)
                else:
                    with self._lock:
                        self.stats.unparsed += 1
                return reply
            except (
                openai.APITimeoutError,
                openai.APIConnectionError,
                openai.APIStatusError,
                openai.APIResponseValidationError,
                ValueError,
                TypeError,
                AttributeError,
            ) as err:
                if isinstance(err, InputError):  # a configuration problem: no retry helps
                    raise
                status = getattr(err, "status_code", None)
                if status is not None and status not in RETRYABLE_STATUS and status < 500:
                    raise InputError(f"the endpoint refused the call: HTTP {status} "
                                     f"{self._short(err)}", f"llm endpoint {self.endpoint}",
                                     _fix_for(status, self.cfg)) from None
                # 429, 5xx, timeouts, dropped connections, and 200s whose body is no completion
                if attempt >= self.cfg.max_retries:
                    with self._lock:
                        self.stats.failed += 1
                    return Reply(
                        call.key, None, f"{type(err).__name__}: {self._short(err)}", attempt + 1
                    )
                wait = self._retry_wait(err, attempt)
                log.info("LLM call %s: %s, retry %d in %.1fs", call.key[:8], type(err).__name__,
                         attempt + 1, wait)
                with self._lock:
                    self.stats.retries += 1
                time.sleep(wait)
                attempt += 1

    def complete_all(self, calls: list[Call], progress=None, parse=None) -> list[Reply]:
        """Replies in the order of ``calls``; cached ones first, the rest ``concurrency`` at a time.
        ``progress(done, total)`` is called after each reply. ``parse(i, text)``: the caller's
        reading of the reply to ``calls[i]`` (None = unreadable): only replies it reads are
        cached."""
        out: list[Reply | None] = [None] * len(calls)
        todo = []

        def parses(i):
            return None if parse is None else (lambda text: parse(i, text) is not None)

        for i, c in enumerate(calls):
            hit = self.cached(c, parses(i))
            if hit is not None:
                out[i] = hit
                self.stats.cached += 1
            else:
                todo.append(i)
        done = len(calls) - len(todo)
        bar = None
        if progress is None and todo:  # the terminal gets a tqdm bar; notebooks pass a callback
            from tqdm.auto import tqdm

            bar = tqdm(total=len(calls), initial=done, desc=f"LLM calls ({calls[0].model})")
            progress = lambda d, t: bar.update(1)  # noqa: E731
        elif progress:
            progress(done, len(calls))
        if todo:
            self.client()  # a missing key fails before any thread starts
            with ThreadPoolExecutor(max(1, self.cfg.concurrency)) as pool:
                futures = {pool.submit(self._send, calls[i], parses(i)): i for i in todo}
                try:
                    for fut in as_completed(futures):
                        out[futures[fut]] = fut.result()
                        done += 1
                        if progress:
                            progress(done, len(calls))
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
                finally:
                    if bar is not None:
                        bar.close()
        return out  # type: ignore[return-value]


def failure_fix(error: str | None, cfg: LLMConfig) -> str:
    """The fix to suggest for calls that still failed after their retries."""
    if error and error.startswith("UnusableReply"):
        return (
            f"the endpoint answers without usable text: check that {cfg.extract_model!r} / "
            f"{cfg.query_model!r} are chat models it serves, and that llm.max_output_tokens "
            f"({cfg.max_output_tokens}) is enough; nothing unusable was cached, so a rerun asks "
            "again"
        )
    return ("rerun the same command to send only the missing calls, or raise llm.max_retries / "
            "llm.timeout")


class UnusableReply(ValueError):
    """An answer that is no completion: retried like a transient failure, never cached."""


def unusable(choices, text, usage: dict, max_tokens: int) -> str | None:
    """Why a reply cannot be used (and must not be cached), or None: no choices, no content, an
    empty text, or far more tokens (or characters) than ``max_tokens`` allows."""
    if not choices:
        return "the reply has no choices"
    if text is None:
        return "the reply's message has no content"
    if not text.strip():
        return "the reply is empty"
    if (usage.get("completion_tokens") or 0) > 2 * max_tokens or len(text) > 16 * max_tokens:
        return f"the reply is far longer than max_tokens = {max_tokens} allows"
    return None


def _fix_for(status: int | None, cfg: LLMConfig) -> str:
    if status == 401 or status == 403:
        return f"check the key in ${cfg.api_key_env}"
    if status == 404:
        return (f"check llm.base_url (it usually ends in /v1) and the model names "
                f"({cfg.extract_model}, {cfg.query_model})")
    if status == 400:
        return "check llm.max_output_tokens and the model's context length (llm.segment_tokens)"
    return "check the endpoint's logs"
