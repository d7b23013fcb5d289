# TEMPORARY fake extractor for local pipeline testing (not committed)
import numpy as np, pandas as pd, xarray as xr
from pathlib import Path
from PIL import Image
from brainalign.stores import write_store
from brainalign.logs import snakemake_log
snakemake_log(snakemake)
m = snakemake.params.model; instr = snakemake.params.instruction
df = pd.read_csv(snakemake.input.stimuli, sep="\t", keep_default_na=False)
root = Path(snakemake.input.stimuli).parent
rng = np.random.default_rng(abs(hash(m)) % 1000)
if m in ("vit-tiny", "llava-tiny"):
    rows = df[df.modality == "image"] if (df.modality == "image").any() else df[df.modality == "frame"]
    x = np.stack([np.asarray(Image.open(root / p).resize((16, 16))).ravel() / 255.0 for p in rows.path])
elif m == "minilm":
    rows = df[df.modality == "word"] if (df.modality == "word").any() else df[df.modality == "image"]
    vocab = {}
    emb = rng.standard_normal((1000, 64))
    x = np.stack([np.mean([emb[hash(w) % 1000] for w in t.split()], 0) for t in rows.text])
else:
    import wave
    rows = df[df.modality == "audio"]
    def spec(p):
        with wave.open(str(root / p)) as w:
            a = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2") / 32767
        return np.log1p(np.abs(np.fft.rfft(a))[:4000].reshape(40, -1).mean(1))
    x = np.stack([spec(p) for p in rows.path])
layers = []
h = x
for l in range(5):
    W = rng.standard_normal((h.shape[1], 48)) / np.sqrt(h.shape[1])
    h = np.tanh(h @ W * 2)
    layers.append(h)
f = np.stack(layers).astype("float32")
ds = xr.Dataset({"features": (("layer", "stimulus", "unit"), f)},
    coords={"layer": np.arange(5), "stimulus_id": ("stimulus", rows.stimulus_id.values),
            "run": ("stimulus", rows.run.values.astype(str)), "onset": ("stimulus", pd.to_numeric(rows.onset, errors="coerce").values),
            "duration": ("stimulus", pd.to_numeric(rows.duration, errors="coerce").values), "modality": ("stimulus", rows.modality.values)},
    attrs={"model": m, "instruction": instr})
write_store(ds, snakemake.output[0], "features")
