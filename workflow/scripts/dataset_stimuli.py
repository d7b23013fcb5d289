"""Write a dataset's stimulus table and files: the job of the dataset's kind (brainalign.datasets)."""

from brainalign.datasets import StimuliJob, kind
from brainalign.logs import snakemake_log

snakemake_log(snakemake)
job = snakemake.params.job
outputs = dict(snakemake.output.items())
kind(job["kind"]).prepare_stimuli(
    StimuliJob(
        raw_dir=job["raw_dir"],
        block=job["block"],
        subjects=list(job["subjects"]),
        table=outputs.pop("table"),
        files=outputs.pop("files"),
        inputs=dict(snakemake.input.items()),
        outputs=outputs,
    )
)
