/**
 * The lease on a request's slow work (src/services/lease.ts) when the change that started the work
 * took it: used as it is while fresh, claimed afresh when much of it went by before the work began.
 */
import { describe, expect, it } from 'vitest';
import { approve } from '../../src/services/approve.ts';
import { withLease } from '../../src/services/lease.ts';
import { submitRequest } from '../../src/services/submit-request.ts';
import { memoryContext, PEOPLE, type MemoryWorld } from '../support/memory.ts';

async function approved(w: MemoryWorld): Promise<string> {
  const r = await submitRequest(w.ctx, PEOPLE.requester.slack, { profileId: 'org-admin', duration: 'PT1H', justification: 'Production is down and the org SCP needs a fix', ticket: null });
  if (!r.ok) throw new Error('refused');
  await approve(w.ctx, r.request.id, PEOPLE.approver1.slack);
  await approve(w.ctx, r.request.id, PEOPLE.approver2.slack);
  return r.request.id;
}

describe('a lease taken with the change that starts the work', () => {
  it('is used as written while fresh (no claim), and claimed afresh once a third of it is gone', async () => {
    const w = memoryContext();
    const id = await approved(w);
    const taken = await w.get(id);
    const claimsDuring = async (): Promise<number> => {
      const from = w.store.table.writes.length;
      let during = 0;
      await withLease(w.ctx, id, 'APPROVED', async () => {
        during = w.store.table.writes.length - from;
        await Promise.resolve();
      }, taken);
      return during;
    };
    expect(await claimsDuring()).toBe(0);
    w.clock.advance(w.ctx.timing.leaseMs / 2);
    expect(await claimsDuring()).toBe(1);
    expect(w.store.requestItem(id)?.leaseOwner).toBeUndefined();
  });
});
