"""A client that hangs up mid-stream must stop the generation, not leave it running to the end.

The engine is the real embedded one; `StreamWatch` only delegates to it and records whether its
stream was closed before it finished (there is no other way to see inside the server).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest

from model.engine.types import ChatEngine, SamplingParams, StreamEvent
from model.serving.background import BackgroundServer
from model.serving.openai_server import create_app

MAX_TOKENS = 200


class StreamWatch:
    """The real engine, plus a record of how each stream ended."""

    def __init__(self, engine: ChatEngine) -> None:
        self._engine = engine
        self.closed = threading.Event()
        self.num_events = 0
        self.is_finished = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def stream_chat(
        self,
        messages: Sequence[dict[str, Any]],
        tools: Sequence[dict[str, Any]] | None = None,
        params: SamplingParams | None = None,
    ) -> Iterator[StreamEvent]:
        try:
            for event in self._engine.stream_chat(messages, tools, params):
                self.num_events += 1
                self.is_finished = event.result is not None
                yield event
        finally:
            self.closed.set()


def test_client_disconnect_stops_the_stream(embedded_engine: ChatEngine):
    watch = StreamWatch(embedded_engine)
    body = {
        "messages": [{"role": "user", "content": "Count from 1 to 200, separated by commas."}],
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
        "stream": True,
    }
    with BackgroundServer(create_app(watch)) as server, httpx.Client(timeout=60) as client:
        with client.stream("POST", f"{server.base_url}/v1/chat/completions", json=body) as stream:
            lines = stream.iter_lines()
            received = [next(lines) for _ in range(6)]  # a few chunks, then hang up
        assert all(line == "" or line.startswith("data: ") for line in received)
        assert watch.closed.wait(timeout=30), "the engine's stream was never closed"
        if watch.is_finished:
            pytest.skip("the model finished before the disconnect could be seen")
        assert watch.num_events < MAX_TOKENS
        # The server is still healthy afterwards.
        assert client.get(f"{server.base_url}/health").status_code == 200
