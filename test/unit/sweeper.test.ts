import { describe, expect, it } from 'vitest';
import { approve } from '../../src/services/approve.ts';
import { grant } from '../../src/services/grant.ts';
import { submitRequest } from '../../src/services/submit-request.ts';
import { Sweeper } from '../../src/workers/sweeper.ts';
import { memoryContext, PEOPLE, type MemoryWorld } from '../support/memory.ts';

const { requester, approver1, approver2 } = PEOPLE;

/** A grant of 20 s, active now, with the sweeper told of every due time the services write. */
async function activeGrant(w: MemoryWorld): Promise<{ id: string; expiresAt: string }> {
  const r = await submitRequest(w.ctx, requester.slack, { profileId: 'org-admin', duration: 'PT20S', justification: 'Production is down and the org SCP needs a fix', ticket: null });
  if (!r.ok) throw new Error('refused');
  await approve(w.ctx, r.request.id, approver1.slack);
  await approve(w.ctx, r.request.id, approver2.slack);
  await grant(w.ctx, r.request.id);
  const expiresAt = (await w.get(r.request.id)).grant.expiresAt;
  if (!expiresAt) throw new Error('not granted');
  return { id: r.request.id, expiresAt };
}

function world(): { w: MemoryWorld; sweeper: () => Sweeper } {
  let sweeper: Sweeper | null = null;
  const w = memoryContext({ ctx: { workDue: (id, at) => sweeper?.wake(id, at) } });
  sweeper = new Sweeper(w.ctx, 7_000, w.ctx.log);
  const s = sweeper;
  return { w, sweeper: () => s };
}

describe('the sweeper', () => {
  it('starts a revoke at the expiry instant, not at the next sweep after it', async () => {
    const { w, sweeper } = world();
    const { id, expiresAt } = await activeGrant(w);
    sweeper().start();
    await sweeper().idle();
    // Sweeps at +7 s and +14 s; the expiry (+20 s) falls between the sweeps at +14 s and +21 s.
    for (const _ of [1, 2]) {
      w.clock.advance(7_000);
      await sweeper().idle();
    }
    expect((await w.get(id)).status).toBe('ACTIVE');
    w.clock.advanceTo(expiresAt);
    await sweeper().idle();
    const started = w.store.events(id).find((e) => e.type === 'revoke.started');
    expect(started?.at).toBe(expiresAt);
    expect(w.ic.holds(w.target())).toBe(false);
    await sweeper().stop();
  });

  it('wakes for the newest due time only: a step pushed later never runs early', async () => {
    const { w, sweeper } = world();
    const { id, expiresAt } = await activeGrant(w);
    sweeper().start();
    await sweeper().idle();
    w.clock.advance(14_000);
    await sweeper().idle();
    // Another writer (an extension on another replica, say) moved the due time past the expiry.
    const moved = new Date(Date.parse(expiresAt) + 60_000).toISOString();
    sweeper().wake(id, moved);
    w.clock.advanceTo(expiresAt);
    await sweeper().idle();
    expect(w.store.events(id).some((e) => e.type === 'revoke.started')).toBe(false);
    await sweeper().stop();
    expect(w.clock.pendingTimers()).toBe(0);
  });
});
