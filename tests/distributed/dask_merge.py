"""Partial results on an existing distributed engine (issue 9): a Dask
distributed cluster (a local cluster of worker processes: the API of a real
one) maps groups of inputs to partial results with the CLI, reduces them with
`schtasks-detect merge` (pairwise to partials, then to the report), and the
report must equal one run over the same inputs, byte for byte.

usage: python3 dask_merge.py BINARY INPUT...
"""

import subprocess
import sys
import tempfile
from pathlib import Path

RULES = ["--rules", "all"]


def partial(binary, inputs, out_dir, name):
    """Map: one group of inputs to a partial result file (on a worker)."""
    out = Path(out_dir) / f"{name}.partial.json"
    with open(out, "wb") as f:
        code = subprocess.run([binary, "--partial", *RULES, *inputs], stdout=f,
                              stderr=subprocess.DEVNULL).returncode
    assert code in (0, 1), f"{inputs}: exit {code}"
    return str(out)


def merge(binary, partials, out_dir, name, final):
    """Reduce: partials, in input order, to one partial, or to the report."""
    args = [binary, "merge", *RULES]
    args += ["--format", "json"] if final else ["--partial"]
    out = Path(out_dir) / (f"{name}.json" if final else f"{name}.partial.json")
    with open(out, "wb") as f:
        code = subprocess.run([*args, *partials], stdout=f, stderr=subprocess.PIPE).returncode
    assert code in (0, 1), f"merge {partials}: exit {code}"
    return str(out)


def main():
    binary, inputs = sys.argv[1], sys.argv[2:]
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        print("dask_merge: SKIPPED: dask[distributed] is not installed (make setup installs it)")
        return 0
    whole = subprocess.run([binary, "--format", "json", *RULES, "--threads", "1", *inputs],
                           capture_output=True).stdout
    with tempfile.TemporaryDirectory() as tmp, \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address=None) as cluster, Client(cluster) as client:
        # One task per input; the reduction tree merges neighbours into
        # partials, then the last level into the report.
        level = client.map(partial, [binary] * len(inputs), [[i] for i in inputs],
                           [tmp] * len(inputs), [f"p{i}" for i in range(len(inputs))])
        depth = 0
        while len(level) > 2:
            depth += 1
            pairs = [level[i:i + 2] for i in range(0, len(level), 2)]
            level = [client.submit(merge, binary, pair, tmp, f"m{depth}-{j}", False)
                     for j, pair in enumerate(pairs)]
        report = client.submit(merge, binary, level, tmp, "report", True).result()
        merged = Path(report).read_bytes()
        workers = len(client.scheduler_info()["workers"])
    assert merged == whole, "the distributed report differs from the single run"
    assert b'"results"' in merged and len(merged) > 10_000
    print(f"dask_merge: {len(inputs)} inputs on {workers} Dask workers, "
          f"{depth} merge levels: the report equals the single run ({len(whole)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
