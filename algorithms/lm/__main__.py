"""Command line of the RLHF pipeline.

python -m algorithms.lm run --preset tiny --json       the whole chain; last line: one JSON object
python -m algorithms.lm train --stage ppo --beta 0     one stage (as a live run does), SFT etc. cached
python -m algorithms.lm grpo --preset tiny --json      GRPO against a verifiable reward; last line: one JSON object
python -m algorithms.lm dpo --base-model ID --dataset pairs.jsonl [--lora 16]   DPO on your own model and data
python -m algorithms.lm sft|kto --base-model ID --dataset rows.jsonl [--lora 16]  SFT or KTO, the same way
python -m algorithms.lm ppo --base-model ID --reward-model RM --dataset prompts.jsonl   PPO with a KL penalty
    [--ptx-coef 1 --ptx-dataset texts.jsonl]                     plus InstructGPT's pretraining mix (PPO-ptx)
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
    for name, what in OFFLINE_STAGES.items():
        stage_parser = commands.add_parser(name, help=f"{what} on any causal LM and trl-format data")
        stage_parser.add_argument(
            "--base-model", required=True, help="a Hugging Face causal LM: a folder, or a hub id (downloaded)"
        )
        stage_parser.add_argument("--dataset", required=True, help=f"{DATA_HELP[name]}: a JSONL file or a hub id")
        stage_parser.add_argument("--lora", type=int, default=0, help="LoRA rank (0: train all weights)")
        if name != "sft":
            stage_parser.add_argument("--beta", type=float, default=0.1)
        stage_parser.add_argument("--epochs", type=int, default=1)
        stage_parser.add_argument("--batch-size", type=int, default=8)
        stage_parser.add_argument("--lr", type=float, default=2e-5 if name == "sft" else 1e-5)
        stage_parser.add_argument(
            "--max-completion",
            type=int,
            default=256,
            help="completion tokens kept, <eos> included (SFT: the whole row)",
        )
        stage_parser.add_argument("--device", default="auto")
        stage_parser.add_argument("--seed", type=int, default=0)
        stage_parser.add_argument("--output-dir", default="", help="save the trained model here (LoRA adapters merged)")
        stage_parser.add_argument("--json", action="store_true")
    ppo = commands.add_parser("ppo", help="PPO with a KL penalty on any causal LM, its prompts and a reward model")
    ppo.add_argument("--base-model", required=True, help="a Hugging Face causal LM: a folder, or a hub id (downloaded)")
    ppo.add_argument("--reward-model", required=True, help="a sequence classifier with one output, same tokenizer")
    ppo.add_argument("--dataset", required=True, help="rows with a prompt: a JSONL file or a hub id")
    ppo.add_argument("--lora", type=int, default=0, help="LoRA rank (0: train all weights)")
    ppo.add_argument("--beta", type=float, default=0.05, help="KL penalty coefficient")
    ppo.add_argument("--iterations", type=int, default=60)
    ppo.add_argument("--batch-size", type=int, default=64, help="completions sampled per iteration")
    ppo.add_argument("--minibatch-size", type=int, default=32)
    ppo.add_argument("--lr", type=float, default=1e-5)
    ppo.add_argument("--max-new-tokens", type=int, default=64)
    ppo.add_argument("--n-eval", type=int, default=64, help="prompts sampled to measure reward and KL before and after")
    ppo.add_argument(
        "--ptx-coef", type=float, default=0.0, help="PPO-ptx's gamma: weight of --ptx-dataset's log-likelihood (0: off)"
    )
    ppo.add_argument(
        "--ptx-dataset",
        default="",
        help="PPO-ptx's pretraining text (a checkpoint holds none): text, messages or prompt/completion rows",
    )
    ppo.add_argument("--device", default="auto")
    ppo.add_argument("--seed", type=int, default=0)
    ppo.add_argument("--output-dir", default="", help="save the trained model here (LoRA adapters merged)")
    ppo.add_argument("--json", action="store_true")
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
    if args.command in OFFLINE_STAGES:
        return _offline(args)
    if args.command == "ppo":
        return _ppo(args)
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


OFFLINE_STAGES = {"sft": "supervised fine-tuning", "dpo": "DPO", "kto": "KTO"}
DATA_HELP = {
    "sft": "text, messages or prompt/completion rows",
    "dpo": "prompt/chosen/rejected rows",
    "kto": "prompt/completion/label rows",
}
NEEDS = {"sft": ("language-modeling", "conversational", "prompt-completion"), "dpo": ("preference",)}
NEEDS["kto"] = ("unpaired-preference",)


def _offline(args) -> int:
    """SFT, DPO or KTO on your own model and data: the stage's metric before and after, one JSON object last."""
    import torch

    from algorithms.contract import pick_device
    from algorithms.lm import hf
    from algorithms.lm.dpo import train_dpo, train_kto
    from algorithms.lm.loop import TrainSettings
    from algorithms.lm.model import save
    from algorithms.lm.sft import train_sft_tokens

    start = time.perf_counter()
    device = pick_device(args.device)
    torch.manual_seed(args.seed)  # LoRA's initial adapters are random
    try:
        policy, reference, tokenizer = hf.load_base(args.base_model, device, args.lora)
        records = hf.read_records(args.dataset)
        fmt = hf.detect_format(records, args.dataset)
        if fmt not in NEEDS[args.command]:
            raise ValueError(
                f"{args.command.upper()} needs {DATA_HELP[args.command]}; {args.dataset!r} is in the {fmt} format"
                f" (columns {sorted(records[0])})"
            )
        if args.command == "sft":
            ids, mask, weights = hf.sft_rows(tokenizer, records, args.max_completion)
        elif args.command == "dpo":
            data = hf.preference_buckets(tokenizer, records, args.max_completion, device)
        else:
            data = hf.unpaired_buckets(tokenizer, records, args.max_completion, device)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    batch_size = (
        min(args.batch_size, len(records)) if args.command == "sft" else args.batch_size
    )  # SFT drops a short last batch
    settings = TrainSettings(epochs=args.epochs, batch_size=batch_size, lr=args.lr)
    torch.manual_seed(args.seed)  # the order of the batches
    result: dict = {"stage": args.command, "base_model": args.base_model, "dataset": args.dataset, "lora": args.lora}
    result["rows"] = len(records)
    if args.command == "sft":
        before = _sft_loss(policy, ids, mask, weights, device)
        info = train_sft_tokens(policy, ids, mask, settings, device=device, weights=weights, valid_fraction=0.0)
        result.update(loss_before=before, loss_after=_sft_loss(policy, ids, mask, weights, device))
        print(f"SFT loss {before:.4f} -> {result['loss_after']:.4f} nats per counted token")
    elif args.command == "dpo":
        loss_before, accuracy_before = hf.preference_accuracy(policy, reference, data, args.beta)
        info = train_dpo(policy, reference, data, settings, beta=args.beta, device=device)
        loss_after, accuracy_after = hf.preference_accuracy(policy, reference, data, args.beta)
        result.update(
            pairs=len(records),
            loss_before=round(loss_before, 4),
            loss_after=round(loss_after, 4),
            preference_accuracy_before=round(accuracy_before, 4),
            preference_accuracy_after=round(accuracy_after, 4),
        )
        print(f"DPO loss {loss_before:.4f} -> {loss_after:.4f}")
        print(f"preference accuracy {accuracy_before:.3f} -> {accuracy_after:.3f}")
    else:
        before = hf.label_accuracy(policy, reference, data)
        info = train_kto(policy, reference, data, settings, beta=args.beta, device=device)
        result.update(
            label_accuracy_before=round(before, 4),
            label_accuracy_after=round(hf.label_accuracy(policy, reference, data), 4),
        )
        print(
            f"KTO: share of rows whose implicit reward has their label's sign {before:.3f}"
            f" -> {result['label_accuracy_after']:.3f}"
        )
    result.update(steps=info["steps"], final_loss=round(info.get("final_loss", info.get("train_loss", 0.0)), 4))
    result["seconds"] = round(time.perf_counter() - start, 1)
    if args.output_dir:
        save(hf.merged(policy), tokenizer, args.output_dir)
    if args.json:
        print(json.dumps(result))
    return 0


def _ppo(args) -> int:
    """PPO on your own model, prompts and reward model: reward and KL before and after, one JSON object last."""
    import torch

    from algorithms.contract import pick_device
    from algorithms.lm import hf
    from algorithms.lm.model import save
    from algorithms.lm.ppo import LMPPOSettings, PretrainText, train_ppo

    start = time.perf_counter()
    device = pick_device(args.device)
    torch.manual_seed(args.seed)  # LoRA's initial adapters are random
    try:
        _check_ptx_flags(args)
        policy, reference, tokenizer = hf.load_base(args.base_model, device, args.lora)
        reward_model, normaliser = hf.load_reward(args.reward_model, device)
        records = hf.read_records(args.dataset)
        if "prompt" not in records[0]:
            raise ValueError(f"PPO needs rows with a prompt; {args.dataset!r} has {sorted(records[0])}")
        prompts = hf.prompt_ids(tokenizer, records)
        pretrain = None
        if args.ptx_coef:
            ptx_records = hf.read_records(args.ptx_dataset)
            fmt = hf.detect_format(ptx_records, args.ptx_dataset)
            if fmt not in NEEDS["sft"]:
                raise ValueError(
                    f"--ptx-dataset needs {DATA_HELP['sft']}; {args.ptx_dataset!r} is in the {fmt} format"
                    f" (columns {sorted(ptx_records[0])})"
                )
            ids, _, weights = hf.sft_rows(tokenizer, ptx_records, PTX_MAX_LENGTH)
            pretrain = PretrainText(ids, weights)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    settings = LMPPOSettings(
        iterations=args.iterations,
        batch_size=args.batch_size,
        minibatch_size=min(args.minibatch_size, args.batch_size),
        lr=args.lr,
        beta=args.beta,
        max_new_tokens=args.max_new_tokens,
        ptx_coef=args.ptx_coef,
    )
    eval_prompts = prompts[: args.n_eval]

    def measure() -> dict:
        torch.manual_seed(args.seed + 1)  # the same sampling noise before and after
        args_ = (policy, reference, reward_model, normaliser, tokenizer, eval_prompts, args.max_new_tokens, device)
        return hf.reward_evaluation(*args_)

    before = measure()
    info = train_ppo(
        policy, reference, reward_model, normaliser, tokenizer, settings, device=device, seed=args.seed,
        on_update=_printer(), prompts=prompts, pretrain=pretrain,
    )  # fmt: skip
    after = measure()
    result = {
        "stage": "ppo",
        "base_model": args.base_model,
        "reward_model": args.reward_model,
        "dataset": args.dataset,
        "lora": args.lora,
        "rows": len(records),
        "iterations": info["iterations"],
        "reward_before": before["reward"],
        "reward_after": after["reward"],
        "kl": after["kl"],
        "mean_length_before": before["mean_length"],
        "mean_length_after": after["mean_length"],
        "seconds": round(time.perf_counter() - start, 1),
    }
    if args.ptx_coef:
        result.update(ptx_coef=args.ptx_coef, ptx_dataset=args.ptx_dataset, ptx_rows=len(ptx_records))
    if args.output_dir:
        save(hf.merged(policy), tokenizer, args.output_dir)
    print(f"reward {before['reward']:.3f} -> {after['reward']:.3f}, KL {after['kl']:.2f} nats")
    if args.json:
        print(json.dumps(result))
    return 0


PTX_MAX_LENGTH = 256
"""Tokens kept of each row of --ptx-dataset."""


def _check_ptx_flags(args) -> None:
    """PPO-ptx needs pretraining text, and a checkpoint carries none: --ptx-coef > 0 needs --ptx-dataset."""
    if args.ptx_coef < 0:
        raise ValueError(f"--ptx-coef must be 0 (off) or positive, got {args.ptx_coef}")
    if args.ptx_coef and not args.ptx_dataset:
        raise ValueError(
            "--ptx-coef needs --ptx-dataset: PPO-ptx keeps the likelihood of pretraining text, and a model"
            " checkpoint holds none; give text rows (for example a sample of the data the model was trained on)"
        )
    if args.ptx_dataset and not args.ptx_coef:
        raise ValueError("--ptx-dataset is used only with --ptx-coef > 0 (PPO-ptx's gamma)")


def _sft_loss(model, ids, mask, weights, device: str) -> float:
    import torch

    from algorithms.lm.sft import sft_loss

    with torch.no_grad():
        return round(float(sft_loss(model, ids.to(device), weights.to(device))), 4)


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
