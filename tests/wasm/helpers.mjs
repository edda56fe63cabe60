// Shared by the Node tests: the wasm package, the native CLI, the corpus.
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const require = createRequire(import.meta.url);
export const wasm = require(join(root, 'pkg/node/index.js'));
export const cli = join(root, 'target/release/schtasks-detect');
export const data = join(root, '..', 'shared', 'data');
export const hasData = existsSync(join(data, 'EXPECTED.json'));

/** The corpus files of EXPECTED.json, relative to ../shared/data. */
export function corpus() {
  return hasData ? Object.keys(JSON.parse(readFileSync(join(data, 'EXPECTED.json'), 'utf8'))) : [];
}

/** The native CLI's --format json for files given as `name` (cwd = data). */
export function nativeJson(args, cwd = data) {
  let out;
  try {
    out = execFileSync(cli, ['--format', 'json', ...args], { cwd, maxBuffer: 1 << 28 });
  } catch (e) {
    out = e.stdout; // exit status 1 still prints the results
  }
  return JSON.parse(out.toString());
}

/** A plain-JSON copy (what JSON.stringify would give), for deep equality. */
export const plain = (v) => JSON.parse(JSON.stringify(v));

export function feed(detector, bytes, name, piece = 64 * 1024) {
  for (let i = 0; i < bytes.length; i += piece) detector.push(bytes.subarray(i, i + piece), name);
  detector.endFile();
}
