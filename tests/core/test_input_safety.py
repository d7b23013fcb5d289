"""Bad configs, unsafe names and paths, remote code and user names in tables.

Each test of a numbered wrong behaviour (issue list) fails without the checks:
1 typo'd keys in dataset blocks, 2 unsafe dataset names and results paths,
3 traversal from stimulus ids and run names, 8 remote code and processor
factories, 9 names such as NULL or NA lost in table round trips.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from brainalign.config import ConfigError, load_config, load_yaml
from brainalign.datasets import custom
from brainalign.features.loading import build_component, load_hf
from brainalign.features.registry import RegistryError, check_entry
from brainalign.safe_paths import UnsafeNameError, check_results_root, inside
from brainalign.summaries import COLUMNS, read_table, write_table

MODELS = {"models": {
    "vit-tiny": {"family": "image", "input": "image", "instruction_set": None,
                 "config": {"model_type": "vit", "num_hidden_layers": 4}},
    "minilm": {"family": "text", "input": "text", "instruction_set": None},
    "llava-tiny": {"family": "mllm_image", "input": "image", "instruction_set": "image"},
    "code-model": {"family": "image", "input": "image", "instruction_set": None, "hub_id": "org/code-model",
                   "revision": "main", "trust_remote_code": True},
}}
INSTRUCTIONS = {"instructions": {"image": {"IC": "Describe the image.", "VQ1": "What is in this image?"}}}


@pytest.fixture
def root(tmp_path):
    (tmp_path / "models.yaml").write_text(yaml.safe_dump(MODELS))
    (tmp_path / "instructions.yaml").write_text(yaml.safe_dump(INSTRUCTIONS))
    return tmp_path


def config() -> dict:
    return {
        "models_registry": "models.yaml", "instructions_registry": "instructions.yaml",
        "datasets": {"demo": {
            "kind": "synthetic", "subjects": ["sub-01", "sub-02"], "models": ["vit-tiny", "minilm", "llava-tiny"],
            "instructions": ["IC"],
            "synthetic": {"design": "images", "rois": {"EV": {"noise_sd": 1.0,
                                                             "drivers": [{"model": "vit-tiny", "layer": 1}]}}}}},
    }


def rejected(cfg: dict, root, *fragments: str) -> str:
    with pytest.raises(ConfigError) as err:
        load_config(cfg, root)
    message = str(err.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


# ------------------------------------------------------------------ 1: closed dataset blocks


def test_1_typo_in_dataset_block_is_rejected(root):
    cfg = config()
    cfg["datasets"]["demo"]["instrucions"] = cfg["datasets"]["demo"].pop("instructions")
    rejected(cfg, root, "datasets.demo", "'instrucions' was unexpected", "allowed keys:", "instructions")


def test_1_options_block_of_another_kind_is_rejected(root):
    cfg = config()
    cfg["datasets"]["demo"]["custom"] = {"design": "events"}
    rejected(cfg, root, "datasets.demo.custom", "kind 'synthetic' takes only the options block 'synthetic'")


# ------------------------------------------------------------------ 2: names and results root


@pytest.mark.parametrize("name", ["../../evil", "/abs", ".hidden", "a/b", "", "x" * 200, "a b"])
def test_2_unsafe_dataset_names_are_rejected(root, name):
    cfg = config()
    cfg["datasets"] = {name: cfg["datasets"]["demo"]}
    rejected(cfg, root, "config key 'datasets'", repr(name)[:40], "allowed: letters, digits")


@pytest.mark.parametrize("results", ["", "/", "..", ".", "../elsewhere", "results/../.."])
def test_2_results_outside_or_above_the_working_directory_is_rejected(root, results, monkeypatch):
    monkeypatch.chdir(root)
    cfg = config()
    cfg["results"] = results
    rejected(cfg, root, "results")


def test_2_results_inside_or_absolute_folder_is_accepted(root, tmp_path, monkeypatch):
    monkeypatch.chdir(root)
    check_results_root("results")
    check_results_root("out/run1")
    check_results_root(str(tmp_path / "scratch" / "results"))


@pytest.mark.parametrize("key,value", [("responses", "../../etc/{subject}.npy"), ("rois", "/etc/rois.npz"),
                                       ("stimuli", "a/../../x.tsv")])
def test_2_custom_paths_must_stay_inside_raw_dir(root, key, value):
    cfg = config()
    cfg["datasets"]["demo"] = {"kind": "custom", "subjects": ["sub-01"], "models": ["vit-tiny"],
                               "raw_dir": "raw", "custom": {"design": "events", key: value}}
    rejected(cfg, root, f"datasets.demo.custom.{key}", repr(value.format(subject="sub-01")), "inside raw")


# ------------------------------------------------------------------ 3: names from data files


def events_dataset(raw, stimulus_id="img0", path=None):
    raw.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8)).save(raw / "img.png")
    ids = [stimulus_id, "img1", "img2", "img3"]
    pd.DataFrame({"stimulus_id": ids, "path": [path or "img.png"] + ["img.png"] * 3,
                  "split": ["train", "train", "test", "test"]}).to_csv(raw / "stimuli.tsv", sep="\t", index=False)
    (raw / "sub-01").mkdir(exist_ok=True)
    np.save(raw / "sub-01/responses.npy", np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32))
    pd.DataFrame({"stimulus_id": ids}).to_csv(raw / "sub-01/samples.tsv", sep="\t", index=False)
    np.savez(raw / "rois.npz", A=np.array([1, 1, 0]), B=np.array([0, 1, 1]))


def test_3_stimulus_id_cannot_write_outside_the_results_tree(tmp_path):
    raw, res = tmp_path / "raw", tmp_path / "work/res/ds"
    events_dataset(raw, stimulus_id="../../../../ESCAPED")
    with pytest.raises(custom.CustomDataError, match=r"stimuli.tsv row 2, column stimulus_id: '\.\./"):
        custom.prepare_stimuli(raw, {"design": "events"}, ["sub-01"], res / "stimuli.tsv", res / "stimuli")
    assert not list(tmp_path.rglob("ESCAPED*"))
    assert not (res / "stimuli.tsv").exists()


def test_3_stimulus_path_cannot_read_outside_raw_dir(tmp_path):
    raw, res = tmp_path / "raw", tmp_path / "res"
    (tmp_path / "secret.png").write_bytes(b"x")
    events_dataset(raw, path="../secret.png")
    with pytest.raises(custom.CustomDataError, match=r"row 2, column path: '\.\./secret.png' leads outside"):
        custom.prepare_stimuli(raw, {"design": "events"}, ["sub-01"], res / "stimuli.tsv", res / "stimuli")


def test_3_run_names_cannot_read_outside_raw_dir(tmp_path):
    raw, res = tmp_path / "raw", tmp_path / "res"
    raw.mkdir()
    (tmp_path / "x.npy").write_bytes(b"")
    pd.DataFrame({"run": ["../../x", "r2"], "modality": ["word", "word"], "onset": [0, 0],
                  "text": ["a", "b"]}).to_csv(raw / "stimuli.tsv", sep="\t", index=False)
    block = {"design": "timeseries", "tr": 1.0, "test_runs": ["r2"]}
    with pytest.raises(custom.CustomDataError, match=r"row 2, column run: '\.\./\.\./x' is not an allowed name"):
        custom.prepare_stimuli(raw, block, ["sub-01"], res / "stimuli.tsv", res / "stimuli")
    with pytest.raises(custom.CustomDataError, match=r"sub-01: run: '\.\./\.\./x' is not an allowed name"):
        custom.run_lengths(raw, custom.settings(block), "sub-01", ["../../x"])


def test_inside_is_lexical_and_refuses_absolute(tmp_path):
    assert inside(tmp_path, "a/../b.npy", "k") == tmp_path / "b.npy"
    for bad in ("../x", "/etc/passwd", "", "a/../../x"):
        with pytest.raises(UnsafeNameError, match="k: "):
            inside(tmp_path, bad, "k")


# ------------------------------------------------------------------ 8: remote code and factories


def test_8_trust_remote_code_with_a_branch_is_refused_before_loading(root, monkeypatch):
    import transformers

    calls = []
    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", lambda *a, **k: calls.append(k))
    entry = MODELS["models"]["code-model"]
    with pytest.raises(RegistryError, match="code-model.revision is 'main', not a pinned commit"):
        load_hf(entry, "code-model", None, allow_remote_code=True)
    with pytest.raises(RegistryError, match="allow_remote_code"):
        load_hf({**entry, "revision": "a" * 40}, "code-model", None, allow_remote_code=False)
    assert calls == []
    cfg = config()
    cfg["datasets"]["demo"]["models"].append("code-model")
    cfg["features"] = {"allow_remote_code": True}
    # an unpinned commit stops that model's jobs (above) and is named at planning time; the rest of a study runs
    from brainalign.config import remote_code_problems

    problems = remote_code_problems(load_config(cfg, root))
    assert len(problems) == 1 and "code-model.revision is 'main', not a pinned commit" in problems[0]
    cfg["features"] = {"allow_remote_code": False}
    rejected(cfg, root, "model 'code-model'", "allow_remote_code: true")


def test_8_processor_factory_must_be_allow_listed(tmp_path):
    marker = tmp_path / "ran"
    spec = {"factory": "os:system", "command": f"touch {marker}"}
    with pytest.raises(RegistryError, match="processor factory 'os:system' is not allowed; allowed: brainalign"):
        build_component(spec)
    with pytest.raises(RegistryError, match="'os:system' is not allowed"):
        check_entry("m", {"family": "image", "input": "image", "instruction_set": None, "hub_id": "x",
                          "processor": {"class": "ViTImageProcessor", "tokenizer": spec}})
    assert not marker.exists()


# ------------------------------------------------------------------ 9: names survive table round trips

ODD_NAMES = ["NULL", "NA", "None", "nan", "N/A", "null", "NaN", "#N/A", "-nan", "TRUE", "1.0"]


def test_9_odd_roi_subject_and_model_names_survive_tables_stats_and_figures(tmp_path):
    from brainalign.figure_sets import figure_job
    from brainalign.statistics.tables import stats_job

    rows = []
    for s, subject in enumerate(["NA", "None", "sub-03"]):
        for roi in ODD_NAMES:
            for layer in range(2):
                for metric in ("normalized", "r"):
                    rows.append(dict(zip(COLUMNS, ["d", subject, roi, "NULL", "none", layer, metric,
                                                   0.1 * s + 0.05 * layer + (np.nan if roi == "EV" else 0)])))
    paths = {n: tmp_path / f"{n}.tsv" for n in ("alignment", "residual", "partition", "stats")}
    write_table(pd.DataFrame(rows), paths["alignment"])
    write_table(pd.DataFrame(columns=COLUMNS + ["removed"]), paths["residual"])
    write_table(pd.DataFrame(columns=["dataset", "subject", "roi", "a", "b", "metric", "value", "score"]),
                paths["partition"])
    table = read_table(paths["alignment"])
    assert set(table["roi"]) == set(ODD_NAMES)
    assert set(table["subject"]) == {"NA", "None", "sub-03"} and set(table["model"]) == {"NULL"}
    assert table["value"].dtype == float
    stats_job(*(str(paths[n]) for n in ("alignment", "residual", "partition", "stats")),
              {"test": "ttest", "n_bootstrap": 50, "seed": 0})
    stats = read_table(paths["stats"])
    assert sorted(stats["roi"]) == sorted(ODD_NAMES)
    for name in ("layerwise", "roi_bars"):
        figure_job({"name": name, "type": name}, "d", {n: str(p) for n, p in paths.items()},
                   str(tmp_path / f"{name}.png"), {"dpi": 60}, {"test": "ttest"}, {})
        assert (tmp_path / f"{name}.png").stat().st_size > 1000


def test_empty_numbers_stay_missing(tmp_path):
    df = pd.DataFrame([dict(zip(COLUMNS, ["d", "s", "NA", "m", "none", 0, "r", np.nan]))])
    write_table(df, tmp_path / "t.tsv")
    back = read_table(tmp_path / "t.tsv")
    assert back["roi"].tolist() == ["NA"] and np.isnan(back["value"].iloc[0])


# ------------------------------------------------------------------ poor: ranges, enums, duplicates, sizes


@pytest.mark.parametrize("path,value,fragment", [
    (("encoding", "alphas", "max_exp"), 400, "encoding.alphas.max_exp"),
    (("features", "device"), "tpu", "features.device"),
    (("encoding", "ceiling_min"), 5, "encoding.ceiling_min"),
    (("encoding", "delays"), [1, 1], "encoding.delays"),
    (("stats", "test"), "anova", "stats.test"),
    (("figures", "dpi"), 10, "figures.dpi"),
])
def test_out_of_range_and_enum_values_are_rejected(root, path, value, fragment):
    cfg = config()
    node = cfg
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    rejected(cfg, root, f"config key '{fragment}'", repr(value)[:10])


def test_alpha_range_must_be_ordered(root):
    cfg = config()
    cfg["encoding"] = {"alphas": {"min_exp": 5, "max_exp": 1}}
    rejected(cfg, root, "encoding.alphas", "min_exp 5 is above max_exp 1")


@pytest.mark.parametrize("key,value", [("subjects", ["sub-01", "sub-01"]), ("models", ["vit-tiny", "vit-tiny"]),
                                       ("instructions", ["IC", "IC"])])
def test_duplicates_are_rejected(root, key, value):
    cfg = config()
    cfg["datasets"]["demo"][key] = value
    rejected(cfg, root, f"datasets.demo.{key}", "lists an entry twice")


def test_layers_beyond_the_model_are_rejected(root):
    cfg = config()
    cfg["datasets"]["demo"]["synthetic"]["rois"]["EV"]["drivers"][0]["layer"] = 42
    rejected(cfg, root, "datasets.demo.synthetic.rois.EV.drivers[0].layer", "layer 42", "allowed: -5 to 4")
    cfg = config()
    cfg["partition"] = [{"dataset": "demo", "a": {"model": "vit-tiny", "layer": 99}, "b": {"model": "minilm"}}]
    rejected(cfg, root, "partition[0].a.layer", "layer 99")


def test_sizes_that_do_not_fit_are_rejected(root):
    cfg = config()
    cfg["datasets"]["demo"]["synthetic"].update(n_images=50, n_test=60)
    rejected(cfg, root, "datasets.demo.synthetic.n_test", "60")


def test_duplicate_and_self_analyses_are_rejected(root):
    cfg = config()
    item = {"dataset": "demo", "a": {"model": "vit-tiny", "layer": 1}, "b": {"model": "minilm", "layer": 1}}
    cfg["partition"] = [item, copy.deepcopy(item)]
    rejected(cfg, root, "partition[1]", "same analysis as partition[0]")
    cfg["partition"] = [{**item, "b": item["a"]}]
    rejected(cfg, root, "partition[0]", "the same feature space")


def test_yaml_error_names_file_and_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("datasets:\n  demo:\n    kind: synthetic\n   subjects: [a\n")
    with pytest.raises(ConfigError, match=r"c.yaml: line \d+, column \d+: not valid YAML"):
        load_yaml(path)


def test_error_names_the_config_file(root):
    cfg = config()
    cfg["datasets"]["demo"]["kind"] = "nope"
    with pytest.raises(ConfigError, match=r"^study.yaml: invalid configuration"):
        load_config(cfg, root, source="study.yaml")
