"""How long ganlab takes before it does anything: help, listing plugins, an error, the first step;
and how long the whole theory check takes (target: `ganlab verify` of every built-in under a minute
on 2 cores, a figure and not a test: a busy machine would fail a timed test).

Each command runs as a fresh process (what a user waits for), a few times;
the median is printed.

    python benchmarks/startup.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def timed(cmd: list[str], env: dict, until: str | None = None) -> float:
    """Seconds until the process exits, or until ``until`` appears on its stdout."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    if until:
        for line in proc.stdout:
            if until in line:
                elapsed = time.perf_counter() - t0
                proc.kill()
                proc.wait()
                return elapsed
    proc.communicate()
    return time.perf_counter() - t0


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    env = {**os.environ, "GANLAB_OFFLINE": "1"}
    ganlab = [sys.executable, "-m", "ganlab"]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        cases = {
            "ganlab --help": (ganlab + ["--help"], None),
            "ganlab plugins": (ganlab + ["plugins"], None),
            "ganlab run with an unknown plugin (error)": (ganlab + ["run", "--plugin", "nope"], None),
            "ganlab run --plugin lsgan to its first metrics row": (
                None, "step 10/"),
            "ganlab verify --plugin gan": (ganlab + ["verify", "--plugin", "gan"], None),
            "ganlab verify (every built-in plugin)": (ganlab + ["verify"], None),
        }
        for name, (cmd, until) in cases.items():
            times = []
            for i in range(args.repeat):
                if cmd is None:
                    run = ganlab + ["run", "--plugin", "lsgan", "--quiet", "--steps", "200", "--log-every", "10",
                                    "--out", os.path.join(tmp, f"r{i}")]
                    times.append(timed(run, env, until))
                else:
                    times.append(timed(cmd, env, until))
            results[name] = statistics.median(times)
            print(f"{results[name]:6.2f} s  {name}")
    return results


if __name__ == "__main__":
    main()
