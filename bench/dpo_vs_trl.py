"""Our DPO against trl's DPOTrainer: same tiny model, same preference pairs, same steps, batch and learning rate.

    python -m bench.dpo_vs_trl                      # 40 steps of batch 32, prints a table and one JSON line
    python -m bench.dpo_vs_trl --steps 5 --json     # a quick check

Both sides start from the same weights (a fresh GPT-2 of our `tiny` size, word-level tokenizer) and
train on the same pairs of reviews, chosen and rejected by the hidden rule of `algorithms.lm.reviews`.
Each side is timed from the call that trains to its return, so both pay for their reference model's
log-probabilities (ours computes them once up front, trl precomputes them too, with
`precompute_ref_log_probs=True`). trl's dataset tokenisation happens before its clock starts.
Both use AdamW, no weight decay, a constant learning rate after a short warm-up of ours (trl:
constant) and gradient clipping at 1.0. Reported: wall and CPU seconds per step (on a shared machine the CPU
seconds of the process are the steadier figure), the ratios trl / ours, and the final
DPO loss of each trained policy on all the pairs, computed the same way for both (the data order
differs, so the losses agree only roughly).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings

import numpy as np
import torch

BETA = 0.1


def preference_pairs(n: int, seed: int) -> list[tuple[str, str, str]]:
    """n (prompt, chosen, rejected): two reviews of the same subject, ordered by the hidden rule, ties skipped."""
    from algorithms.lm import reviews

    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        subject = str(rng.choice(reviews.SUBJECTS))
        a, b = (reviews.generate_review(rng, subject) for _ in range(2))
        verdict = reviews.prefer(a, b)
        if verdict:
            chosen, rejected = (a, b) if verdict > 0 else (b, a)
            out.append((subject, chosen[len(subject) + 1 :], rejected[len(subject) + 1 :]))
    return out


def fresh_model(seed: int):
    from algorithms.lm.model import build_model, build_tokenizer
    from algorithms.lm.pipeline import PRESETS

    torch.manual_seed(seed)
    tokenizer = build_tokenizer()
    return build_model(tokenizer, PRESETS["tiny"].size), tokenizer


def encode_pairs(data, tokenizer):
    from algorithms.lm.model import encode_completions, encode_prompts
    from algorithms.lm.preferences import Pairs

    length = max(len(text.split()) for _, c, r in data for text in (c, r))
    chosen, chosen_mask = encode_completions(tokenizer, [c for _, c, _ in data], length)
    rejected, rejected_mask = encode_completions(tokenizer, [r for _, _, r in data], length)
    return Pairs(encode_prompts(tokenizer, [p for p, _, _ in data]), chosen, chosen_mask, rejected, rejected_mask)


def run_ours(data, steps: int, batch: int, lr: float, seed: int) -> dict:
    from algorithms.lm.dpo import train_dpo
    from algorithms.lm.loop import TrainSettings

    policy, tokenizer = fresh_model(seed)
    reference, _ = fresh_model(seed)
    reference.requires_grad_(False)
    pairs = encode_pairs(data, tokenizer)
    torch.manual_seed(seed)
    start, cpu = time.perf_counter(), time.process_time()
    info = train_dpo(
        policy, reference, pairs, TrainSettings(epochs=1, batch_size=batch, lr=lr), beta=BETA, device="cpu"
    )
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    final = _final_loss(policy, reference, pairs)
    return {"seconds": seconds, "cpu_seconds": cpu, "steps": info["steps"], "final_loss": final}


@torch.no_grad()
def _final_loss(policy, reference, pairs) -> float:
    """DPO loss of the trained policy on every pair: the same measure for both sides."""
    from algorithms.lm.model import sequence_logprobs
    from algorithms.losses import dpo_loss

    def logps(model, completion, mask):
        return sequence_logprobs(model, pairs.prompt, completion, mask)

    return dpo_loss(
        logps(policy, pairs.chosen, pairs.chosen_mask),
        logps(policy, pairs.rejected, pairs.rejected_mask),
        logps(reference, pairs.chosen, pairs.chosen_mask),
        logps(reference, pairs.rejected, pairs.rejected_mask),
        BETA,
    ).item()


def run_trl(data, steps: int, batch: int, lr: float, seed: int) -> dict:
    import datasets
    from transformers import PrinterCallback
    from trl import DPOConfig, DPOTrainer

    datasets.disable_progress_bars()

    policy, tokenizer = fresh_model(seed)
    reference, _ = fresh_model(seed)
    dataset = datasets.Dataset.from_dict(
        {
            "prompt": [f"{tokenizer.bos_token} {p}" for p, _, _ in data],
            "chosen": [f" {c}" for _, c, _ in data],
            "rejected": [f" {r}" for _, _, r in data],
        }
    )
    with tempfile.TemporaryDirectory() as out:
        args = DPOConfig(
            output_dir=out,
            per_device_train_batch_size=batch,
            max_steps=steps,
            learning_rate=lr,
            lr_scheduler_type="constant",
            weight_decay=0.0,
            max_grad_norm=1.0,
            beta=BETA,
            precompute_ref_log_probs=True,
            bf16=False,
            use_cpu=True,
            report_to=[],
            logging_steps=steps,
            save_strategy="no",
            seed=seed,
            disable_tqdm=True,
            dataloader_num_workers=0,
        )
        trainer = DPOTrainer(
            model=policy, ref_model=reference, args=args, train_dataset=dataset, processing_class=tokenizer
        )
        trainer.remove_callback(PrinterCallback)  # no per-step log lines
        start, cpu = time.perf_counter(), time.process_time()
        trainer.train()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    pairs = encode_pairs(data, tokenizer)  # "<bos> prompt" + " completion" tokenise to the same ids as ours
    final = _final_loss(policy.eval(), reference, pairs)
    return {"seconds": seconds, "cpu_seconds": cpu, "steps": trainer.state.global_step, "final_loss": final}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--trl-first", action="store_true", help="run trl's side first")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")  # trl's progress bar while it precomputes reference log-probs
    torch.set_num_threads(args.threads)
    from algorithms.lm.model import quiet_transformers

    quiet_transformers()
    warnings.filterwarnings("ignore", category=FutureWarning)  # transformers 5 deprecations inside trl
    data = preference_pairs(args.steps * args.batch, args.seed)
    if args.trl_first:  # on a shared machine the load drifts: run both orders to see how much that moves the ratio
        trl = run_trl(data, args.steps, args.batch, args.lr, args.seed)
        ours = run_ours(data, args.steps, args.batch, args.lr, args.seed)
    else:
        ours = run_ours(data, args.steps, args.batch, args.lr, args.seed)
        trl = run_trl(data, args.steps, args.batch, args.lr, args.seed)
    per_step = {name: r["seconds"] / max(1, r["steps"]) for name, r in (("ours", ours), ("trl", trl))}
    cpu_per_step = {name: r["cpu_seconds"] / max(1, r["steps"]) for name, r in (("ours", ours), ("trl", trl))}
    result = {
        "steps": args.steps,
        "batch": args.batch,
        "threads": args.threads,
        "ours_seconds_per_step": round(per_step["ours"], 4),
        "trl_seconds_per_step": round(per_step["trl"], 4),
        "trl_over_ours": round(per_step["trl"] / per_step["ours"], 2),
        "ours_cpu_seconds_per_step": round(cpu_per_step["ours"], 4),
        "trl_cpu_seconds_per_step": round(cpu_per_step["trl"], 4),
        "trl_over_ours_cpu": round(cpu_per_step["trl"] / cpu_per_step["ours"], 2),
        "ours_final_loss": round(ours["final_loss"], 4),
        "trl_final_loss": round(trl["final_loss"], 4),
        "order": "trl first" if args.trl_first else "ours first",
        "ours_steps": ours["steps"],
        "trl_steps": trl["steps"],
    }
    print(f"{'':<6}{'s/step':>9}{'CPU s/step':>12}{'steps':>7}{'final loss':>12}")
    for name, r in (("ours", ours), ("trl", trl)):
        print(f"{name:<6}{per_step[name]:>9.4f}{cpu_per_step[name]:>12.4f}{r['steps']:>7}{r['final_loss']:>12.4f}")
    print(
        f"trl / ours: {result['trl_over_ours']}x wall time per step, {result['trl_over_ours_cpu']}x CPU time per step"
    )
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
