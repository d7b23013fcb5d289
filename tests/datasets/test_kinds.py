"""The dataset kinds: one implementation per kind of the config schema, defaults from the kind schemas."""

from __future__ import annotations

import numpy as np
import pytest

from brainalign.config import load_schema
from brainalign.datasets import KINDS, DatasetKind, kind, kind_settings
from brainalign.stores import brain_dataset, validate


def test_every_kind_of_the_config_schema_has_one_implementation_and_no_other():
    dataset = load_schema("config")["properties"]["datasets"]["additionalProperties"]
    schema_kinds = dataset["properties"]["kind"]["enum"]
    assert sorted(KINDS) == sorted(schema_kinds)
    for name in schema_kinds:
        assert isinstance(kind(name), DatasetKind) and kind(name).name == name
        assert name in dataset["properties"], f"no options block {name!r} in the config schema"
        load_schema(f"dataset.{name}")  # each kind has its options schema
    with pytest.raises(ValueError, match="unknown dataset kind 'fmri'; known: synthetic"):
        kind("fmri")


def test_an_implementation_must_write_stimuli_and_brain_stores():
    class Partial(DatasetKind):
        name = "partial"

        def prepare_stimuli(self, job):
            pass

    with pytest.raises(TypeError, match="prepare_brain"):
        Partial()


def test_settings_take_their_defaults_from_the_kind_schema():
    schema = load_schema("dataset.cneuromod")["properties"]
    cfg = kind_settings("cneuromod", {"task": "friends", "train": ["s01"], "test": ["s02"], "fmriprep": {}})
    assert cfg["tr"] == schema["tr"]["default"] and cfg["ceiling"] == schema["ceiling"]["default"]
    assert cfg["fmriprep"]["credentials"] == schema["fmriprep"]["properties"]["credentials"]["default"]
    block = {"task": "friends", "train": ["s01"], "test": ["s02"], "tr": 2.0}
    assert kind_settings("cneuromod", block)["tr"] == 2.0 and "ceiling" not in block  # the block is not changed
    with pytest.raises(KeyError, match=r"cneuromod.source is 'ftp'; allowed: algonauts2025, fmriprep"):
        kind_settings("cneuromod", {**block, "source": "ftp"}, KeyError)


def test_brain_dataset_builds_a_valid_brain_store():
    ds = brain_dataset(np.ones((3, 2)), ["a", "b", "c"], ["r1", "r1", "r2"], ["train", "train", "test"],
                       np.array([0.5, np.nan]), ["V1"], np.array([[True, False]]), time=[0, 1, 0],
                       voxel_coords={"hemi": ["lh", "rh"]}, voxel_vars={"ncsnr": [1.0, 2.0]},
                       space="test", tr=1.0, source="test", subject="sub-01")
    validate(ds, "brain")
    assert ds["responses"].dtype == np.float32 and ds["ncsnr"].dtype == np.float32
    assert ds["noise_ceiling"].values.tolist() == [0.5, 0.0]  # NaN ceilings are stored as 0
    assert ds["time"].dtype == np.float64 and list(ds["hemi"].values) == ["lh", "rh"]
    assert ds.attrs["subject"] == "sub-01" and "code_version" in ds.attrs
