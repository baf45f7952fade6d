/**
 * Measures what people wait for, against the loopback fakes: how fast the bot
 * answers Slack (the 3-second budget), how long quorum → active access and
 * expiry → deletion take, how far the audit feed lags, throughput under a
 * burst, and memory. Run: npm run bench [-- --requests 30]
 */
import { parseArgs } from 'node:util';
import { PEOPLE, startHarness, type Harness } from '../support/harness.ts';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '20' } } });
const burst = Math.max(1, Number(values.requests));

function stats(xs: number[]): { n: number; p50: number; p95: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
  return { n: s.length, p50: at(0.5), p95: at(0.95), max: s[s.length - 1] ?? 0 };
}

async function until<T>(probe: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Event time → the log line written when it joined the audit chain. */
function chainLags(h: Harness): number[] {
  const lags: number[] = [];
  for (const line of h.logs) {
    const l = JSON.parse(line) as { seq?: number; at?: string; time?: string };
    if (typeof l.seq === 'number' && l.at && l.time) lags.push(Date.parse(l.time) - Date.parse(l.at));
  }
  return lags;
}

async function main(): Promise<void> {
  const rssStart = process.memoryUsage().rss;
  const h: Harness = await startHarness({ durations: ['PT5S', 'PT1H'], icStatusDelayMs: 200 });
  const commandAck: number[] = [];
  const submitAck: number[] = [];
  const approveAck: number[] = [];
  const quorumToActive: number[] = [];
  const expiryToDelete: number[] = [];
  try {
    // Sequential lifecycles: latency as one person sees it.
    for (let i = 0; i < 5; i++) {
      const t0 = Date.now();
      await h.driver.slashCommand(PEOPLE.requester.slack, '');
      commandAck.push(Date.now() - t0);
      const { requestId } = await h.request(PEOPLE.requester.slack, { duration: 'PT5S' });
      const id = requestId ?? '';
      submitAck.push(h.slack.callsTo('views.open').length > 0 ? Date.now() - t0 : NaN);
      await h.slack.waitFor(() => h.approvalMessage(id), 10_000);
      const a1 = Date.now();
      await h.click(PEOPLE.approver1.slack, 'approve', id);
      approveAck.push(Date.now() - a1);
      const q = Date.now();
      await h.click(PEOPLE.approver2.slack, 'approve', id);
      const active = await h.waitForStatus(id, 'ACTIVE');
      quorumToActive.push(Date.now() - q);
      await h.waitForStatus(id, 'REVOKED', 30_000);
      const deletion = h.ic.callsTo('DeleteAccountAssignment').filter((c) => c.status === 200).at(-1);
      expiryToDelete.push((deletion?.at ?? NaN) - Date.parse(active.grant.expiresAt ?? ''));
    }
    await h.settle();

    const sequentialLags = chainLags(h);

    // A burst: many requests approved at once (one requester, overlapping grants).
    const ids: string[] = [];
    for (let i = 0; i < burst; i++) {
      const { requestId } = await h.request(i % 2 ? PEOPLE.second.slack : PEOPLE.requester.slack, { duration: 'PT1H' });
      if (requestId) ids.push(requestId);
    }
    await until(() => ids.every((id) => h.approvalMessage(id)));
    const b0 = Date.now();
    await Promise.all(ids.flatMap((id) => [h.click(PEOPLE.approver1.slack, 'approve', id), h.click(PEOPLE.approver2.slack, 'approve', id)]));
    await until(async () => {
      const all = await Promise.all(ids.map((id) => h.get(id)));
      return all.every((r) => r.status === 'ACTIVE');
    }, 120_000);
    const burstMs = Date.now() - b0;
    await h.settle();

    const lags = chainLags(h);
    const mem = process.memoryUsage();
    const result = {
      slashCommandAckMs: stats(commandAck),
      requestToModalSubmittedMs: stats(submitAck),
      approveClickAckMs: stats(approveAck),
      quorumToActiveMs: stats(quorumToActive),
      expiryToDeletionMs: stats(expiryToDelete),
      eventToChainMs: { oneAtATime: stats(sequentialLags), includingBurst: stats(lags) },
      burst: { requests: ids.length, allActiveMs: burstMs, maxOutstandingCreationsSeen: h.ic.maxOutstandingCreationsSeen, icCalls: h.ic.calls.length },
      memory: { rssMb: Math.round(mem.rss / 1e6), rssGrowthMb: Math.round((mem.rss - rssStart) / 1e6), heapUsedMb: Math.round(mem.heapUsed / 1e6) },
      note: 'bot, fakes and dynalite share this one process; sweep interval 1 s; Identity Center status delay 200 ms',
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await h.stop();
  }
}

await main();
