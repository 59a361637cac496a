"""An OpenAI-compatible HTTP API over any ChatEngine (`huijin serve`).

Any OpenAI client (the `openai` package, LangChain, our own OpenAIEngine) can then use the embedded
model as if it were a hosted API. Engine calls block, so each runs in a worker thread: the event
loop stays free, and concurrent requests reach the engine at the same time, where it batches them.
"""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from model.engine.types import ChatEngine
from model.serving.openai_errors import install_error_handlers
from model.serving.openai_responses import TokenText, token_id_text
from model.serving.openai_routes import OpenAIRoutes

DEFAULT_MAX_TOKENS = 512


def engine_token_text(engine: ChatEngine) -> TokenText:
    """How to spell a token id in logprobs: the engine's own detokenizer when it has one.

    `detokenize` (TransformersEngine) is preferred over the raw tokenizer because it serialises
    access to the Rust tokenizer across request threads. Without either, tokens are spelled
    "token_id:N" (vLLM's convention), which clients such as our OpenAIEngine read back as ids.
    """
    detokenize = getattr(engine, "detokenize", None)
    if callable(detokenize):
        return lambda token_id: str(detokenize([token_id]))
    tokenizer = getattr(engine, "tokenizer", None)
    if tokenizer is not None and callable(getattr(tokenizer, "decode", None)):
        return lambda token_id: str(tokenizer.decode([token_id]))
    return token_id_text


def create_app(
    engine: ChatEngine,
    *,
    served_model_name: str | None = None,
    default_max_tokens: int = DEFAULT_MAX_TOKENS,
    token_text: TokenText | None = None,
) -> FastAPI:
    """Build the FastAPI app serving `engine` under OpenAI's routes.

    `served_model_name` is the id clients pass as `model` (default: the engine's model id; the
    engine's own id is accepted too, and an omitted `model` means the served one). `token_text`
    spells token ids in logprobs (default: the engine's tokenizer, if it has one). The app never
    closes the engine: whoever created it owns it.
    """
    if default_max_tokens < 1:
        raise ValueError("default_max_tokens must be at least 1")
    routes = OpenAIRoutes(
        engine,
        model_name=served_model_name or engine.model_id,
        default_max_tokens=default_max_tokens,
        token_text=token_text or engine_token_text(engine),
    )
    app = FastAPI(title="huijin OpenAI-compatible API", version="1")
    install_error_handlers(app)
    app.add_api_route("/health", routes.health, methods=["GET"])
    app.add_api_route("/v1/models", routes.list_models, methods=["GET"])
    app.add_api_route("/v1/models/{name:path}", routes.get_model, methods=["GET"])
    app.add_api_route(
        "/v1/chat/completions", routes.chat_completions, methods=["POST"], response_model=None
    )
    app.add_api_route("/v1/completions", routes.completions, methods=["POST"], response_model=None)
    return app


def serve(
    engine: ChatEngine,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    served_model_name: str | None = None,
    default_max_tokens: int = DEFAULT_MAX_TOKENS,
    log_level: str = "info",
) -> None:
    """Serve `engine` until interrupted (Ctrl-C). Binds to localhost by default: there is no auth."""
    app = create_app(
        engine, served_model_name=served_model_name, default_max_tokens=default_max_tokens
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level.lower())
