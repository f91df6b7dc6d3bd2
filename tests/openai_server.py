"""A small OpenAI-compatible chat-completions server on 127.0.0.1 for the LLM tests.

It answers ``POST /v1/chat/completions`` over real HTTP like a served model would: an event
extraction prompt gets events read off the document's first sentences (their context copied
verbatim), a query synthesis prompt gets one question per event and requested count. Faults
are scripted per request with :meth:`FakeOpenAI.script` (``429``, ``500``, ``timeout``,
``badbody`` = a 200 whose body is not JSON, ``garbage`` = a completion whose text is no event
list) or for every request after the first N with ``fail_after``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI:
    def __init__(self, api_key: str = "sk-test", timeout_sleep: float = 2.0):
        self.api_key = api_key
        self.timeout_sleep = timeout_sleep
        self.faults: deque[str] = deque()
        self.fail_after: int | None = None
        self.always: str | None = None  # a fault every request gets until reset
        self.requests: list[dict] = []  # every request received, faulted or not
        self.answered = 0  # successful completions
        self.auth_headers: list[str] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_POST(self):  # noqa: N802
                n = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(n) or b"{}")
                with server.lock:
                    server.requests.append(body)
                    server.auth_headers.append(self.headers.get("authorization", ""))
                    fault = server.faults.popleft() if server.faults else server.always
                    if (
                        fault is None
                        and server.fail_after is not None
                        and server.answered >= server.fail_after
                    ):
                        fault = "500"
                if self.headers.get("authorization") != f"Bearer {server.api_key}":
                    return self._send(401, {"error": {"message": "invalid api key"}})
                if not self.path.endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": "not found"}})
                if fault == "429":
                    return self._send(
                        429, {"error": {"message": "rate limited"}}, {"retry-after": "0"}
                    )
                if fault == "500":
                    return self._send(500, {"error": {"message": "internal error"}})
                if fault == "timeout":
                    time.sleep(server.timeout_sleep)
                if fault == "badbody":
                    return self._send_raw(200, b"{not json at all")
                if fault == "html":  # base_url pointing at a web page, not the API
                    return self._send_raw(200, b"<!doctype html><html><body>Welcome</body></html>",
                                          {"content-type": "text/html; charset=utf-8"})
                if fault == "echokey":  # a proxy that echoes the request's headers in its error
                    return self._send(500, {"error": {"message": "upstream failed for "
                                                      + self.headers.get("authorization", "")}})
                text = (
                    "I cannot help with that, sorry." if fault == "garbage" else server.reply(body)
                )
                if body.get("response_format") and fault != "garbage":
                    text = server.as_format(text, body["response_format"])
                text = {"nullcontent": None, "empty": "", "huge": "x" * 100000}.get(fault, text)
                with server.lock:
                    server.answered += 1
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-{server.answered}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "fake"),
                        "choices": []
                        if fault == "nochoices"
                        else [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": text},
                            }
                        ],
                        "usage": {
                            "prompt_tokens": 100,
                            "completion_tokens": 99999 if fault == "huge" else 20,
                            "total_tokens": 120,
                        },
                    },
                )

            def _send(self, code, obj, headers=None):
                self._send_raw(code, json.dumps(obj).encode(), headers)

            def _send_raw(self, code, data, headers=None):
                try:
                    self.send_response(code)
                    if "content-type" not in (headers or {}):
                        self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def script(self, *faults: str) -> None:
        self.faults.extend(faults)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- what a server that enforces response_format sends (vLLM, Ollama, llama.cpp) ---------
    @staticmethod
    def as_format(text: str, fmt: dict) -> str:
        """The reply as one bare JSON object, as a server enforcing ``fmt`` returns it: no
        fence, no prose; a root array is wrapped under the schema's name; the schema's
        required keys are checked, so a request without the right schema fails loudly."""
        body = text[text.find("{") if text.lstrip().startswith(("H", "{")) else 0:]
        data = json.loads(body.strip().removeprefix("```json").removesuffix("```"))
        if fmt["type"] == "json_schema":
            spec = fmt["json_schema"]
            data = {spec["name"]: data} if isinstance(data, list) else data
            missing = set(spec["schema"].get("required", [])) - set(data)
            assert not missing, f"reply lacks {missing} of schema {spec['name']}"
        elif isinstance(data, list):
            data = {"items": data}
        return json.dumps(data)

    # -- what a cooperative model would answer ------------------------------------------------
    @staticmethod
    def reply(body: dict) -> str:
        user = body["messages"][-1]["content"]
        if "List the keywords of the question" in user:  # perturbation study, Appendix F
            q = re.search(r"Question: (.*)", user).group(1)
            passage = re.search(r"Passage: (.*?)\n\nList the keywords", user, re.S).group(1).lower()
            shared = [w for w in re.findall(r"\w+", q) if len(w) > 3 and w.lower() in passage]
            return json.dumps({"keywords": list(dict.fromkeys(shared))})
        if "give ONE replacement" in user:  # the reversed word: a stand-in that shares no word
            kws = json.loads(re.search(r"Keywords: (.*)", user).group(1))
            subs = {k: (None if k.lower().startswith("ultra") else k[::-1].lower()) for k in kws}
            return "Here you are:\n" + json.dumps({"substitutions": subs})
        doc = re.search(r"<<<\n(.*?)\n>>>", user, re.S).group(1)
        sents = [s.strip() for s in re.split(r"(?<=[.!?])\s+", doc) if len(s.split()) >= 4]
        if "List the events" in user:
            events = [{"event": f"Event about {' '.join(s.split()[:6])}", "topic": s.split()[0],
                       "original_context": [s], "type": "fine-grained"} for s in sents[:2]]
            return "```json\n" + json.dumps(events) + "\n```"  # fenced, as models often do
        n = int(re.search(r"write (\d+) different questions", user).group(1))
        listing = re.findall(r"^(\d+)\. Event about (.+?)(?: \(topic|$)", user, re.M)
        qs = [
            {"event": int(i), "question": f"What happened regarding {what.strip()} (variant {j})?"}
            for i, what in listing
            for j in range(n)
        ]
        return json.dumps({"questions": qs})
