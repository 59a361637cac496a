"""Agentic RL from logged trajectories (the QianfanHuijin agentic-RL stage, at our scale).

samples.py (turns -> sequences with a completion mask) · dataset.py (a run -> checked, rewarded
sequences) · rewards.py · objective.py (GRPO advantages, clipped loss, KL, SFT loss) · forward.py
(tensors, completion-only logits) · policy.py (LoRA via peft, save as an HF checkpoint) ·
trainer.py (the accelerate loop) · checkpoint.py (resume) · metrics.py (JSONL, plots) · loop.py
(collect -> train -> evaluate -> keep the best) · api.py (what the CLI and benchmarks call).
"""
