"""A one-node SLURM cluster on loopback for the tests (Debian's slurmctld, slurmd, munge).

Everything lives in one scratch folder: its own munge key and socket, slurm.conf,
state, spool, logs and job-completion record, on free ports, so it neither needs
nor touches /etc/slurm or a system munged. Clients (sbatch, squeue, sacct, srun)
find it through ``SLURM_CONF``, which :meth:`LocalSlurm.env` sets.

The node declares more CPUs and memory than the machine has
(``SlurmdParameters=config_overrides``) so the cluster profile's requests (8 threads,
64 GB for encoding) are accepted; snakemake's ``--jobs`` bounds what really runs at once.
Partitions ``cpu`` (default) and ``gpu``; the node has one GRES ``gpu`` without a device
file, so ``--gpus=1`` is accepted and scheduled but no CUDA device exists.
Accounting: ``sacct`` reads slurmctld's job-completion file (``jobcomp/filetxt``,
``sacct --completion``; no slurmdbd/MariaDB), ``scontrol show job`` the resources
of each job; the executor plugin tracks jobs through ``squeue``
(``MinJobAge`` keeps finished jobs visible for it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sacct", "srun", "scontrol", "sinfo")
NODE = "brainalign-node"
NODE_CPUS = 8
NODE_MEM_MB = 131072


def missing_programs() -> list[str]:
    """SLURM/munge programs this machine lacks (apt: slurmctld slurmd munge slurm-client)."""
    return [p for p in DAEMONS + CLIENTS if shutil.which(p) is None]


def skip_reason() -> str | None:
    """Why a local cluster cannot start here, or None."""
    missing = missing_programs()
    if missing:
        return (f"local SLURM cluster needs {', '.join(missing)} "
                "(apt-get install slurmctld slurmd munge slurm-client; `make test` does this as root)")
    if os.geteuid() != 0:
        return "local SLURM cluster needs root (slurmd launches job steps as the submitting user)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def slurm_conf(root: Path, ctld_port: int, slurmd_port: int, munge_socket: Path) -> str:
    """slurm.conf of the one-node cluster under ``root``."""
    return f"""\
ClusterName=brainalign
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=debug
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=3600
SchedulerParameters=sched_interval=1,bf_interval=1
MessageTimeout=30
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={root}/jobcomp.txt
GresTypes=gpu
NodeName={NODE} NodeHostname=localhost NodeAddr=127.0.0.1 CPUs={NODE_CPUS} RealMemory={NODE_MEM_MB} Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes={NODE} MaxTime=INFINITE State=UP
"""


class LocalSlurm:
    """Start and stop the cluster; ``env`` is the environment its clients need."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.procs: list[subprocess.Popen] = []
        self.conf = self.root / "slurm.conf"
        self.munge_socket = self.root / "munge" / "munge.socket"

    @property
    def env(self) -> dict[str, str]:
        path = f"{self.root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        return {**os.environ, "SLURM_CONF": str(self.conf), "PATH": path}

    def _write_files(self) -> None:
        for sub in ("state", "spool", "munge"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root / "munge", 0o700)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o400)
        self.conf.write_text(slurm_conf(self.root, free_port(), free_port(), self.munge_socket))
        srun = self.root / "bin" / "srun"
        srun.parent.mkdir(exist_ok=True)
        srun.write_text(f"#!/bin/sh\nSLURM_CONF={self.conf} exec {shutil.which('srun')} \"$@\"\n")
        srun.chmod(0o755)
        (self.root / "gres.conf").write_text(f"NodeName={NODE} Name=gpu File=/dev/null\n")

    def _spawn(self, *cmd: str) -> None:
        log = open(self.root / f"{Path(cmd[0]).name}.out", "ab")
        self.procs.append(subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True))

    def start(self, timeout: float = 60) -> "LocalSlurm":
        self._write_files()
        m = self.root / "munge"
        self._spawn("munged", "--foreground", "--force", f"--socket={self.munge_socket}",
                    f"--key-file={m / 'munge.key'}", f"--pid-file={m / 'munged.pid'}",
                    f"--log-file={m / 'munged.log'}", f"--seed-file={m / 'munged.seed'}")
        self._wait(lambda: self.munge_socket.exists(), timeout, "munged socket")
        self._spawn("slurmctld", "-D", "-i", "-f", str(self.conf))
        self._wait(lambda: self._ok("scontrol", "ping"), timeout, "slurmctld")
        self._spawn("slurmd", "-D", "-N", NODE, "-f", str(self.conf))
        self._wait(self._node_idle, timeout, "slurmd (node idle)")
        return self

    def _ok(self, *cmd: str) -> bool:
        return subprocess.run(cmd, env=self.env, capture_output=True).returncode == 0

    def run(self, *cmd: str) -> str:
        """Output of a SLURM client command against this cluster."""
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, check=True).stdout

    def _node_idle(self) -> bool:
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], env=self.env,
                             capture_output=True, text=True).stdout
        return "idle" in out

    def _wait(self, ready, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if ready():
                return
            dead = [p.args[0] for p in self.procs if p.poll() is not None]
            if dead:
                break
            time.sleep(0.5)
        raise RuntimeError(f"local SLURM cluster: {what} not ready; logs in {self.root}: "
                           + self.logs_tail())

    def logs_tail(self, n: int = 2000) -> str:
        parts = []
        for f in sorted(self.root.glob("*.log")) + sorted(self.root.glob("*.out")):
            parts.append(f"--- {f.name}\n{f.read_text(errors='replace')[-n:]}")
        return "\n".join(parts)

    def completed_jobs(self) -> list[dict[str, str]]:
        """Finished jobs as ``sacct --completion`` reports them (name, partition, state, ...)."""
        fields = "jobid,jobname,partition,state,alloccpus,elapsed"
        out = self.run("sacct", "--completion", "--allusers", "--parsable2", "--noheader",
                       f"--format={fields}")
        keys = fields.split(",")
        return [dict(zip(keys, line.split("|"))) for line in out.splitlines() if line.strip()]

    def job_record(self, jobid: str) -> dict[str, str]:
        """slurmctld's record of one job (``scontrol show job``: Partition, TRES, ...);
        ``sacct --completion`` does not read TRES back from the completion file."""
        out = self.run("scontrol", "-o", "show", "job", jobid)
        return dict(tok.split("=", 1) for tok in out.split() if "=" in tok)

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs.clear()
