import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBundle } from '../../src/start.ts';

/**
 * A bundle in a temporary directory; `value` is what it exports. Each has a source of its own: V8
 * keeps what this process compiled by source, and would answer a second compilation from that.
 */
function bundleOf(value: number): string {
  const file = join(mkdtempSync(join(tmpdir(), 'bg-start-')), 'bot.cjs');
  writeFileSync(file, sourceOf(value, file));
  return file;
}

function sourceOf(value: number, file: string): string {
  return `(function (exports, require, module, __filename, __dirname) { module.exports.value = ${value}; module.exports.dir = __dirname; // ${file}\n})`;
}

describe('loading the bundle with its code cache', () => {
  it('runs the bundle as CommonJS, and a new process runs it from a cache made of it', () => {
    const bundle = bundleOf(1111);
    const cache = `${bundle}.cache`;
    const first = loadBundle(bundle, cache);
    expect(first.codeCache).toBe('absent');
    expect(first.exports).toEqual({ value: 1111, dir: join(bundle, '..') });
    writeFileSync(cache, first.cacheFile());
    // Not in this process: V8 would answer from what it compiled here and never read the cache.
    const second = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', `import { loadBundle } from './src/start.ts'; const l = loadBundle(${JSON.stringify(bundle)}, ${JSON.stringify(cache)}); process.stdout.write(JSON.stringify({ codeCache: l.codeCache, value: l.exports.value }));`],
      { cwd: new URL('../../', import.meta.url).pathname, encoding: 'utf8' },
    );
    const loaded = JSON.parse(second.stdout || '{}') as { codeCache?: string; value?: number };
    expect(loaded.codeCache, second.stderr).toBe('used');
    expect(loaded.value).toBe(1111);
  });

  it('never runs the cached code of another bundle, even one of the same length (V8 compares only lengths)', () => {
    const bundle = bundleOf(1111);
    const cache = `${bundle}.cache`;
    writeFileSync(cache, loadBundle(bundle, null).cacheFile());
    writeFileSync(bundle, sourceOf(2222, bundle));
    const loaded = loadBundle(bundle, cache);
    expect(loaded.codeCache).toBe('stale');
    expect(loaded.exports.value).toBe(2222);
  });

  it('compiles from the source when V8 refuses the cache', () => {
    const bundle = bundleOf(1111);
    const cache = `${bundle}.cache`;
    // The bundle's digest, then data V8 cannot use (as from another Node version or other flags).
    const digest = createHash('sha256').update(readFileSync(bundle)).digest();
    writeFileSync(cache, Buffer.concat([digest, Buffer.alloc(4096, 7)]));
    const loaded = loadBundle(bundle, cache);
    expect(loaded.codeCache).toBe('rejected');
    expect(loaded.exports.value).toBe(1111);
  });

  it('says to build when the bundle is missing', () => {
    expect(() => loadBundle(join(tmpdir(), 'no-such-dir', 'bot.cjs'), null)).toThrow(/run `npm run build` first/);
  });
});
