// Runs the WASI command under node:wasi in its own process: node:wasi (Node 20)
// aborts when a GC during a fast API call to fd_write frees the WASI object in
// use, which large runs trigger; the caller passes --no-turbo-fast-api-calls.
// Usage: node [flags] run_node_wasi.mjs MODULE DIR ARGS...   (DIR is /data)
import { WASI } from 'node:wasi';
import { readFileSync } from 'node:fs';

const [module, dir, ...args] = process.argv.slice(2);
const wasi = new WASI({ version: 'preview1', args: ['schtasks-detect', ...args], env: {}, preopens: { '/data': dir }, returnOnExit: true });
const instance = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(module)), wasi.getImportObject());
process.exitCode = wasi.start(instance);
