/**
 * The long chaos run, started by hand:
 *
 *   node --import tsx test/soak/soak.ts [--seed N] [--lifecycles N] [--replicas N]
 *        [--concurrency N] [--faults] [--max-minutes N]
 *
 * Drives many request → approval → grant → expiry/end → revoke lifecycles
 * through signed Slack requests against real bot processes (sharing one
 * dynalite table) while a seeded monkey SIGKILLs and restarts them, then
 * checks every invariant of the chaos suite (test/chaos/invariants.ts) and
 * prints a summary. Everything listens on 127.0.0.1. Bounded: at most
 * --lifecycles (≤ 500) lifecycles and --max-minutes (default 20) of wall time.
 * Exit status: 0 clean, 1 invariant violations, 2 bad arguments or the time bound hit.
 */
import { parseArgs } from 'node:util';
import { runKillRestart } from '../chaos/kill-restart.ts';
import { chaosSeed } from '../chaos/prng.ts';

const out = (line: string) => process.stdout.write(`${line}\n`);

function intOption(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    process.stderr.write(`--${name} must be a whole number from ${min} to ${max} (got "${value}")\n`);
    process.exit(2);
  }
  return n;
}

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    lifecycles: { type: 'string' },
    replicas: { type: 'string' },
    concurrency: { type: 'string' },
    faults: { type: 'boolean', default: false },
    'max-minutes': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
  strict: true,
});
if (values.help) {
  out('usage: node --import tsx test/soak/soak.ts [--seed N] [--lifecycles N] [--replicas N] [--concurrency N] [--faults] [--max-minutes N]');
  process.exit(0);
}

const seed = values.seed !== undefined ? intOption('seed', values.seed, 0, 0, 0xffffffff) : chaosSeed(process.env, 'soak');
if (values.seed !== undefined) process.stderr.write(`[soak] seed ${seed} (replay with --seed ${seed})\n`);
const lifecycles = intOption('lifecycles', values.lifecycles, 40, 1, 500);
const replicas = intOption('replicas', values.replicas, 1, 1, 4);
const concurrency = intOption('concurrency', values.concurrency, 6, 1, 50);
const maxMinutes = intOption('max-minutes', values['max-minutes'], 20, 1, 120);
const settleMs = 180_000;
// The monkey runs while lifecycles are driven, leaving time to settle and check within the bound.
const chaosMs = Math.max(30_000, maxMinutes * 60_000 - settleMs - 60_000);

out(`soak: seed ${seed}, ${lifecycles} lifecycles, ${replicas} replica(s), ${concurrency} at a time, faults ${values.faults ? 'on' : 'off'}, at most ${maxMinutes} min`);
const started = Date.now();
const watchdog = setTimeout(() => {
  out(`soak: seed ${seed}: did not finish within ${maxMinutes} min (time bound hit); replay with --seed ${seed}`);
  process.exit(2);
}, maxMinutes * 60_000);
watchdog.unref();

const result = await runKillRestart({
  seed,
  lifecycles,
  replicas,
  concurrency,
  chaosMs,
  settleMs,
  icFaults: values.faults ? { throttleRate: 0.1, serverErrorRate: 0.05 } : null,
  // Identity Center faults slow revokes by their retries; allow for them when injected.
  allowanceMs: values.faults ? 30_000 : undefined,
  label: 'soak',
  log: (line) => out(`  +${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s  ${line}`),
});
clearTimeout(watchdog);

const s = result.stats;
out('');
out(`soak summary (seed ${seed})`);
out(`  lifecycles        ${s.requests} (${s.revoked} revoked, ${s.failed} failed; ${s.endedEarly} planned early ends, ${s.preexisting} with pre-existing access)`);
out(`  kills             ${s.kills} SIGKILLs across ${replicas} replica(s)`);
out(`  Identity Center   ${s.createCalls} creations, ${s.deleteCalls} deletions accepted; at most ${s.maxOutstandingCreationsSeen} creations outstanding at once`);
out(`  audit chain       ${s.chainRecords} records`);
out(`  wall time         ${s.seconds} s`);
if (result.violations.length === 0) {
  out('  invariants        all held');
  process.exit(0);
}
out(`  invariants        ${result.violations.length} VIOLATED`);
out(result.message);
process.exit(1);
