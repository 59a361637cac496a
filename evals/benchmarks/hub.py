"""Benchmark files from the Hugging Face hub: `--data hf://datasets/OWNER/NAME/PATH[@REVISION]`.

The file is downloaded once into the hub's own cache (huggingface_hub) and then read by the same
loader as a local file, so the published format is read unchanged and a rerun works offline.
"""

from __future__ import annotations

from pathlib import Path

HUB_FORM = "hf://datasets/OWNER/NAME/PATH/IN/REPO[@REVISION]"


def is_hub_spec(data: str | Path) -> bool:
    # A typer/pathlib Path folds "hf://" into "hf:/"; both mean the hub.
    return str(data).startswith("hf:/")


def parse_hub_spec(data: str | Path) -> tuple[str, str, str | None]:
    """(repo id, file path in the repo, revision or None)."""
    rest = str(data).removeprefix("hf:").lstrip("/")
    parts = rest.split("/")
    if len(parts) < 4 or parts[0] != "datasets" or not all(parts):
        raise ValueError(f"not a hub dataset file: {data!s}; expected {HUB_FORM}")
    filename, _, revision = "/".join(parts[3:]).partition("@")
    return f"{parts[1]}/{parts[2]}", filename, revision or None


def fetch_hub_file(data: str | Path) -> Path:
    """The local path of the hub file (downloaded on first use); a clear error when offline."""
    from huggingface_hub import hf_hub_download

    repo_id, filename, revision = parse_hub_spec(data)
    try:
        local = hf_hub_download(repo_id, filename, repo_type="dataset", revision=revision)
    except Exception as exc:  # offline, unknown repo or file, auth: all end the same way
        raise FileNotFoundError(
            f"could not get {filename} from the hub dataset {repo_id}"
            f"{f' at {revision}' if revision else ''} ({type(exc).__name__}: {exc}); "
            "pass a local --data PATH instead"
        ) from exc
    return Path(local)
