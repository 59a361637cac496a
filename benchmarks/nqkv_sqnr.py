"""SQNR of NQKV variants and peers on a real model's K/V, with bytes per element.

Cheap companion of nqkv_quality.py: it quantizes the unquantized K/V of a real text once per
method, so the whole table takes about a minute. Writes benchmarks/results/nqkv_sqnr_<model>.json
and .md.

    python benchmarks/nqkv_sqnr.py --model smollm2 --num-tokens 512
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from model.nqkv.analyze import kv_of_text
from model.nqkv.bench import NQKV_VARIANTS, sqnr_db
from model.nqkv.config import NQKVConfig
from model.nqkv.corpus import load_texts
from model.nqkv.models import load_bench_model
from model.nqkv.peers import PEERS

EXTRA_VARIANTS = {
    "nqkv_b32": {"block_size": 32},
    "nqkv_kc_c_blk": {
        "key_axis": "tokens",
        "block_size": 32,
        "center_keys": True,
        "center_values": True,
        "codebook": "nf_block",
    },
}


def measure(model_name: str, num_tokens: int, data_dir: Path) -> list[dict[str, object]]:
    model, tokenizer, _ = load_bench_model(model_name)
    texts, _ = load_texts(data_dir, tokenizer, num_tokens, 8)
    layers = kv_of_text(model, texts["finqa"])
    rows = []
    for bits in (2, 3, 4):
        specs = {}
        for name, overrides in {**NQKV_VARIANTS, **EXTRA_VARIANTS}.items():
            config = NQKVConfig(bits=bits, **overrides)
            specs[name] = (config.key_spec(), config.value_spec())
        for name, peer in PEERS.items():
            specs[name] = peer.specs(bits, 64)
        for name, (key_spec, value_spec) in specs.items():
            rows.append(
                {
                    "method": name,
                    "bits": bits,
                    "sqnr_k_db": round(sqnr_db(layers, key_spec, 0), 2),
                    "sqnr_v_db": round(sqnr_db(layers, value_spec, 1), 2),
                    "bytes_per_element": round(
                        (key_spec.bytes_per_element() + value_spec.bytes_per_element()) / 2, 4
                    ),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--num-tokens", type=int, default=512)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("HUIJIN_BENCHMARKS_DIR", "../shared/data/benchmarks")),
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    rows = measure(args.model, args.num_tokens, args.data_dir)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"nqkv_sqnr_{args.model}"
    payload = {"model": args.model, "num_tokens": args.num_tokens, "text": "finqa", "rows": rows}
    stem.with_suffix(".json").write_text(json.dumps(payload, indent=2))
    lines = [
        f"SQNR (dB, mean over layers) of {args.model}'s K/V on {args.num_tokens} FinQA tokens; "
        "bytes/elem counts codes + fp16 scale (and offset) shares (fp16 = 2). "
        f"Made by `python benchmarks/nqkv_sqnr.py --model {args.model} "
        f"--num-tokens {args.num_tokens}`.",
        "",
        "| method | bits | SQNR K | SQNR V | bytes/elem |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['method']} | {r['bits']} | {r['sqnr_k_db']} | {r['sqnr_v_db']} | "
        f"{r['bytes_per_element']} |"
        for r in rows
    ]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
