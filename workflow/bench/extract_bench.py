"""Extraction benchmark: the feature runner against per-stimulus loops, same model, same run.

A LLaVA-1.5 model (the real architecture with random weights, built from its
config without any download; ``--size 7b`` the 7B configuration, ``--size tiny``
a CPU-sized one) extracts features of synthetic images through the real code
path (``brainalign.features.extract_features``) in ``prompt`` and ``response``
mode. Baselines, measured in the same process on the same model: a plain loop at
batch size 1 with one forward pass per stimulus (prompt mode) and per-stimulus
``generate`` at batch size 1 with hidden states (response mode).

Reports stimuli/s, tokens/s (prompt + answer tokens the features cover), model
TFLOP/s (2 x weights per token through the language model and the vision tower,
attention scores not counted) and its fraction of the device's matmul peak
(measured here with a large ``torch.matmul`` loop), and peak GPU memory. Ratios
are runner / baseline. Writes a JSON report and prints a Markdown table.

    python workflow/bench/extract_bench.py --size 7b --device cuda
    python workflow/bench/extract_bench.py --size tiny --device cpu
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml
from PIL import Image

from brainalign.features import loading, runner
from brainalign.features.cache import package_versions
from brainalign.features.inputs import load_image
from brainalign.features.local_processors import LLAVA_TEMPLATE, token_ids
from brainalign.features.mllm import render_prompt
from brainalign.features.registry import load_instructions
from brainalign.features.resources import resolve_device, resolve_dtype
from brainalign.stores import json_attr, read_store

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
INSTRUCTION = "IC"


# LLaVA-1.5-7B (CLIP ViT-L/14-336 + Vicuna-7B) and a CPU-sized model of the same architecture
SIZES = {
    "7b": {"vision": dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                          num_attention_heads=16, image_size=336, patch_size=14, projection_dim=768),
           "text": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                        num_attention_heads=32, num_key_value_heads=32, vocab_size=32064,
                        max_position_embeddings=4096),
           "dtype": "auto"},
    "tiny": {"vision": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=4, image_size=32, patch_size=8, projection_dim=32),
             "text": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                          num_attention_heads=4, num_key_value_heads=2, vocab_size=384,
                          max_position_embeddings=2048, initializer_range=0.5),
             "dtype": "float32"},
}


def llava_entry(size: str) -> dict[str, Any]:
    """A LLaVA-1.5 model of ``size`` (:data:`SIZES`) with random weights; local processor."""
    tok = {"factory": "brainalign.features.local_processors:byte_tokenizer",
           "cls": "LlamaTokenizerFast", "specials": ["<image>"], "add_bos": True}
    ids = token_ids(("<image>",))
    dims = SIZES[size]
    patch, image_size = dims["vision"]["patch_size"], dims["vision"]["image_size"]
    return {
        "family": "mllm_image", "input": "image", "instruction_set": "image", "init": "random",
        "seed": 0, "dtype": dims["dtype"], "layers": "all", "pooling": "mean",
        "model_class": "LlavaForConditionalGeneration",
        "config": {
            "model_type": "llava", "image_token_index": ids["<image>"], "vision_feature_layer": -2,
            "vision_feature_select_strategy": "default", "projector_hidden_act": "gelu",
            "vision_config": {"model_type": "clip_vision_model", **dims["vision"]},
            "text_config": {"model_type": "llama", **dims["text"], "pad_token_id": ids["<pad>"],
                            "bos_token_id": ids["<s>"], "eos_token_id": ids["</s>"]},
        },
        "processor": {"class": "LlavaProcessor", "patch_size": patch,
                      "num_additional_image_tokens": 1,
                      "vision_feature_select_strategy": "default", "chat_template": LLAVA_TEMPLATE,
                      "image_processor": {"class": "CLIPImageProcessor",
                                          "size": {"shortest_edge": image_size},
                                          "crop_size": {"height": image_size, "width": image_size}},
                      "tokenizer": tok},
    }


def make_stimuli(root: Path, n: int, size: int, seed: int = 0) -> Path:
    """``n`` synthetic images (noise over colour gradients) and their stimulus table."""
    rng = np.random.default_rng(seed)
    (root / "img").mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:size, 0:size] / size
    rows = []
    for i in range(n):
        base = np.stack([xx * rng.uniform(0, 255), yy * rng.uniform(0, 255),
                         np.full_like(xx, rng.uniform(0, 255))], axis=-1)
        img = np.clip(base + rng.normal(0, 30, base.shape), 0, 255).astype(np.uint8)
        path = f"img/{i:05d}.png"
        Image.fromarray(img).save(root / path)
        rows.append({"stimulus_id": f"s{i:05d}", "modality": "image", "path": path, "text": "",
                     "run": str(i % 10), "onset": "", "duration": "", "split": "train"})
    tsv = root / "stimuli.tsv"
    pd.DataFrame(rows).to_csv(tsv, sep="\t", index=False)
    return tsv


def subset(tsv: Path, n: int, name: str) -> Path:
    out = tsv.with_name(name)
    pd.read_csv(tsv, sep="\t", dtype=str, keep_default_na=False).head(n).to_csv(out, sep="\t", index=False)
    return out


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def matmul_peak(dev: torch.device, dtype: torch.dtype, seconds: float = 3.0) -> float:
    """Measured dense matmul throughput in TFLOP/s (square operands, repeated)."""
    n = 8192 if dev.type == "cuda" else 1024
    a = torch.randn(n, n, device=dev, dtype=dtype)
    b = torch.randn(n, n, device=dev, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(dev)
    iters, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(10):
            a @ b
        iters += 10
        sync(dev)
    return 2 * n**3 * iters / (time.perf_counter() - t0) / 1e12


class Flops:
    """Model FLOPs: 2 x weights per token (language model, vision tower, projector)."""

    def __init__(self, model: Any):
        lm = model.language_model
        embed = lm.get_input_embeddings().weight.numel()
        self.lm = sum(p.numel() for p in lm.parameters()) - embed + model.lm_head.weight.numel()
        vc = model.config.vision_config
        self.vision_tokens = (vc.image_size // vc.patch_size) ** 2 + 1
        self.vision = sum(p.numel() for p in model.vision_tower.parameters())
        self.projector = sum(p.numel() for p in model.multi_modal_projector.parameters())

    def __call__(self, images: int, lm_tokens: int) -> float:
        per_image = 2 * self.vision * self.vision_tokens + 2 * self.projector * (self.vision_tokens - 1)
        return images * per_image + 2 * self.lm * lm_tokens


def baseline(model, processor, entry, paths: list[Path], dev, dtype, mode: str,
             max_new_tokens: int) -> dict[str, Any]:
    """Plain per-stimulus loop at batch size 1 (forward, or generate with hidden states)."""
    _, prompt = render_prompt(processor, entry, load_instructions(
        REPO / "config" / "instructions.yaml")["image"][INSTRUCTION])
    tok = processor.tokenizer
    tokens = 0
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    sync(dev)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for path in paths:
            inputs = processor(images=[load_image(path, path.stem)], text=[prompt], return_tensors="pt")
            inputs = {k: (v.to(dev, dtype) if v.is_floating_point() else v.to(dev)) for k, v in inputs.items()}
            if mode == "prompt":
                out = model(**inputs, output_hidden_states=True)
                feats = torch.stack([h.mean(dim=1) for h in out.hidden_states])
                tokens += inputs["input_ids"].shape[1]
            else:
                gen = model.generate(**inputs, do_sample=False, max_new_tokens=max_new_tokens,
                                     output_hidden_states=True, return_dict_in_generate=True,
                                     pad_token_id=tok.pad_token_id)
                steps = gen.hidden_states[1:] or gen.hidden_states
                feats = torch.stack([torch.stack([s[li][:, -1] for s in steps]).mean(dim=0)
                                     for li in range(len(steps[0]))])
                tokens += gen.sequences.shape[1]
            feats.float().cpu()
    sync(dev)
    secs = time.perf_counter() - t0
    return {"stimuli": len(paths), "seconds": secs, "stimuli_per_s": len(paths) / secs,
            "tokens": tokens, "tokens_per_s": tokens / secs,
            "peak_gpu_mem_mb": torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else 0.0}


def run_runner(tsv: Path, registry: Path, out: Path, mode: str, args, warm_tsv: Path) -> dict[str, Any]:
    kw = dict(models_yaml=registry, instructions_yaml=REPO / "config" / "instructions.yaml",
              device=args.device, batch_size=args.batch_size, mode=mode,
              max_new_tokens=args.max_new_tokens, num_workers=args.num_workers)
    for old in (out, out.with_name(f"warm-{mode}.zarr")):  # measure, never reuse a store
        shutil.rmtree(old, ignore_errors=True)
    runner.extract_features(warm_tsv, warm_tsv.parent, "bench-llava", INSTRUCTION,
                            out.with_name(f"warm-{mode}.zarr"), **kw)
    runner.extract_features(tsv, tsv.parent, "bench-llava", INSTRUCTION, out, **kw)
    ds = read_store(out, "features", load=False)
    tp = json_attr(ds, "throughput")
    return {**tp, "batch_size": int(ds.attrs["batch_size"]), "layers": int(ds.sizes["layer"]),
            "units": int(ds.sizes["unit"])}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", choices=["7b", "tiny"], default="7b")
    p.add_argument("--device", default="cuda")
    p.add_argument("--n", type=int, help="stimuli through the runner (default 2048 cuda, 256 cpu)")
    p.add_argument("--baseline-n", type=int, help="stimuli through each baseline (default 64)")
    p.add_argument("--batch-size", type=int, help="runner batch size (default 32 cuda, 16 cpu)")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--num-workers", default="auto")
    p.add_argument("--modes", default="prompt,response")
    p.add_argument("--image-size", type=int, help="synthetic image side (default 336 / 64)")
    p.add_argument("--peak-seconds", type=float, default=3.0, help="matmul peak measurement time")
    p.add_argument("--report", type=Path, help="JSON report (default workflow/bench/reports/...)")
    p.add_argument("--workdir", type=Path, help="where stimuli and stores go (default: a temp dir)")
    args = p.parse_args(argv)
    dev = resolve_device(args.device)
    gpu = dev.type == "cuda"
    args.n = args.n or (2048 if gpu else 256)
    args.baseline_n = min(args.baseline_n or 64, args.n)
    args.batch_size = args.batch_size or (32 if gpu else 16)
    args.num_workers = args.num_workers if args.num_workers == "auto" else int(args.num_workers)
    size = args.image_size or (336 if args.size == "7b" else 64)
    torch.manual_seed(0)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="extract_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    entry = llava_entry(args.size)
    entry["dtype"] = "auto"
    registry = work / "models.yaml"
    registry.write_text(yaml.safe_dump({"models": {"bench-llava": entry}}))
    tsv = make_stimuli(work / "stimuli", args.n, size)
    warm = subset(tsv, min(args.n, 2 * args.batch_size), "warmup.tsv")
    paths = [tsv.parent / f"img/{i:05d}.png" for i in range(args.baseline_n)]

    # one model for the runner and the baselines: cache the loader
    original = loading.load_hf
    cached = functools.lru_cache(maxsize=None)(
        lambda name, dtype, remote: original(entry, name, dtype, remote))
    loading.load_hf = lambda e, name, dtype, remote: cached(name, dtype, remote)
    tdtype = resolve_dtype("auto", dev)
    t0 = time.perf_counter()
    model, processor = cached("bench-llava", tdtype, False)
    model.to(dev)
    build_s = time.perf_counter() - t0
    peak = matmul_peak(dev, tdtype, args.peak_seconds)
    flops = Flops(model)

    results: dict[str, Any] = {}
    try:
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            run = run_runner(tsv, registry, work / "stores" / f"{mode}.zarr", mode, args, warm)
            base = baseline(model, processor, {**entry, "_name": "bench-llava"}, paths[:2], dev,
                            tdtype, mode, args.max_new_tokens)  # warm-up
            base = baseline(model, processor, {**entry, "_name": "bench-llava"}, paths, dev,
                            tdtype, mode, args.max_new_tokens)
            lm_tokens = 2 * run["tokens"] if mode == "response" else run["tokens"]
            images = run["stimuli"] * (2 if mode == "response" else 1)
            run["tflops"] = flops(images, lm_tokens) / run["seconds"] / 1e12
            base["tflops"] = flops(base["stimuli"], base["tokens"]) / base["seconds"] / 1e12
            for r in (run, base):
                r["peak_fraction"] = r["tflops"] / peak
            results[mode] = {"runner": run, "baseline": base, "ratio": {
                k: run[k] / base[k] for k in ("stimuli_per_s", "tokens_per_s", "tflops") if base[k]}}
    finally:
        loading.load_hf = original

    report = {
        "command": " ".join([Path(sys.argv[0]).name if sys.argv else "extract_bench.py", *(argv or sys.argv[1:])]),
        "device": torch.cuda.get_device_name(dev) if gpu else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)",
        "size": args.size, "dtype": str(tdtype).replace("torch.", ""),
        "params_b": sum(p.numel() for p in model.parameters()) / 1e9,
        "build_seconds": build_s, "matmul_peak_tflops": peak,
        "n": args.n, "baseline_n": args.baseline_n, "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens, "image_size": size,
        "versions": package_versions(), "results": results,
    }
    path = args.report or HERE / "reports" / f"extract_bench_{args.size}_{dev.type}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))
    print(f"\nreport: {path}")
    return report


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table (one row per mode x method)."""
    lines = [
        f"{report['device']}, {report['size']} LLaVA-1.5 ({report['params_b']:.3g} B params, random "
        f"weights), {report['dtype']}; matmul peak {report['matmul_peak_tflops']:.3g} TFLOP/s",
        "",
        "| mode | method | batch | stimuli | stimuli/s | tokens/s | TFLOP/s | % of peak | peak GPU MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, res in report["results"].items():
        for method, r in (("runner", res["runner"]), ("baseline (bs 1 loop)", res["baseline"])):
            batch = r.get("batch_size", 1)
            lines.append(
                f"| {mode} | {method} | {batch} | {r['stimuli']} | {r['stimuli_per_s']:.3g} | "
                f"{r['tokens_per_s']:.4g} | {r['tflops']:.3g} | {100 * r['peak_fraction']:.2g} | "
                f"{r['peak_gpu_mem_mb']:.0f} |")
        ratio = res["ratio"]
        lines.append(f"| {mode} | **runner / baseline** | | | **{ratio.get('stimuli_per_s', 0):.3g}x** | "
                     f"{ratio.get('tokens_per_s', 0):.3g}x | {ratio.get('tflops', 0):.3g}x | | |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
