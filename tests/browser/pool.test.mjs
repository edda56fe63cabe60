// The page's worker pool in Chromium: files and the pieces of large ones read
// by several workers, partial results merged in input order, must give what
// one worker gives, byte for byte, on every corpus file and at awkward piece
// boundaries; and the 500 MB figure, pool against one worker, in one run.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { basename, join } from 'node:path';
import { once } from 'node:events';
import { corpus, data, hasData, root } from '../wasm/helpers.mjs';
import { hostileJsonLines, writeLog } from './logs.mjs';

const CHROMIUM = '/usr/bin/chromium';
const out = join(root, 'test-output');
mkdirSync(out, { recursive: true });

async function startServer() {
  const server = spawn(process.execPath, [join(root, 'www/serve.mjs'), '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(server.stdout, 'data');
  return { server, url: line.toString().match(/http:\/\/\S+/)[0] };
}

/** Opens the page with `query`, picks `rules`, reads `files`; returns the result, the run's figures and the status. */
async function readWith(context, url, query, files, rules = 'flagship') {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  let loaded = false;
  const late = [];
  // On the context: it sees the workers' requests too.
  const onRequest = (r) => { if (loaded && !/^(blob|data):/.test(r.url())) late.push(r.url()); };
  context.on('request', onRequest);
  await page.goto(`${url}?${query}`);
  await page.waitForSelector('body[data-ready=true]');
  loaded = true; // every worker of the pool has its engine: nothing more is fetched
  if (rules !== 'flagship') await page.selectOption('#rules', rules); // no files yet: nothing runs
  await page.setInputFiles('#file-input', files);
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state), null, { timeout: 600000 });
  const status = await page.textContent('#status');
  assert.equal(await page.evaluate(() => document.body.dataset.state), 'done', status);
  const got = await page.evaluate(() => ({ result: JSON.stringify(window.__schtasks.result), run: window.__schtasks.lastRun }));
  assert.deepEqual(errors, []);
  context.off('request', onRequest);
  assert.deepEqual(late, [], 'no request after load');
  await page.close();
  return { ...got, status };
}

test('the page\'s worker pool gives one worker\'s result, byte for byte', { timeout: 1800000 }, async (t) => {
  if (!existsSync(CHROMIUM)) return t.skip('/usr/bin/chromium is missing (sudo apt-get install chromium)');
  const { chromium } = await import('playwright-core');
  const { server, url } = await startServer();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  try {
    const context = await browser.newContext();

    await t.test('every corpus file, cut in 64 KiB pieces on 3 workers, flagship and every ESCU rule', async (t) => {
      if (!hasData) return t.skip('../shared/data is absent');
      const files = corpus().map((f) => join(data, f));
      assert.ok(files.length > 90);
      for (const rules of ['flagship', 'all']) {
        const one = await readWith(context, url, 'workers=1', files, rules);
        const pool = await readWith(context, url, 'workers=3&pieceBytes=65536&wholeBelow=0', files, rules);
        assert.equal(one.run.workers, 1);
        assert.equal(pool.run.workers, 3);
        assert.match(pool.status, /on 3 workers/);
        assert.ok(one.result.length > 1000);
        assert.equal(pool.result, one.result, `${rules}: the pool's result is one worker's`);
      }
    });

    await t.test('hostile JSON lines cut at 1, 50 and 4096 bytes, every rule', async () => {
      const file = join(out, 'hostile-pieces.json');
      writeFileSync(file, hostileJsonLines());
      const one = await readWith(context, url, 'workers=1', [file], 'all');
      const parsed = JSON.parse(one.result);
      assert.ok(parsed.stats.errors > 20 && parsed.rows.length > 0, one.result.slice(0, 300));
      for (const piece of [1, 50, 4096]) {
        const pool = await readWith(context, url, `workers=4&pieceBytes=${piece}&wholeBelow=0`, [file], 'all');
        assert.equal(pool.result, one.result, `pieces of ${piece} bytes`);
      }
    });

    await t.test('every container and odd file, cut at 1 byte and 100 KB: one worker\'s result', async () => {
      const dir = join(out, 'odd-files');
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'empty.json'), '');
      writeFileSync(join(dir, 'bom-only.json'), Buffer.from([0xef, 0xbb, 0xbf]));
      for (const f of ['crowdstrike_remote_schtasks.ndjson', 'sysmon_eventid_1.example_log.xml', 'hardening/raw_event_in_json_string.ndjson',
        'hardening/raw_column_single.csv', 'fuzz/json_reader-starved-timeout', 'fuzz/gzip_reader-starved-timeout', 'fuzz/container-sniff-quadratic']) {
        copyFileSync(join(root, 'tests/fixtures', f), join(dir, basename(f)));
      }
      if (hasData) {
        const seed = readFileSync(join(data, 'attack_data/datasets/attack_techniques/T1053.005/atomic_red_team/attack_data.txt'));
        writeFileSync(join(dir, 'crlf.json'), Buffer.from(seed.subarray(0, 3e6).toString('latin1').replaceAll('\n', '\r\n'), 'latin1'));
        writeFileSync(join(dir, 'no-final-newline.json'), seed.subarray(0, 2e6).toString('latin1').trimEnd(), 'latin1');
        writeFileSync(join(dir, 'utf16.json'), Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(seed.subarray(0, 1e6).toString('utf8'), 'utf16le')]));
        writeFileSync(join(dir, 'seed.json.gz'), gzipSync(seed.subarray(0, 2e6)));
      }
      const files = readdirSync(dir).map((f) => join(dir, f));
      for (const set of [files, ...files.map((f) => [f])]) {
        const one = await readWith(context, url, 'workers=1', set);
        for (const piece of [1, 100000]) {
          const pool = await readWith(context, url, `workers=3&wholeBelow=0&pieceBytes=${piece}`, set);
          assert.equal(pool.result, one.result, `${set.length > 1 ? 'all together' : basename(set[0])}, pieces of ${piece}`);
        }
      }
    });

    await t.test('500 MB: the pool against one worker, MB/s and peak wasm memory', async (t) => {
      const big = join(out, 'generated-500mb.json');
      const { lines, hits } = await writeLog(big, 500e6);
      const mb = statSync(big).size / 1e6;
      const one = await readWith(context, url, 'workers=1', [big]);
      const pool = await readWith(context, url, '', [big]); // the default: every core, up to 8
      assert.equal(pool.result, one.result);
      const r = JSON.parse(pool.result);
      assert.equal(r.stats.events, lines);
      assert.equal(r.stats.matched, hits);
      for (const run of [one.run, pool.run]) assert.ok(run.peakMemory < 256 * 1024 * 1024, `peak wasm memory ${run.peakMemory}`);
      t.diagnostic(`500 MB in Chromium: one worker ${(mb / one.run.seconds).toFixed(0)} MB/s (${one.run.seconds.toFixed(2)} s, peak wasm ${(one.run.peakMemory / 1048576).toFixed(0)} MiB); ` +
        `pool of ${pool.run.workers} ${(mb / pool.run.seconds).toFixed(0)} MB/s (${pool.run.seconds.toFixed(2)} s, peak wasm ${(pool.run.peakMemory / 1048576).toFixed(0)} MiB in all); ` +
        `${(one.run.seconds / pool.run.seconds).toFixed(2)}x; ${pool.run.timing.jobs} jobs, workers busy ${(pool.run.timing.utilisation * 100).toFixed(0)}% of the time, `
        + `cutting done at ${pool.run.timing.cutSeconds.toFixed(2)} s`);
    });

    await t.test('cancel stops every worker; the next run is whole', async () => {
      const big = join(out, 'generated-500mb.json');
      const page = await context.newPage();
      await page.goto(`${url}?workers=2`);
      await page.waitForSelector('body[data-ready=true]');
      await page.setInputFiles('#file-input', big);
      await page.waitForFunction(() => Number(document.getElementById('progress-box').dataset.fraction || 0) > 0.05);
      await page.click('#cancel');
      await page.waitForFunction(() => document.body.dataset.state === 'cancelled');
      assert.match(await page.textContent('#status'), /Cancelled after/);
      await page.click('#sample');
      await page.waitForFunction(() => document.body.dataset.state === 'done');
      assert.match(await page.textContent('#status'), /on 2 workers/);
      const sample = await page.evaluate(() => window.__schtasks.result.stats.matched);
      assert.ok(sample > 0);
      await page.close();
    });

  } finally {
    await browser.close();
    server.kill();
  }
});
