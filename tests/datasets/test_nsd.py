"""NSD kind against a real S3 server (moto on loopback) holding a miniature bucket."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from nsd_minibucket import (  # noqa: F401 - nsd_bucket is a fixture
    BETAS,
    BUCKET,
    FACES,
    HCP,
    N_BRICK,
    N_SESSIONS,
    PRF,
    SHARED,
    SPECIFIC,
    TPS,
    all_keys,
    coco_captions,
    image,
    nsd_bucket,
)
from PIL import Image

from brainalign.datasets import nsd
from brainalign.datasets.nsd import fetch as nsd_fetch
from brainalign.datasets.nsd import images as nsd_images
from brainalign.datasets.nsd import layout as nsd_layout
from brainalign.datasets.s3_source import RangedS3File, S3DownloadError, download_key, s3_client
from brainalign.stores import read_store


def block(mini, **extra) -> dict:
    return {"endpoint_url": mini.endpoint, "sessions": N_SESSIONS, "trials_per_session": TPS,
            "roi_files": ["prf-visualrois", "floc-faces"], "fetch_workers": 2, **extra}


def counting_client(mini):
    """A real client whose GetObject calls are counted."""
    client = s3_client(mini.endpoint)
    calls = {"get": 0}

    def count(**_):
        calls["get"] += 1

    client.meta.events.register("before-call.s3.GetObject", count)
    return client, calls


@pytest.fixture(scope="module")
def raw(nsd_bucket, tmp_path_factory):
    """Everything both subjects' func1pt8mm stores need, downloaded through the library."""
    root = tmp_path_factory.mktemp("nsd_raw")
    keys = all_keys(block(nsd_bucket), ["subj01", "subj02"])
    nsd_fetch.download(block(nsd_bucket), keys, root, progress=False)
    return root


def expected_responses(mini, subj: int) -> dict[int, np.ndarray]:
    """Hand computation: /300, z-score per session and voxel, mean over repeats."""
    order = mini.design["masterordering"].ravel().astype(int) - 1
    ids = mini.design["subjectim"][subj - 1].astype(int) - 1
    mask = np.asarray(nib.load(mini.root / f"nsddata/ppdata/subj{subj:02d}/func1pt8mm/roi/nsdgeneral.nii.gz").dataobj) > 0
    collected: dict[int, list[np.ndarray]] = {}
    for ses in range(1, N_SESSIONS + 1):
        path = mini.root / f"nsddata_betas/ppdata/subj{subj:02d}/func1pt8mm/{BETAS}/betas_session{ses:02d}.nii.gz"
        values = np.asarray(nib.load(path).dataobj)[mask].astype(float) / 300.0  # voxel x trial
        z = (values - values.mean(axis=1, keepdims=True)) / values.std(axis=1, keepdims=True)
        for t in range(TPS):
            collected.setdefault(int(ids[order[(ses - 1) * TPS + t]]), []).append(z[:, t])
    return {k: np.mean(v, axis=0) for k, v in collected.items()}


def test_download_keys_match_bucket_and_are_not_fetched_again(nsd_bucket, raw):
    keys = all_keys(block(nsd_bucket), ["subj01"])
    assert f"nsddata_betas/ppdata/subj01/func1pt8mm/{BETAS}/betas_session03.nii.gz" in keys
    assert "nsddata/freesurfer/subj01/label/floc-faces.mgz.ctab" in keys
    assert not any("nsd_stimuli.hdf5" in k or "session04" in k for k in keys)
    for k in keys:
        assert (raw / k).read_bytes() == (nsd_bucket.root / k).read_bytes(), k
    client, calls = counting_client(nsd_bucket)
    before = {k: (raw / k).stat().st_mtime_ns for k in keys}
    for k in keys:
        download_key(client, BUCKET, k, raw / k, progress=False)
    assert calls["get"] == 0
    assert before == {k: (raw / k).stat().st_mtime_ns for k in keys}


def test_download_errors_name_the_key(nsd_bucket, tmp_path):
    client, _ = counting_client(nsd_bucket)
    with pytest.raises(S3DownloadError, match="nsddata/nope.csv does not exist"):
        download_key(client, BUCKET, "nsddata/nope.csv", tmp_path / "nope.csv", progress=False)
    key = "nsddata/experiments/nsd/nsd_stim_info_merged.csv"
    local = tmp_path / "truncated.csv"
    local.write_bytes((nsd_bucket.root / key).read_bytes()[:20])
    with pytest.raises(S3DownloadError, match="truncated.csv has 20 bytes but .*nsd_stim_info_merged.csv has"):
        download_key(client, BUCKET, key, local, progress=False)

    def cut_body(http_response, parsed, **_):  # the server's answer loses its tail in transit
        import io

        from botocore.response import StreamingBody

        data = parsed["Body"].read()
        parsed["Body"] = StreamingBody(io.BytesIO(data[:-7]), len(data) - 7)

    client.meta.events.register("after-call.s3.GetObject", cut_body)
    dest = tmp_path / "stim.csv"
    with pytest.raises(S3DownloadError, match=r"nsd_stim_info_merged.csv.*received \d+ bytes, expected \d+"):
        download_key(client, BUCKET, key, dest, attempts=2, progress=False)
    assert list(tmp_path.iterdir()) == [local]  # nothing half-written


def test_unknown_subject_and_session():
    with pytest.raises(nsd_layout.NSDError, match="unknown NSD subject 'subj09'"):
        all_keys({}, ["subj01", "subj09"])
    with pytest.raises(nsd_layout.NSDError, match=r"unknown session\(s\) \[33\] for NSD subject 3"):
        nsd_layout.sessions(nsd_layout.settings({"sessions": [1, 33]}), "sub-03")
    assert nsd_layout.sessions(nsd_layout.settings({}), "4") == list(range(1, 31))
    with pytest.raises(nsd_layout.NSDError, match="nsd.space is 'MNI'"):
        nsd_layout.settings({"space": "MNI"})


@pytest.mark.parametrize("subj", [1, 2])
def test_brain_store_values(nsd_bucket, raw, tmp_path, subj):
    out = tmp_path / f"subj{subj:02d}.zarr"
    nsd.prepare_brain(raw, block(nsd_bucket), f"subj{subj:02d}", out)
    ds = read_store(out, "brain")
    expected = expected_responses(nsd_bucket, subj)
    ids = [int(s[3:]) for s in ds.stimulus_id.values]
    assert sorted(ids) == sorted(SHARED + SPECIFIC[subj]) == sorted(expected)
    for row, i in enumerate(ids):
        np.testing.assert_allclose(ds.responses.values[row], expected[i], rtol=1e-5, atol=1e-5)
    split = dict(zip(ids, ds.split.values))
    assert {i for i, s in split.items() if s == "test"} == set(SHARED)
    repeats = dict(zip(ids, ds.repeats.values.tolist()))
    assert [repeats[i] for i in SHARED] == [3, 3, 2, 2, 1, 1]
    # ceiling: A = B = C = 2 test images shown 3, 2, 1 times
    general = np.asarray(nib.load(raw / f"nsddata/ppdata/subj{subj:02d}/func1pt8mm/roi/nsdgeneral.nii.gz").dataobj) > 0
    ncsnr = np.asarray(nib.load(raw / f"nsddata_betas/ppdata/subj{subj:02d}/func1pt8mm/{BETAS}/ncsnr.nii.gz").dataobj)
    snr2 = ncsnr[general].astype(float) ** 2
    inv_n = (2 / 3 + 2 / 2 + 2 / 1) / (2 + 2 + 2)
    nc_percent = 100 * snr2 / (snr2 + inv_n)
    np.testing.assert_allclose(ds.noise_ceiling.values, np.sqrt(nc_percent / 100), rtol=1e-5)
    assert ds.attrs["ceiling_inverse_n"] == pytest.approx(inv_n)
    # every label of every ROI file is a ROI, with its own voxels
    rois = list(ds.roi.values)
    assert set(PRF.values()) | set(FACES.values()) | {"nsdgeneral", "V1", "early_visual", "faces", "FFA"} <= set(rois)
    assert "bodies" not in rois  # no floc-bodies file configured
    for fname, table in (("prf-visualrois", PRF), ("floc-faces", FACES)):
        labels = np.asarray(nib.load(raw / f"nsddata/ppdata/subj{subj:02d}/func1pt8mm/roi/{fname}.nii.gz").dataobj)
        for k, name in table.items():
            mask = ds.roi_mask.sel(roi=name).values
            assert mask.any(), name
            np.testing.assert_array_equal(mask, labels[general] == k)
    np.testing.assert_array_equal(ds.roi_mask.sel(roi="FFA").values,
                                  ds.roi_mask.sel(roi="FFA-1").values | ds.roi_mask.sel(roi="FFA-2").values)
    assert ds.attrs["beta_scale"] == pytest.approx(1 / 300) and ds.attrs["tr"] == 0
    assert ds.voxel_index.values.tolist() == np.flatnonzero(general.ravel()).tolist()
    first = {i: s for i, s in zip(ids, ds.run.values)}
    order = nsd_bucket.design["masterordering"].ravel().astype(int) - 1
    images = nsd_bucket.design["subjectim"][subj - 1].astype(int) - 1
    trial_img = images[order]
    for i in ids:
        assert first[i] == f"ses{np.flatnonzero(trial_img == i)[0] // TPS + 1:02d}"


def test_surface_space_with_native_rois_and_glasser(nsd_bucket, tmp_path):
    cfg = block(nsd_bucket, space="fsaverage", surface="fsaverage5", roi_files=["prf-visualrois"], glasser=True)
    raw = tmp_path / "raw"
    nsd_fetch.download(cfg, all_keys(cfg, ["subj01"]), raw, progress=False)
    groups = tmp_path / "glasser.yaml"
    groups.write_text("rois:\n  EV: {areas: [V1, V2, V3]}\n  MT: {areas: [MT]}\n")
    ds = nsd.prepare_brain(raw, cfg, "subj01", tmp_path / "s.zarr", glasser_groups=groups)
    assert ds.attrs["space"] == "fsaverage5" and ds.sizes["voxel"] == 350
    assert ds.hemi.values.tolist() == ["lh"] * 200 + ["rh"] * 150
    assert ds.attrs["beta_scale"] == 1.0  # float surface betas are not scaled
    src = nsd_bucket.root
    native = {h: np.asarray(nib.load(src / f"nsddata/freesurfer/subj01/label/{h}.prf-visualrois.mgz").dataobj).ravel()
              for h in ("lh", "rh")}
    tr = {h: np.asarray(nib.load(src / f"nsddata/ppdata/subj01/transforms/{h}.white-to-fsaverage.mgz").dataobj).ravel()
          for h in ("lh", "rh")}
    labels = np.concatenate([native["lh"][tr["lh"][:200] - 1], native["rh"][tr["rh"][:150] - 1]])
    for k, name in PRF.items():
        np.testing.assert_array_equal(ds.roi_mask.sel(roi=name).values, labels == k)
    hcp = np.concatenate([np.asarray(nib.load(src / f"nsddata/freesurfer/fsaverage/label/{h}.HCP_MMP1.mgz").dataobj)
                          .ravel()[:n] for h, n in (("lh", 200), ("rh", 150))])
    np.testing.assert_array_equal(ds.roi_mask.sel(roi="EV").values, np.isin(hcp, [1, 2, 3]))
    np.testing.assert_array_equal(ds.roi_mask.sel(roi="MT").values, hcp == 4)
    assert set(HCP) == {1, 2, 3, 4}
    z = ds.responses.values
    assert np.isfinite(z).all() and abs(z.mean()) < 0.5


def test_bad_files_give_clear_errors_and_no_store(nsd_bucket, raw, tmp_path):
    import shutil

    copy = tmp_path / "raw"
    shutil.copytree(raw, copy)
    betas = copy / f"nsddata_betas/ppdata/subj01/func1pt8mm/{BETAS}/betas_session02.nii.gz"
    betas.write_bytes(betas.read_bytes()[:300])
    out = tmp_path / "b.zarr"
    with pytest.raises(nsd_layout.NSDError, match="betas_session02.nii.gz"):
        nsd.prepare_brain(copy, block(nsd_bucket), "subj01", out)
    betas.unlink()
    with pytest.raises(nsd_layout.NSDError, match="betas not found: .*betas_session02.nii.gz"):
        nsd.prepare_brain(copy, block(nsd_bucket), "subj01", out)
    with pytest.raises(nsd_layout.NSDError, match="session 4 needs trials up to 48"):
        nsd.prepare_brain(copy, block(nsd_bucket, sessions=4), "subj01", out)
    assert not out.exists() and not list(tmp_path.glob(".b.zarr*"))


def test_images_by_ranged_reads_only(nsd_bucket, tmp_path):
    client, calls = counting_client(nsd_bucket)
    key = "nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5"
    wanted = [3, 8, 40, 41]
    stats = nsd_images.fetch_images(client, BUCKET, key, wanted, tmp_path / "cache", workers=2)
    for i in wanted:
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "cache" / f"nsd{i:05d}.png")), image(i))
    total = (nsd_bucket.root / key).stat().st_size
    img_bytes = 425 * 425 * 3
    assert stats["images"] == 4 and calls["get"] == stats["requests"]
    assert 4 * img_bytes <= stats["bytes"] < 4 * img_bytes + 200_000 < total / 5
    again = nsd_images.fetch_images(client, BUCKET, key, wanted + [9], tmp_path / "cache", workers=2)
    assert again["images"] == 1 and again["bytes"] < img_bytes + 200_000


def test_chunked_brick_is_read_through_h5py(nsd_bucket, tmp_path):
    client, _ = counting_client(nsd_bucket)
    key = "nsddata_stimuli/stimuli/nsd/nsd_stimuli_chunked.hdf5"
    stats = nsd_images.fetch_images(client, BUCKET, key, [1, 6], tmp_path, image_size=64)
    assert stats["images"] == 2 and stats["bytes"] < (nsd_bucket.root / key).stat().st_size
    img = Image.open(tmp_path / "nsd00006.png")
    assert img.size == (64, 64)
    with pytest.raises(nsd_layout.NSDError, match="beyond the 8 images"):
        nsd_images.fetch_images(client, BUCKET, key, [20], tmp_path)


def test_ranged_file_reads_exact_bytes(nsd_bucket):
    key = "nsddata/experiments/nsd/nsd_stim_info_merged.csv"
    data = (nsd_bucket.root / key).read_bytes()
    f = RangedS3File(s3_client(nsd_bucket.endpoint), BUCKET, key, block_size=16)
    f.seek(5)
    assert f.read(40) == data[5:45]
    f.seek(-10, 2)
    assert f.read() == data[-10:]


def test_ranged_reads_retry_short_answers(nsd_bucket):
    import io

    from botocore.response import StreamingBody

    key = "nsddata/experiments/nsd/nsd_stim_info_merged.csv"
    data = (nsd_bucket.root / key).read_bytes()
    client = s3_client(nsd_bucket.endpoint)
    cuts = {"left": 1}

    def cut_once(parsed, **_):
        if cuts["left"]:
            cuts["left"] -= 1
            body = parsed["Body"].read()
            parsed["Body"] = StreamingBody(io.BytesIO(body[:-3]), len(body) - 3)

    client.meta.events.register("after-call.s3.GetObject", cut_once)
    f = RangedS3File(client, BUCKET, key)
    assert f.fetch(10, 500) == data[10:500] and f.requests == 2
    cuts["left"] = 5
    with pytest.raises(S3DownloadError, match=r"range 10-499 of .*got 487 bytes after 3 attempts"):
        f.fetch(10, 500)


def test_stimulus_table_with_captions(nsd_bucket, raw, tmp_path):
    res = tmp_path / "res"
    cfg = block(nsd_bucket, coco_annotations=[str(coco_captions(tmp_path / "captions_train2017.json"))])
    table = nsd.prepare_stimuli(raw, cfg, ["subj01", "subj02"], res / "stimuli.tsv", res / "stimuli")
    ids = sorted(SHARED + SPECIFIC[1] + SPECIFIC[2])
    assert table.stimulus_id.tolist() == [f"nsd{i:05d}" for i in ids]
    assert set(table.loc[table.split == "test", "stimulus_id"]) == {f"nsd{i:05d}" for i in SHARED}
    row = table.set_index("stimulus_id").loc["nsd00004"]
    assert row.text == "image 4 caption 1" and row.modality == "image"
    assert table.set_index("stimulus_id").loc["nsd00005", "text"] == ""  # no caption in the file
    back = pd.read_csv(res / "stimuli.tsv", sep="\t", keep_default_na=False)
    np.testing.assert_array_equal(np.asarray(Image.open(res / back.path.iloc[0])), image(ids[0]))
    assert (raw / nsd.IMAGE_CACHE / "nsd00003.png").exists()
    assert max(ids) < N_BRICK


def test_stores_feed_the_encoding_step(nsd_bucket, raw, tmp_path):
    """The stimulus table and brain store are what extract_features/encode consume."""
    import xarray as xr

    from brainalign.encoding.layerwise import encode_job
    from brainalign.stores import write_store

    res = tmp_path / "res"
    table = nsd.prepare_stimuli(raw, block(nsd_bucket), ["subj01"], res / "stimuli.tsv", res / "stimuli")
    nsd.prepare_brain(raw, block(nsd_bucket), "subj01", res / "brain/subj01.zarr")
    feats = np.random.default_rng(0).standard_normal((2, len(table), 4)).astype(np.float32)
    ds = xr.Dataset({"features": (("layer", "stimulus", "unit"), feats)},
                    coords={"layer": [0, 1], "stimulus_id": ("stimulus", table.stimulus_id.to_numpy()),
                            "run": ("stimulus", table.run.to_numpy()), "modality": ("stimulus", table.modality.to_numpy())},
                    attrs={"model": "random-features", "instruction": "none", "cache_key": "x"})
    write_store(ds, res / "features.zarr", "features")
    encoding = {"backend": "numpy", "alphas": {"min_exp": 1, "max_exp": 4, "num": 5}, "n_folds": 5,
                "delays": [1], "ceiling_min": 0.05, "n_iter": 2}
    encode_job(str(res / "features.zarr"), str(res / "brain/subj01.zarr"), str(res / "enc.zarr"), encoding,
               {"n_permutations": 0, "block_size": 10, "seed": 0})
    enc = read_store(res / "enc.zarr", "encoding")
    brain = read_store(res / "brain/subj01.zarr", "brain")
    assert enc.sizes["voxel"] == brain.sizes["voxel"] and enc.sizes["layer"] == 2
    assert np.isfinite(enc.r.values).all()
