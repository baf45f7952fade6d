import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const ROOT = new URL('../../', import.meta.url).pathname;

/**
 * `npm run build`: compiles src/ to dist/ and bundles the bot into dist/bot.cjs with its code
 * cache, which `npm start`, the image and `npx breakglass` run. Tests that start the bot as a
 * process run what operators run, so they build first (tsc is incremental: a second build only
 * re-checks).
 */
export function buildDist(): void {
  const out = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`npm run build failed:\n${out.stdout}${out.stderr}`);
}

/**
 * The arguments `npm start` gives node (the image's CMD is the same command, test/infra/artifacts.test.ts):
 * the V8 flags, then dist/start.js. Tests and the bench start the bot exactly so.
 */
export function startArgs(): string[] {
  const { scripts } = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { scripts: { start: string } };
  const [node, ...args] = scripts.start.split(' ');
  if (node !== 'node' || args.at(-1) !== 'dist/start.js') throw new Error(`npm start is not "node [flags] dist/start.js": ${scripts.start}`);
  return args;
}

/** For vitest's globalSetup (the chaos suite). */
export default function setup(): void {
  buildDist();
}
