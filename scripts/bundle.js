// `npm run build`'s second step, after tsc: bundles the bot (src/main.ts and its dependencies) into
// dist/bot.cjs and writes the V8 code cache that dist/start.js loads it with (docs/architecture.md,
// "Start-up"). tsc's dist/ stays as it is: the CLI and `node dist/main.js` run it.
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync } from 'node:fs';
import { URL } from 'node:url';
import { build } from 'esbuild';

const ROOT = new URL('../', import.meta.url).pathname;
const OUT = `${ROOT}dist/bot.cjs`;

// No cache of an earlier bundle stays behind if this build fails (start.js would refuse it anyway:
// the cache names the bundle's digest).
rmSync(`${OUT}.cache`, { force: true });

await build({
  entryPoints: [`${ROOT}src/main.ts`],
  outfile: OUT,
  bundle: true,
  platform: 'node',
  target: 'node20',
  // CommonJS: Node 20 keeps a code cache only for scripts (vm.Script), not for ES modules.
  format: 'cjs',
  // The embedded store's LevelDB binding is native; dynalite loads it from node_modules.
  external: ['dynalite'],
  // import() of a package or built-in becomes require(): vm.Script code has no module loader.
  supported: { 'dynamic-import': false },
  // The file is the function CommonJS would wrap it in, which start.js compiles as it is.
  banner: { js: "(function (exports, require, module, __filename, __dirname) {const __bundle_url = require('node:url').pathToFileURL(__filename).href;" },
  footer: { js: '})' },
  define: { 'import.meta.url': '__bundle_url' },
  // Comments and whitespace out (a third less to read at every start); names stay, so stack
  // traces still name the functions and classes they pass through. (No source map: Node applies
  // none to code compiled with vm.Script.) Licences go to bot.cjs.LEGAL.txt.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'external',
  charset: 'ascii',
  logLevel: 'warning',
});

// start.js reads the bundle as latin1, which is exact only for ASCII.
const bytes = readFileSync(OUT);
const wide = bytes.findIndex((b) => b > 0x7f);
if (wide !== -1) throw new Error(`dist/bot.cjs has a non-ASCII byte at offset ${wide}; start.js reads it as latin1`);

// The sandbox's page, next to the modules that serve it (dist/sandbox/run.js and the bundle look there).
cpSync(`${ROOT}src/sandbox/page`, `${ROOT}dist/sandbox/page`, { recursive: true });

// V8 accepts a code cache only from a process with the same flags: npm start's.
const { scripts } = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8'));
const [node, ...args] = scripts.start.split(' ');
if (node !== 'node' || args.at(-1) !== 'dist/start.js') throw new Error(`npm start is not "node [flags] dist/start.js": ${scripts.start}`);
const cache = spawnSync(process.execPath, [...args, '--write-code-cache'], { cwd: ROOT, stdio: 'inherit' });
if (cache.status !== 0) throw new Error('writing dist/bot.cjs.cache failed');
