/**
 * The randomized kill/restart run, shared by the chaos test (a handful of
 * lifecycles) and the soak script (many): lifecycles are driven through
 * Slack while a seeded "monkey" SIGKILLs bot processes at random moments and
 * restarts them; when the monkey stops, everything must settle and every
 * invariant must hold.
 */
import type { FaultPlan } from '../support/fake-identity-center.ts';
import { checkInvariants, describeFailure, type RunStats, type Tracked } from './invariants.ts';
import { Random } from './prng.ts';
import { Rig, sleep, type BotProcess, type Person } from './rig.ts';

export interface KillRestartOptions {
  seed: number;
  lifecycles: number;
  /** Bot processes sharing the table (default 1). */
  replicas?: number;
  /** Lifecycles in flight at once (default: all). */
  concurrency?: number;
  /** Pause between kills, ms (default 1000–3500). */
  killEveryMs?: [number, number];
  /** How long a killed bot stays down, ms (default 100–2000). */
  downMs?: [number, number];
  /** The monkey stops after this long even if lifecycles are still running (default 20 s). */
  chaosMs?: number;
  /** How long everything may take to settle after the monkey stops (default 120 s). */
  settleMs?: number;
  /** Sweep interval plus the small bound (default sweep 1 s + 10 s). */
  allowanceMs?: number;
  /** Identity Center faults during the whole run. */
  icFaults?: FaultPlan | null;
  /** Progress lines (the soak prints them). */
  log?: (line: string) => void;
  label?: string;
}

export interface KillRestartResult {
  seed: number;
  violations: string[];
  stats: RunStats & { kills: number; seconds: number; endedEarly: number; preexisting: number };
  /** The full failure text (seed, violations, logs), empty when the run was clean. */
  message: string;
}

interface Plan {
  who: Person;
  preexisting: boolean;
  duration: string;
  startAfterMs: number;
  endEarly: boolean;
  approvers: Person[];
  clicks: number;
  fanOut: boolean;
}

export async function runKillRestart(o: KillRestartOptions): Promise<KillRestartResult> {
  const started = Date.now();
  const label = o.label ?? 'kill-restart';
  const log = o.log ?? (() => undefined);
  const root = new Random(o.seed);
  const planRng = root.fork('plan');
  const monkeyRng = root.fork('monkey');
  const rig = await Rig.start({ label, requesters: o.lifecycles, icSeed: o.seed, durations: ['PT3S', 'PT5S', 'PT8S', 'PT1H'] });
  const tracked: Tracked[] = [];
  let kills = 0;
  try {
    if (o.icFaults) rig.ic.setFaults(o.icFaults);
    const replicas = o.replicas ?? 1;
    for (let i = 0; i < replicas; i++) await rig.addBot(`bot${i + 1}`);

    // What each lifecycle will do, drawn up front so the plan does not depend on timing.
    const holderAt = planRng.int(0, o.lifecycles - 1);
    const plans: Plan[] = Array.from({ length: o.lifecycles }, (_, i) => {
      const pool = [...rig.approvers];
      const chosen: Person[] = [];
      const wanted = planRng.chance(0.3) ? 3 : 2; // a third approver racing the quorum must not count
      while (chosen.length < wanted) chosen.push(pool.splice(planRng.int(0, pool.length - 1), 1)[0] as Person);
      return {
        who: i === holderAt ? rig.holder : (rig.requesters[i] as Person),
        preexisting: i === holderAt,
        duration: planRng.pick(['PT3S', 'PT5S', 'PT8S']),
        startAfterMs: planRng.int(0, 4000),
        endEarly: planRng.chance(0.25),
        approvers: chosen,
        clicks: planRng.int(1, 2),
        fanOut: planRng.chance(0.5),
      };
    });

    let driving = true;
    const monkey = (async () => {
      const deadline = Date.now() + (o.chaosMs ?? 20_000);
      const [minGap, maxGap] = o.killEveryMs ?? [1000, 3500];
      const [minDown, maxDown] = o.downMs ?? [100, 2000];
      while (Date.now() < deadline) {
        await sleep(monkeyRng.int(minGap, maxGap));
        if (Date.now() >= deadline || (!driving && (await allFinal(rig, tracked)))) break;
        const alive = rig.bots.filter((b) => b.alive);
        if (alive.length === 0) continue;
        const victims: BotProcess[] = replicas > 1 && monkeyRng.chance(0.2) ? alive : [monkeyRng.pick(alive)];
        for (const v of victims) await v.kill();
        kills += victims.length;
        log(`kill #${kills}: ${victims.map((v) => v.name).join(' + ')} at +${((Date.now() - started) / 1000).toFixed(1)} s`);
        await sleep(monkeyRng.int(minDown, maxDown));
        await Promise.all(victims.map((v) => v.start()));
      }
    })();

    let next = 0;
    const driverErrors: string[] = [];
    const worker = async () => {
      for (;;) {
        const i = next++;
        const plan = plans[i];
        if (!plan) return;
        await sleep(plan.startAfterMs);
        await drive(rig, plan, tracked, log).catch((err: Error) => driverErrors.push(`driving lifecycle ${i} (${plan.who.slack}): ${err.message}`));
      }
    };
    await Promise.all(Array.from({ length: Math.min(o.concurrency ?? o.lifecycles, o.lifecycles) }, worker));
    driving = false;
    await monkey;
    for (const b of rig.bots) if (!b.alive) await b.start();

    let settleError: string | null = null;
    await rig.settle(tracked.map((t) => t.id), o.settleMs ?? 120_000).catch((err: Error) => (settleError = err.message));
    const { violations, stats } = await checkInvariants(rig, tracked, { allowanceMs: o.allowanceMs ?? rig.sweepMs + 10_000 });
    const all = [...driverErrors, ...(settleError ? [settleError] : []), ...violations];
    if (all.length > 0) await rig.dump();
    const result: KillRestartResult = {
      seed: o.seed,
      violations: all,
      stats: {
        ...stats,
        kills,
        seconds: Math.round((Date.now() - started) / 1000),
        endedEarly: plans.filter((p) => p.endEarly).length,
        preexisting: 1,
      },
      message: all.length > 0 ? describeFailure(label, o.seed, rig, all, `${kills} kills, ${tracked.length} lifecycles`) : '',
    };
    return result;
  } finally {
    await rig.close();
  }
}

async function drive(rig: Rig, plan: Plan, tracked: Tracked[], log: (line: string) => void): Promise<void> {
  const id = await rig.submit(plan.who, plan.duration);
  tracked.push({ id, who: plan.who, preexisting: plan.preexisting });
  log(`${id}: submitted by ${plan.who.slack} for ${plan.duration}`);
  const targets = () => (plan.fanOut ? rig.upBots() : rig.upBots().slice(0, 1));
  await Promise.all(plan.approvers.map((a) => rig.approve(id, a, { targets, clicks: plan.clicks })));
  const r = await rig.waitForStatus(id, ['ACTIVE', 'REVOKING', 'REVOKED', 'FAILED'], 120_000);
  log(`${id}: ${r.status}`);
  if (plan.endEarly && r.status === 'ACTIVE') {
    await rig.endAccess(id, plan.who, { targets, clicks: plan.clicks });
    log(`${id}: ended early`);
  }
}

async function allFinal(rig: Rig, tracked: Tracked[]): Promise<boolean> {
  for (const t of tracked) {
    const r = await rig.requests.get(t.id);
    if (!r || (r.status !== 'REVOKED' && r.status !== 'FAILED')) return false;
  }
  return true;
}
