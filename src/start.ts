/**
 * What `npm start` and the image run. The bot ships as one bundled file, dist/bot.cjs (src/main.ts
 * with its dependencies, written by `npm run build`), and the V8 code cache the build made of it,
 * dist/bot.cjs.cache: start-up reads two files instead of resolving and reading about a thousand
 * modules, and compiles none of them again (docs/architecture.md, "Start-up").
 *
 * `node <flags> dist/start.js --write-code-cache` is the build's last step. V8 accepts a cache only
 * from the same Node version with the same V8 flags, so the build runs this file with `npm start`'s
 * flags; started otherwise, the bot compiles as usual and says so (`codeCache` on `bot.started`).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Script } from 'node:vm';

/**
 * How the bundle was compiled: from the build's code cache (`used`), or from its source because
 * there is no cache (`absent`), the cache is of another bundle (`stale`), or V8 refused it
 * (`rejected`: another Node version, or other V8 flags than `npm start`'s).
 */
export type CodeCache = 'used' | 'rejected' | 'stale' | 'absent';

/** The cache file: the SHA-256 of the bundle it was made from, then V8's data. */
const DIGEST_BYTES = 32;

export interface LoadedBundle {
  exports: Record<string, unknown>;
  codeCache: CodeCache;
  /** The code cache of this compilation, as the cache file holds it (V8 adds what has run since). */
  cacheFile(): Buffer;
}

/**
 * Compiles and runs a bundle, with its code cache when `cache` names one. The bundle is one
 * function expression taking CommonJS's arguments (`(function (exports, require, module,
 * __filename, __dirname) {…})`, as scripts/bundle.js writes it), so V8 gets the file's text as it
 * is. V8 checks a cache's version and flags but of the source only its length, and would run the
 * cached code of another bundle of the same length: the digest binds the cache to the bundle's bytes.
 */
export function loadBundle(bundle: string, cache: string | null): LoadedBundle {
  if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run \`npm run build\` first`);
  const bytes = readFileSync(bundle);
  const digest = createHash('sha256').update(bytes).digest();
  let cachedData: Buffer | undefined;
  let codeCache: CodeCache = 'absent';
  if (cache !== null && existsSync(cache)) {
    const file = readFileSync(cache);
    if (file.subarray(0, DIGEST_BYTES).equals(digest)) cachedData = file.subarray(DIGEST_BYTES);
    else codeCache = 'stale';
  }
  // The build checks that the bundle is ASCII, so latin1 decodes it exactly, and faster than utf8.
  const script = new Script(bytes.toString('latin1'), { filename: bundle, ...(cachedData ? { cachedData } : {}) });
  if (cachedData) codeCache = script.cachedDataRejected ? 'rejected' : 'used';
  const module = { exports: {} as Record<string, unknown> };
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  wrapper.call(module.exports, module.exports, createRequire(bundle), module, bundle, dirname(bundle));
  return { exports: module.exports, codeCache, cacheFile: () => Buffer.concat([digest, script.createCachedData()]) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const bundle = fileURLToPath(new URL('./bot.cjs', import.meta.url));
  const cache = `${bundle}.cache`;
  if (process.argv[2] === '--write-code-cache') {
    // Loading the bundle runs every module's top level, which is most of what start-up compiles;
    // nothing starts (the bundle runs the bot only through main()).
    writeFileSync(cache, loadBundle(bundle, null).cacheFile());
  } else {
    const loaded = loadBundle(bundle, cache);
    (loaded.exports as { main(info: { codeCache: CodeCache }): void }).main({ codeCache: loaded.codeCache });
  }
}
