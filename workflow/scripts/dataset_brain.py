"""Write one subject's brain store: the job of the dataset's kind (brainalign.datasets)."""

from brainalign.datasets import BrainJob, kind
from brainalign.logs import snakemake_log

snakemake_log(snakemake)
job = snakemake.params.job
kind(job["kind"]).prepare_brain(
    BrainJob(
        raw_dir=job["raw_dir"],
        block=job["block"],
        subject=snakemake.wildcards.subject,
        subjects=list(job["subjects"]),
        out=snakemake.output[0],
        inputs=dict(snakemake.input.items()),
    )
)
