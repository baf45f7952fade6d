import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const ROOT = new URL('../../', import.meta.url).pathname;

/**
 * `npm run build`: compiles src/ to dist/, which `npm start`, the image and `npx breakglass` run.
 * Tests that start the bot as a process run what operators run, so they build first (tsc is
 * incremental: a second build only re-checks).
 */
export function buildDist(): void {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const out = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`npm run build failed:\n${out.stdout}${out.stderr}`);
}

/** For vitest's globalSetup (the chaos suite). */
export default function setup(): void {
  buildDist();
}
