"""A PRM from a short spec: "verifier", "judge", a checkpoint path, or a weighted mix of them.

load_prm("verifier")
load_prm("judge", engine=engine)                  # the policy engine grades its own steps
load_prm("/models/Llama3.1-8B-PRM-Deepseek-Data")  # "+/-" PRM (a *ForCausalLM checkpoint)
load_prm("/models/Qwen2.5-Math-PRM-7B", trust_remote_code=True)  # reward-head PRM
load_prm("verifier:0.7,judge:0.3", engine=engine)  # composite, weights normalised
"""

from __future__ import annotations

from pathlib import Path

from model.engine.types import ChatEngine
from model.reasoning.prm import CompositePRM, ProcessRewardModel

VERIFIER = "verifier"
JUDGE = "judge"


def parse_prm_spec(spec: str) -> list[tuple[str, float]]:
    """(name or path, weight) for each member; raises ValueError saying how to fix a bad spec.

    Cheap (nothing is loaded), so a CLI can reject a typo before it loads a model.
    """
    spec = spec.strip()
    if not spec:
        raise ValueError("the PRM spec is empty; use verifier, judge or a checkpoint path")
    if Path(spec).expanduser().exists():
        return [(spec, 1.0)]
    members = []
    for part in spec.split(","):
        name, weight = part.strip(), 1.0
        if "," in spec and ":" in name:
            name, _, weight_text = name.rpartition(":")
            try:
                weight = float(weight_text)
            except ValueError:
                raise ValueError(f"bad weight in PRM spec part {part!r}; write name:0.5") from None
        if name not in (VERIFIER, JUDGE) and not Path(name).expanduser().exists():
            raise ValueError(
                f"unknown PRM {name!r}: use verifier, judge, or the path of a PRM checkpoint "
                "directory (mix them as verifier:0.7,judge:0.3)"
            )
        members.append((name, weight))
    return members


def load_prm(
    spec: str,
    engine: ChatEngine | None = None,
    device: str = "cpu",
    trust_remote_code: bool = False,
) -> ProcessRewardModel:
    """Build the PRM `spec` names; raises ValueError with a fix when it cannot."""
    members = parse_prm_spec(spec)
    prms = [(_single(name, engine, device, trust_remote_code), w) for name, w in members]
    return prms[0][0] if len(prms) == 1 else CompositePRM(prms)


def _single(
    spec: str, engine: ChatEngine | None, device: str, trust_remote_code: bool
) -> ProcessRewardModel:
    if spec == VERIFIER:
        from model.reasoning.verifier_prm import VerifierPRM

        return VerifierPRM()
    if spec == JUDGE:
        if engine is None:
            raise ValueError("the judge PRM needs a chat engine to ask")
        from model.reasoning.judge_prm import JudgePRM

        return JudgePRM(engine)
    from model.reasoning.hf_prm import RewardHeadPRM, TokenProbPRM, read_architecture

    path = Path(spec).expanduser()
    architecture, _ = read_architecture(path)
    if architecture.endswith("ForCausalLM"):
        return TokenProbPRM(path, device=device)
    return RewardHeadPRM(path, device=device, trust_remote_code=trust_remote_code)
