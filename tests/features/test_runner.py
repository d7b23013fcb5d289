"""Runner: resume after a crash, content-based cache key, OOM back-off, workers, resources."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tiny_mllms import tiny_registry

from brainalign.features import cache, resources, runner
from brainalign.features.mllm import MLLMExtractor
from brainalign.features.partial_store import PartialStore
from brainalign.features.registry import get_model, load_registry
from brainalign.stores import json_attr, read_store

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def registry(tmp_path) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump({"models": tiny_registry(["llava"])}))
    return path


def _edit(path: Path, **changes) -> None:
    reg = yaml.safe_load(path.read_text())
    reg["models"]["llava-tiny"].update(changes)
    path.write_text(yaml.safe_dump(reg))


def _run(dataset, out: Path, registry: Path, instructions: Path | None = None, **kw):
    tsv, root = dataset
    kw = {"device": "cpu", "batch_size": 1, "mode": "prompt", "chunk_size": 2, **kw}
    runner.extract_features(tsv, root, "llava-tiny", "IC", out, registry,
                            instructions or REPO / "config" / "instructions.yaml", **kw)
    return read_store(out, "features")


class Counter:
    """Counts forward calls; raises on call ``fail_at`` (a simulated crash)."""

    def __init__(self, monkeypatch, fail_at: int | None = None):
        self.calls, self.stimuli, self.fail_at = 0, 0, fail_at
        original = MLLMExtractor.forward

        def forward(ext, batch):
            self.calls += 1
            if self.fail_at is not None and self.calls == self.fail_at:
                raise KeyboardInterrupt("simulated crash")
            self.stimuli += batch["input_ids"].shape[0]
            return original(ext, batch)

        monkeypatch.setattr(MLLMExtractor, "forward", forward)


def test_resume_after_crash(dataset, tmp_path, registry, monkeypatch):
    clean = _run(dataset, tmp_path / "clean.zarr", registry)
    out = tmp_path / "f.zarr"
    Counter(monkeypatch, fail_at=4)  # stimuli 0, 1 flushed (chunk 0); 2 pending in chunk 1
    with pytest.raises(KeyboardInterrupt):
        _run(dataset, out, registry)
    assert not out.exists()  # no finished store
    partial = PartialStore(out.parent / f".{out.name}.partial", _key_of(out), 5, 2)
    assert partial.done().tolist() == [True, True, False, False, False]

    counter = Counter(monkeypatch)
    resumed = _run(dataset, out, registry)
    assert counter.stimuli == 3  # only the unfinished stimuli
    np.testing.assert_array_equal(resumed.features.values, clean.features.values)
    assert not (out.parent / f".{out.name}.partial").exists()


def _key_of(out: Path) -> str:
    return json.loads((out.parent / f".{out.name}.partial" / "partial.json").read_text())["cache_key"]


def test_stale_partial_is_discarded(dataset, tmp_path, registry, monkeypatch):
    out = tmp_path / "f.zarr"
    Counter(monkeypatch, fail_at=4)
    with pytest.raises(KeyboardInterrupt):
        _run(dataset, out, registry)
    _edit(registry, pooling="last")  # input changed: the finished chunks are stale
    counter = Counter(monkeypatch)
    ds = _run(dataset, out, registry)
    assert counter.stimuli == 5 and ds.attrs["pooling"] == "last"


def test_cache_key(dataset, tmp_path, registry, monkeypatch):
    out = tmp_path / "f.zarr"
    first = _run(dataset, out, registry)
    key = first.attrs["cache_key"]

    def refuse(*args, **kwargs):
        raise AssertionError("unchanged input must not load the model")

    with monkeypatch.context() as m:  # unchanged: returns at once
        m.setattr(runner, "build_extractor", refuse)
        again = _run(dataset, out, registry)
    assert again.attrs["cache_key"] == key

    instructions = tmp_path / "instructions.yaml"  # changed prompt: recomputed
    sets = yaml.safe_load((REPO / "config" / "instructions.yaml").read_text())
    sets["instructions"]["image"]["IC"]["text"] = "Write a caption for the image."
    instructions.write_text(yaml.safe_dump(sets))
    counter = Counter(monkeypatch)
    changed = _run(dataset, out, registry, instructions)
    assert counter.stimuli == 5
    assert changed.attrs["cache_key"] != key
    assert "Write a caption" in changed.attrs["prompt"]
    assert not np.array_equal(changed.features.values, first.features.values)

    _edit(registry, layers=[0, -1])  # changed layer selection: recomputed
    pooled = _run(dataset, out, registry, instructions)
    assert pooled.features.shape[0] == 2
    assert pooled.attrs["cache_key"] not in (key, changed.attrs["cache_key"])


def test_oom_backoff(dataset, tmp_path, registry, monkeypatch):
    clean = _run(dataset, tmp_path / "clean.zarr", registry)
    original = MLLMExtractor.forward
    sizes = []

    def forward(ext, batch):
        sizes.append(batch["input_ids"].shape[0])
        if sizes[-1] > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return original(ext, batch)

    monkeypatch.setattr(MLLMExtractor, "forward", forward)
    ds = _run(dataset, tmp_path / "oom.zarr", registry, batch_size=4)
    assert sizes[0] == 4 and max(sizes[1:]) <= 2
    assert ds.attrs["batch_size"] == 2 and json_attr(ds, "throughput")["oom_backoffs"] >= 1
    np.testing.assert_allclose(ds.features.values, clean.features.values, rtol=1e-5, atol=1e-5)


def test_worker_processes_give_the_same_store(dataset, tmp_path, registry):
    inline = _run(dataset, tmp_path / "a.zarr", registry, batch_size=2, num_workers=0)
    workers = _run(dataset, tmp_path / "b.zarr", registry, batch_size=2, num_workers=1)
    np.testing.assert_array_equal(workers.features.values, inline.features.values)
    tp = json_attr(workers, "throughput")
    assert tp["stimuli"] == 5 and tp["stimuli_per_s"] > 0 and tp["tokens"] > 0


def test_workers_and_resources():
    assert resources.resolve_workers("auto", torch.device("cpu")) == 0
    assert resources.resolve_workers("auto", torch.device("cuda")) >= 1
    assert resources.resolve_workers(3, torch.device("cpu")) == 3
    registry = load_registry(REPO / "config" / "models.yaml")
    floors = {"gpu": 0, "mem_mb": 8000, "runtime": 120}
    big = resources.job_resources(get_model(registry, "llava-1.5-7b"), floors)
    assert big["gpu"] == 1 and big["mem_mb"] > 14000 and big["threads"] > 1
    tiny = resources.job_resources(get_model(registry, "llava-tiny"), floors)
    assert tiny == {"gpu": 0, "mem_mb": 8000, "runtime": 120, "threads": 1}
    on_cpu = resources.job_resources(get_model(registry, "llava-1.5-7b"), {**floors, "device": "cpu"})
    assert on_cpu["gpu"] == 0 and on_cpu["runtime"] > big["runtime"]


def test_resolved_revision_of_a_cached_snapshot(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path))
    repo = tmp_path / "models--org--m"
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    assert cache.resolved_revision({"hub_id": "org/m", "revision": "main"}) == "abc123"
    assert cache.resolved_revision({"hub_id": "org/other", "revision": "main"}) == ""
    assert cache.resolved_revision({"config": {"model_type": "llava"}}) == ""


def test_rule_features_and_threads_of_loader_workers():
    models = REPO / "config" / "models.yaml"
    cfg = {"device": "auto", "batch_size": 4, "num_workers": "auto", "gpu": 0, "mem_mb": 8000,
           "runtime": 120}
    big = resources.rule_features(cfg)
    assert "gpu" not in big and "mem_mb" not in big and big["batch_size"] == 4
    assert big["num_workers"] == "auto"
    # a GPU job gets cores for its loader workers, a CPU job only its main process
    assert resources.rule_resources(models, "llava-1.5-7b", cfg)["threads"] > 1
    assert resources.rule_resources(models, "llava-tiny", cfg)["threads"] == 1
    # an explicit worker count sizes the job
    fixed = {**cfg, "num_workers": 2}
    assert resources.rule_resources(models, "llava-1.5-7b", fixed)["threads"] == 3
    assert resources.rule_features(fixed)["num_workers"] == 2
