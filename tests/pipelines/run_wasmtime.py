"""Runs the WASI build under PyPI's wasmtime (a second real runtime).

usage: run_wasmtime.py MODULE DIR ARG...   (DIR is preopened as /data; stdout is printed)
Exit status 77 when the wasmtime package is not installed.
"""
import os
import sys
import tempfile

try:
    import wasmtime
except ImportError:
    sys.exit(77)

module, data_dir, *args = sys.argv[1:]
engine = wasmtime.Engine()
store = wasmtime.Store(engine)
linker = wasmtime.Linker(engine)
linker.define_wasi()
with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "stdout")
    cfg = wasmtime.WasiConfig()
    cfg.argv = ["schtasks-detect", *args]
    cfg.preopen_dir(data_dir, "/data")
    cfg.stdout_file = out
    cfg.inherit_stderr()
    store.set_wasi(cfg)
    instance = linker.instantiate(store, wasmtime.Module.from_file(engine, module))
    code = 0
    try:
        instance.exports(store)["_start"](store)
    except wasmtime.ExitTrap as e:
        code = e.code
    sys.stdout.write(open(out, encoding="utf-8").read())
    sys.exit(code)
