"""Settings -> a ready ChatEngine: the one place that knows which backend a setting picks.

The app, the CLI and the evals call `create_engine(settings)` and never import a backend, so a
stronger checkpoint or a GPU server is one setting away.
"""

from __future__ import annotations

from core.settings import EMBEDDED_MODEL, EngineBackend, Settings
from model.engine.types import ChatEngine, EngineError


def create_engine(settings: Settings) -> ChatEngine:
    """Build the engine the settings ask for (loading the model for in-process backends)."""
    if settings.backend is EngineBackend.OPENAI:
        return _openai_engine(settings)
    return _transformers_engine(settings)


def _transformers_engine(settings: Settings) -> ChatEngine:
    from model.engine.transformers_engine import TransformersEngine, TransformersEngineConfig

    try:
        config = TransformersEngineConfig(
            model=None if settings.model == EMBEDDED_MODEL else settings.model,
            cache_dir=settings.cache_dir,
            device=settings.device,
            dtype=settings.dtype,
            max_batch_size=settings.max_batch_size,
            # fp16 means "unquantized": the engine's own choice (auto).
            kv_cache="auto" if settings.kv_cache == "fp16" else settings.kv_cache,
            kv_block_size=settings.kv_block_size,
            kv_residual_tokens=settings.kv_residual_tokens,
            kv_sink_tokens=settings.kv_sink_tokens,
            decode_weights=settings.decode_weights,
            prefix_cache_mb=settings.prefix_cache_mb,
        )
    except ValueError as exc:
        raise EngineError(f"bad engine setting: {exc}") from None
    return TransformersEngine(config)


def _openai_engine(settings: Settings) -> ChatEngine:
    from model.engine.openai_engine import OpenAIEngine, OpenAIEngineConfig

    api_key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    try:
        config = OpenAIEngineConfig(
            base_url=settings.openai_base_url,
            api_key=api_key,
            model=settings.openai_model or "",
            timeout_s=settings.request_timeout_s,
        )
    except ValueError as exc:
        raise EngineError(f"bad openai setting (HUIJIN_OPENAI_*): {exc}") from None
    return OpenAIEngine(config)
