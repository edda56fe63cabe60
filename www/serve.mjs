// Serves the page on 127.0.0.1: www/ at /, the wasm package (pkg/web) at /pkg/web/.
// Static files only; every response carries the same CSP as the page's meta tag.
// usage: node www/serve.mjs [PORT]   (PORT 0 picks a free one; the address is printed)
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const roots = [
  ['/pkg/web/', resolve(here, '..', 'pkg', 'web')],
  ['/', resolve(here)],
];
const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.ts': 'text/plain; charset=utf-8',
};
export const CSP =
  "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; " +
  "style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

async function resolvePath(url) {
  const path = decodeURIComponent(new URL(url, 'http://x').pathname);
  for (const [prefix, dir] of roots) {
    if (!path.startsWith(prefix)) continue;
    const rel = normalize(path.slice(prefix.length)) || 'index.html';
    const file = join(dir, rel === '.' ? 'index.html' : rel);
    if (!file.startsWith(dir + sep) && file !== dir) return null;
    try {
      const s = await stat(file);
      return s.isDirectory() ? join(file, 'index.html') : file;
    } catch {
      return null;
    }
  }
  return null;
}

const server = createServer(async (req, res) => {
  const file = req.method === 'GET' ? await resolvePath(req.url) : null;
  const body = file && (await readFile(file).catch(() => null));
  if (!body || file.endsWith('serve.mjs')) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    return;
  }
  res.writeHead(200, {
    'content-type': types[extname(file)] ?? 'application/octet-stream',
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-cache',
  });
  res.end(body);
});

const port = Number(process.argv[2] ?? process.env.PORT ?? 8080);
server.listen(port, '127.0.0.1', () => {
  console.log(`schtasks-detect page: http://127.0.0.1:${server.address().port}/`);
});
