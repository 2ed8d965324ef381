"""Command line of the RLHF pipeline.

python -m algorithms.lm run --preset tiny --json       the whole chain; last line: one JSON object
python -m algorithms.lm train --stage ppo --beta 0     one stage (as a live run does), SFT etc. cached
python -m algorithms.lm grpo --preset tiny --json      GRPO against a verifiable reward; last line: one JSON object
python -m algorithms.lm dpo --base-model ID --dataset pairs.jsonl [--lora 16]   DPO on your own model and data
python -m algorithms.lm sample --model PATH --prompt "the film"   sample from any saved causal LM
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from algorithms.contract import add_config_arguments


def _printer():
    last = [0.0]

    def show(m: dict) -> None:
        now = time.perf_counter()
        if now - last[0] >= 2.0 or m.get("progress", 0) >= 1.0:
            last[0] = now
            stage = next((k.split("/")[1] for k in m if k.startswith("stages/")), "")
            shown = {k.split("/")[-1]: round(v, 3) for k, v in m.items() if "/" in k and not k.startswith("stages/")}
            print(f"[{m.get('progress', 0):6.1%}] {stage:<13} {shown}", flush=True)

    return show


def main(argv: Sequence[str] | None = None) -> int:
    from algorithms.lm.grpo import GRPOConfig
    from algorithms.lm.pipeline import PRESETS, RLHFConfig, run_chain, train

    parser = argparse.ArgumentParser(prog="python -m algorithms.lm", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="SFT, preferences, reward model, DPO, KTO, PPO and PPO without KL")
    run.add_argument("--preset", default="auto", choices=["auto", *PRESETS])
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--device", default="auto")
    run.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores if the machine is idle, else 1)")
    run.add_argument("--cache-dir", default=None, help="keep the SFT model, data and reward model here for reuse")
    run.add_argument("--json", action="store_true", help="print one JSON object of results, last")
    stage = commands.add_parser("train", help="one stage, as the live-runs manager runs it")
    add_config_arguments(stage, RLHFConfig)
    stage.add_argument("--json", action="store_true")
    grpo = commands.add_parser(
        "grpo", help="GRPO from the SFT model against a verifiable reward (a fresh SFT model unless --cache-dir)"
    )
    add_config_arguments(grpo, GRPOConfig)
    grpo.add_argument("--json", action="store_true", help="print one JSON object of results, last")
    dpo = commands.add_parser("dpo", help="DPO on any causal LM and trl-format preference data")
    dpo.add_argument("--base-model", required=True, help="a Hugging Face causal LM: a folder, or a hub id (downloaded)")
    dpo.add_argument("--dataset", required=True, help="prompt/chosen/rejected rows: a JSONL file or a hub id")
    dpo.add_argument("--lora", type=int, default=0, help="LoRA rank (0: train all weights)")
    dpo.add_argument("--beta", type=float, default=0.1)
    dpo.add_argument("--epochs", type=int, default=1)
    dpo.add_argument("--batch-size", type=int, default=8)
    dpo.add_argument("--lr", type=float, default=1e-5)
    dpo.add_argument("--max-completion", type=int, default=256, help="completion tokens kept, <eos> included")
    dpo.add_argument("--device", default="auto")
    dpo.add_argument("--seed", type=int, default=0)
    dpo.add_argument("--output-dir", default="", help="save the trained model here (LoRA adapters merged)")
    dpo.add_argument("--json", action="store_true")
    sample = commands.add_parser("sample", help="sample completions from a saved model (a folder or hub id)")
    sample.add_argument("--model", required=True)
    sample.add_argument("--prompt", default="the film")
    sample.add_argument("-n", type=int, default=5)
    sample.add_argument("--max-new-tokens", type=int, default=28)
    args = parser.parse_args(argv)

    if args.command == "run":
        cache = args.cache_dir
        if cache is None:
            import tempfile

            cache = tempfile.mkdtemp(prefix="rldojo-lm-")  # a fresh chain: train everything, measure everything
        result = run_chain(args.preset, args.seed, args.device, cache, on_update=_printer(), threads=args.threads)
        _summary(result)
        if args.json:
            print(json.dumps(_without_samples(result)))
        return 0
    if args.command == "train":
        values = vars(args)
        as_json = values.pop("json")
        values.pop("command")
        result = train(RLHFConfig(**values), on_update=_printer())
        print(f"{values['stage']}: {result.metrics}")
        if as_json:
            print(json.dumps(result.metrics))
        return 0
    if args.command == "grpo":
        return _grpo(args)
    if args.command == "dpo":
        return _dpo(args)
    return _sample(args)


def _grpo(args) -> int:
    import tempfile

    from algorithms.lm.grpo import GRPOConfig, run_grpo

    values = vars(args)
    as_json = values.pop("json")
    values.pop("command")
    if not values["cache_dir"]:
        values["cache_dir"] = tempfile.mkdtemp(prefix="rldojo-grpo-")  # a fresh SFT model: time the whole thing
    result = run_grpo(GRPOConfig(**values), on_update=_printer())
    result.pop("_policy")
    print(
        f"\npreset {result['preset']} on {result['device']}, {result['threads']} thread(s): "
        f"{result['seconds']} s in all (GRPO {result['grpo_seconds']} s)"
    )
    print(f"accuracy {result['accuracy_before']:.3f} -> {result['accuracy_after']:.3f}, KL {result['kl']:.2f} nats")
    print(f"mean length {result['mean_length_before']:.1f} -> {result['mean_length_after']:.1f} tokens")
    for text in result["samples_after"]:
        print(f"  {text}")
    if as_json:
        print(json.dumps(result))
    return 0


def _dpo(args) -> int:
    import torch

    from algorithms.contract import pick_device
    from algorithms.lm import hf
    from algorithms.lm.model import save

    start = time.perf_counter()
    device = pick_device(args.device)
    torch.manual_seed(args.seed)  # LoRA's initial adapters are random
    try:
        policy, reference, tokenizer = hf.load_base(args.base_model, device, args.lora)
        records = hf.read_records(args.dataset)
        if hf.detect_format(records, args.dataset) != "preference":
            raise ValueError(f"DPO needs prompt/chosen/rejected rows; {args.dataset!r} has {sorted(records[0])}")
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    buckets = hf.preference_buckets(tokenizer, records, args.max_completion, device)
    loss_before, accuracy_before = hf.preference_accuracy(policy, reference, buckets, args.beta)
    info = hf.train_dpo_buckets(
        policy, reference, buckets, beta=args.beta, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        device=device, seed=args.seed,
    )  # fmt: skip
    loss_after, accuracy_after = hf.preference_accuracy(policy, reference, buckets, args.beta)
    result = {
        "base_model": args.base_model,
        "dataset": args.dataset,
        "lora": args.lora,
        "pairs": len(records),
        "steps": info["steps"],
        "loss_before": round(loss_before, 4),
        "loss_after": round(loss_after, 4),
        "preference_accuracy_before": round(accuracy_before, 4),
        "preference_accuracy_after": round(accuracy_after, 4),
        "seconds": round(time.perf_counter() - start, 1),
    }
    if args.output_dir:
        save(hf.merged(policy), tokenizer, args.output_dir)
    print(f"DPO loss {loss_before:.4f} -> {loss_after:.4f}")
    print(f"preference accuracy {accuracy_before:.3f} -> {accuracy_after:.3f}")
    if args.json:
        print(json.dumps(result))
    return 0


def _sample(args) -> int:
    import torch

    from algorithms.lm import reviews
    from algorithms.lm.model import load_policy

    try:
        model, tokenizer = load_policy(args.model)
    except (OSError, ValueError) as exc:
        print(f"could not load a causal LM from {args.model!r}: {exc}", file=sys.stderr)
        return 2
    ids = tokenizer([args.prompt] * args.n, return_tensors="pt").input_ids
    if tokenizer.bos_token_id is not None and (ids[:, 0] != tokenizer.bos_token_id).all():
        ids = torch.cat([torch.full((args.n, 1), tokenizer.bos_token_id), ids], dim=1)
    with torch.no_grad():
        out = model.generate(
            ids, do_sample=True, max_new_tokens=args.max_new_tokens, pad_token_id=tokenizer.pad_token_id
        )
    for row in out:
        text = tokenizer.decode(row, skip_special_tokens=False).replace(tokenizer.bos_token or "\0", "")
        text = text.replace(tokenizer.pad_token, "").strip()
        print(f"{reviews.hidden_score(text):+.0f}  {text}")
    return 0


def _without_samples(result: dict) -> dict:
    return {
        k: ({kk: vv for kk, vv in v.items() if kk != "samples"} if isinstance(v, dict) else v)
        for k, v in result.items()
    }


def _summary(result: dict) -> None:
    where = f"{result['device']}, {result['threads']} thread(s)"
    print(f"\npreset {result['preset']} on {where}: {result['seconds']} s in all")
    print(f"reward model held-out pair accuracy {result['reward_model']['test_accuracy']:.3f}")
    print(f"{'':<10}{'RM score':>9}{'hidden':>8}{'win vs SFT':>11}{'KL':>8}{'formed':>8}{'ended':>7}{'s':>7}")
    for name in ("sft", "dpo", "kto", "ppo", "ppo_no_kl"):
        r = result.get(name)
        if r:
            print(
                f"{name:<10}{r['reward_model_score']:>9.2f}{r['hidden_score']:>8.2f}{r['win_rate_vs_sft']:>11.2f}"
                f"{r['kl']:>8.2f}{r['well_formed']:>8.2f}{r['ended']:>7.2f}{r.get('seconds', 0):>7.0f}"
            )
    for name in ("sft", "ppo", "ppo_no_kl"):
        if name in result and result[name].get("samples"):
            print(f"\n{name}: " + "\n      ".join(s["policy"] for s in result[name]["samples"][:3]))


if __name__ == "__main__":
    raise SystemExit(main())
