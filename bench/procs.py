"""The measured server processes: a server master (Granian or gunicorn) with its workers, or the peer."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass
class Server:
    """A server master (Granian or gunicorn) with its workers."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def processes(self) -> list[psutil.Process]:
        master = psutil.Process(self.proc.pid)
        return [master, *master.children(recursive=True)]

    def workers(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def cpu_seconds(self) -> float:
        return cpu_of(self.processes())


def cpu_of(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total
