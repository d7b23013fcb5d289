"""A miniature NSD bucket: real file formats at the real key layout, served by a moto S3 server.

Two subjects (1 and 2), 3 sessions of 12 trials, a 4 x 3 x 2 voxel volume, 48
images in ``imgBrick``. Test images (the "shared" ones) are shown 3, 3, 2, 2, 1
and 1 times, so the ceiling needs the mixed-repeat correction. Subject 1 also
has fsaverage5-sized surface files (10,242 vertices per hemisphere).
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy.io import savemat

from brainalign.datasets.nsd.layout import brain_keys, settings

BUCKET = "natural-scenes-dataset"
TPS = 12  # trials per session
N_SESSIONS = 3
SHAPE = (4, 3, 2)
N_BRICK = 48
N_CHUNKED = 8
FS5 = 10242
N_NATIVE = 3000
SHARED = [3, 8, 13, 19, 27, 44]  # 0-based 73k ids of the "shared" (test) images
SHARED_REPEATS = [3, 3, 2, 2, 1, 1]
SPECIFIC = {1: [0, 1, 2, 4, 5, 6, 7, 9, 10, 11], 2: [12, 14, 15, 16, 17, 18, 20, 21, 22, 23]}
SPECIFIC_REPEATS = [3, 3, 3, 3, 2, 2, 2, 2, 2, 2]
BETAS = "betas_fithrf_GLMdenoise_RR"
PRF = {1: "V1v", 2: "V1d", 3: "V2v", 4: "V2d", 5: "V3v", 6: "V3d", 7: "hV4"}
FACES = {1: "OFA", 2: "FFA-1", 3: "FFA-2", 4: "mTL-faces", 5: "aTL-faces"}
HCP = {1: "L_V1_ROI", 2: "L_V2_ROI", 3: "L_V3_ROI", 4: "L_MT_ROI"}


def all_keys(block: dict, subjects: list[str]) -> list[str]:
    """Every key the brain stores of ``subjects`` need, each once (checks subjects and sessions)."""
    cfg = settings(block)
    return list(dict.fromkeys(k for s in subjects for k in brain_keys(cfg, s)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ctab(names: dict[int, str]) -> str:
    return "0 Unknown\n" + "".join(f"{k} {v}\n" for k, v in names.items())


def image(i: int) -> np.ndarray:
    return np.random.default_rng(1000 + i).integers(0, 256, (425, 425, 3), dtype=np.uint8)


def design() -> dict[str, np.ndarray]:
    """masterordering (1-based columns of subjectim) and subjectim (1-based 73k ids)."""
    cols = np.repeat(np.arange(1, 7), SHARED_REPEATS).tolist() + np.repeat(np.arange(7, 17), SPECIFIC_REPEATS).tolist()
    order = np.random.default_rng(7).permutation(cols)
    assert len(order) == TPS * N_SESSIONS
    subjectim = np.zeros((8, 16), np.int64)
    for s in range(8):
        specific = SPECIFIC.get(s + 1, list(range(30, 40)))
        subjectim[s] = np.array(SHARED + specific) + 1
    return {"masterordering": order[None, :].astype(np.float64), "subjectim": subjectim.astype(np.float64)}


@dataclass
class MiniNSD:
    """The files written (``root/<key>``) and what a test needs to check values."""

    root: Path
    endpoint: str = ""
    keys: list[str] = field(default_factory=list)
    design: dict = field(default_factory=dict)

    def write(self, key: str, data: bytes | str) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        self.keys.append(key)

    def save(self, key: str, img) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        nib.save(img, str(path))
        self.keys.append(key)


def volume_labels(rng: np.random.Generator, n_labels: int, mask: np.ndarray) -> np.ndarray:
    """Every label 1..n at least once inside the mask, -1 outside the brain."""
    labels = rng.integers(0, n_labels + 1, SHAPE)
    inside = np.flatnonzero(mask.ravel())
    labels.ravel()[inside[:n_labels]] = np.arange(1, n_labels + 1)
    labels[0, 0, 0] = -1
    return labels.astype(np.int16)


def build(root: Path) -> MiniNSD:
    """Write the miniature bucket's files under ``root`` (each at its key)."""
    root.mkdir(parents=True, exist_ok=True)
    mini = MiniNSD(root=root)
    mini.design = design()
    savemat(root / "design.mat", mini.design)
    mini.write("nsddata/experiments/nsd/nsd_expdesign.mat", (root / "design.mat").read_bytes())
    (root / "design.mat").unlink()
    info = pd.DataFrame({"Unnamed: 0": np.arange(N_BRICK), "cocoId": 1000 + np.arange(N_BRICK),
                         "cocoSplit": "train2017", "nsdId": np.arange(N_BRICK),
                         "shared1000": np.isin(np.arange(N_BRICK), SHARED)})
    mini.write("nsddata/experiments/nsd/nsd_stim_info_merged.csv", info.to_csv(index=False))
    affine = np.diag([1.8, 1.8, 1.8, 1.0])
    for subj in (1, 2):
        rng = np.random.default_rng(subj)
        general = np.ones(SHAPE, np.int16)
        general[0, 0, :] = -1
        general[3, 2, 1] = 0
        mini.save(f"nsddata/ppdata/subj{subj:02d}/func1pt8mm/roi/nsdgeneral.nii.gz", nib.Nifti1Image(general, affine))
        inside = general > 0
        mini.save(f"nsddata/ppdata/subj{subj:02d}/func1pt8mm/roi/prf-visualrois.nii.gz",
                  nib.Nifti1Image(volume_labels(rng, 7, inside), affine))
        mini.save(f"nsddata/ppdata/subj{subj:02d}/func1pt8mm/roi/floc-faces.nii.gz",
                  nib.Nifti1Image(volume_labels(rng, 5, inside), affine))
        mini.write(f"nsddata/freesurfer/subj{subj:02d}/label/prf-visualrois.mgz.ctab", ctab(PRF))
        mini.write(f"nsddata/freesurfer/subj{subj:02d}/label/floc-faces.mgz.ctab", ctab(FACES))
        mini.write(f"nsddata/freesurfer/subj{subj:02d}/label/HCP_MMP1.mgz.ctab", ctab(HCP))
        ncsnr = rng.uniform(0.0, 1.5, SHAPE).astype(np.float32)
        mini.save(f"nsddata_betas/ppdata/subj{subj:02d}/func1pt8mm/{BETAS}/ncsnr.nii.gz", nib.Nifti1Image(ncsnr, affine))
        signal = rng.standard_normal((N_BRICK,) + SHAPE)
        order = mini.design["masterordering"].ravel().astype(int) - 1
        ids = mini.design["subjectim"][subj - 1].astype(int) - 1
        for ses in range(1, N_SESSIONS + 1):
            trial_ids = ids[order[(ses - 1) * TPS: ses * TPS]]
            values = signal[trial_ids] * 2 + rng.standard_normal((TPS,) + SHAPE) + ses  # session offset
            betas = np.rint(np.moveaxis(values, 0, -1) * 300).astype(np.int16)
            mini.save(f"nsddata_betas/ppdata/subj{subj:02d}/func1pt8mm/{BETAS}/betas_session{ses:02d}.nii.gz",
                      nib.Nifti1Image(betas, affine))
    surface(mini)
    with h5py.File(root / "brick.hdf5", "w") as fh:
        fh.create_dataset("imgBrick", data=np.stack([image(i) for i in range(N_BRICK)]))
    mini.write("nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5", (root / "brick.hdf5").read_bytes())
    with h5py.File(root / "brick.hdf5", "w") as fh:
        fh.create_dataset("imgBrick", data=np.stack([image(i) for i in range(N_CHUNKED)]),
                          chunks=(1, 425, 425, 3), compression="gzip", compression_opts=1)
    mini.write("nsddata_stimuli/stimuli/nsd/nsd_stimuli_chunked.hdf5", (root / "brick.hdf5").read_bytes())
    (root / "brick.hdf5").unlink()
    return mini


def mgh(data: np.ndarray) -> nib.MGHImage:
    data = np.asarray(data)
    return nib.MGHImage(data.reshape(data.shape[0], 1, 1, *data.shape[1:]), np.eye(4))


def surface(mini: MiniNSD) -> None:
    """fsaverage5-sized surface files of subject 1 (float betas, native ROI labels + transform)."""
    rng = np.random.default_rng(11)
    order = mini.design["masterordering"].ravel().astype(int) - 1
    ids = mini.design["subjectim"][0].astype(int) - 1
    for h, n_in in (("lh", 200), ("rh", 150)):
        general = np.zeros(FS5, np.int32)
        general[:n_in] = 1
        mini.save(f"nsddata/freesurfer/fsaverage/label/{h}.nsdgeneral.mgz", mgh(general))
        hcp = rng.integers(0, 5, FS5).astype(np.int32)
        mini.save(f"nsddata/freesurfer/fsaverage/label/{h}.HCP_MMP1.mgz", mgh(hcp))
        native = rng.integers(0, 8, N_NATIVE).astype(np.int32)
        mini.save(f"nsddata/freesurfer/subj01/label/{h}.prf-visualrois.mgz", mgh(native))
        transform = rng.integers(1, N_NATIVE + 1, FS5).astype(np.int32)
        mini.save(f"nsddata/ppdata/subj01/transforms/{h}.white-to-fsaverage.mgz", mgh(transform))
        mini.save(f"nsddata_betas/ppdata/subj01/fsaverage/{BETAS}/{h}.ncsnr.mgh",
                  mgh(rng.uniform(0, 1, FS5).astype(np.float32)))
        signal = rng.standard_normal((N_BRICK, FS5)).astype(np.float32)
        for ses in range(1, N_SESSIONS + 1):
            trial_ids = ids[order[(ses - 1) * TPS: ses * TPS]]
            betas = (signal[trial_ids] + rng.standard_normal((TPS, FS5))).astype(np.float32).T
            mini.save(f"nsddata_betas/ppdata/subj01/fsaverage/{BETAS}/{h}.betas_session{ses:02d}.mgh", mgh(betas))


def public_policy_upload(endpoint: str, mini: MiniNSD) -> None:
    """Create the bucket and upload every file as a public-read object."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-2",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    for key in mini.keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=(mini.root / key).read_bytes(), ACL="public-read")


def coco_captions(path: Path) -> Path:
    anns = [{"id": 10 * i + j, "image_id": 1000 + i, "caption": f"image {i} caption {j}"}
            for i in range(N_BRICK) if i != 5 for j in (2, 1)]
    path.write_text(json.dumps({"annotations": anns}))
    return path


_SERVER: dict = {}


@pytest.fixture(scope="session")
def nsd_bucket(tmp_path_factory) -> MiniNSD:
    """A moto S3 server on 127.0.0.1 holding the miniature bucket (public-read objects).

    One server per test session, shared by every module that imports this fixture.
    """
    if "mini" in _SERVER:
        yield _SERVER["mini"]
        return
    from moto.server import ThreadedMotoServer

    mini = build(tmp_path_factory.mktemp("nsd_source") / "bucket")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    mini.endpoint = f"http://127.0.0.1:{port}"
    try:
        public_policy_upload(mini.endpoint, mini)
        _SERVER["mini"] = mini
        yield mini
    finally:
        _SERVER.pop("mini", None)
        server.stop()
