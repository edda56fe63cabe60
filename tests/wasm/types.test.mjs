// The package's TypeScript declarations: no `any` in the public surface, and
// a consumer's code type-checks under --strict.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './helpers.mjs';

test('no any in the public declarations', () => {
  for (const dir of ['web', 'node']) {
    const dts = readFileSync(join(root, 'pkg', dir, 'schtasks_detect.d.ts'), 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/\/\/.*$/gm, '');
    assert.doesNotMatch(dts, /\bany\b/, dir);
    assert.match(dts, /export function detect\(events: RawEvent\[\], options\?: DetectOptions \| null\): DetectResult;/);
  }
});

test('a consumer type-checks with tsc --strict', () => {
  const tsc = join(root, 'node_modules', '.bin', 'tsc');
  execFileSync(tsc, ['--strict', '--noEmit', '--target', 'es2022', '--module', 'es2022', '--moduleResolution', 'bundler',
    '--lib', 'esnext,dom', join(root, 'tests/wasm/types/usage.ts')], { stdio: 'pipe' });
});
