/** The review store on dynalite: racing attestations, the once-per-period create, listing by period. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DomainEvent } from '../../src/domain/events.ts';
import { reviewPeriod } from '../../src/domain/review.ts';
import type { ReviewRecord } from '../../src/services/ports.ts';
import { OutboxStore } from '../../src/store/outbox.ts';
import { reviewKey, ReviewStore } from '../../src/store/reviews.ts';
import { startTestDatabase, type TestDatabase } from '../support/database.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await startTestDatabase('breakglass-reviews');
});
afterAll(async () => {
  await db.close();
});

function review(id: string, startedAt: string, approvals = 2): ReviewRecord {
  return {
    id,
    status: 'open',
    startedAt,
    report: { id, period: reviewPeriod('P1M', startedAt), startedAt, startedBy: null, approvals, reviewers: ['UA', 'UB', 'UC'], findings: [] },
    attestations: {},
    completedAt: null,
    nextReminderAt: '2099-01-01T00:00:00.000Z',
    overdueAt: '2099-01-01T00:00:00.000Z',
    overdueShouted: false,
    confirmations: {},
    message: null,
  };
}

const started = (id: string): DomainEvent => ({
  type: 'review.started',
  requestId: null,
  actor: null,
  details: { reviewId: id, by: null, period: 'x', since: 'x', until: 'x', findings: 0, flagged: 0, approvals: 2, custodians: [] },
});

describe('ReviewStore', () => {
  it('creates a review once however many replicas race, and lists it once', async () => {
    const store = new ReviewStore(db);
    const created = await Promise.all(['2026-12-01T00:00:01.000Z', '2026-12-01T00:00:02.000Z', '2026-12-01T00:00:03.000Z'].map((at) => store.create(review('rv-2026-12', at), started('rv-2026-12'))));
    expect(created.filter(Boolean)).toHaveLength(1);
    expect((await store.latest(10, '2026-12')).map((r) => r.id)).toEqual(['rv-2026-12']);
    const outbox = await new OutboxStore(db).read(reviewKey('rv-2026-12'));
    expect(outbox?.outbox.map((e) => e.type)).toEqual(['review.started']);
  });

  it('counts each reviewer once and completes on the quorum of distinct reviewers, also when they race', async () => {
    const store = new ReviewStore(db);
    await store.create(review('rv-race', '2026-11-05T00:00:00.000Z'), started('rv-race'));
    const same = await Promise.all([store.attest('rv-race', 'UA', null, '2026-11-05T01:00:00.000Z', 2), store.attest('rv-race', 'UA', 'again', '2026-11-05T01:00:00.000Z', 2)]);
    expect(same.sort()).toEqual(['already', 'attested']);
    expect((await store.get('rv-race'))?.status).toBe('open');
    const others = await Promise.all([store.attest('rv-race', 'UB', 'ok', '2026-11-05T02:00:00.000Z', 2), store.attest('rv-race', 'UC', null, '2026-11-05T02:00:00.000Z', 2)]);
    expect(others.sort()).toEqual(['closed', 'completed']);
    const done = await store.get('rv-race');
    expect(done?.status).toBe('completed');
    expect(Object.keys(done?.attestations ?? {})).toHaveLength(2);
    const events = (await new OutboxStore(db).read(reviewKey('rv-race')))?.outbox.map((e) => e.type);
    expect(events).toEqual(['review.started', 'review.attested', 'review.attested', 'review.completed']);
  });

  it('reminds and marks overdue once per guard, and counts refusals per person', async () => {
    const store = new ReviewStore(db);
    const r = review('rv-guards', '2026-10-05T00:00:00.000Z');
    await store.create(r, started('rv-guards'));
    const reminded: DomainEvent = { type: 'review.reminded', requestId: null, actor: null, details: { reviewId: r.id, mentioned: ['UA'], more: 0 } };
    const moves = await Promise.all([store.remind(r.id, r.nextReminderAt ?? '', '2099-01-02T00:00:00.000Z', reminded, r.startedAt), store.remind(r.id, r.nextReminderAt ?? '', '2099-01-02T00:00:00.000Z', reminded, r.startedAt)]);
    expect(moves.filter(Boolean)).toHaveLength(1);
    const overdue: DomainEvent = { type: 'review.overdue', requestId: null, actor: null, details: { reviewId: r.id, startedAt: r.startedAt, overdueAt: r.overdueAt, attested: 0, required: 2 } };
    expect(await store.markOverdue(r.id, overdue, r.startedAt)).toBe(true);
    expect(await store.markOverdue(r.id, overdue, r.startedAt)).toBe(false);
    expect(await store.countRefusal(r.id, 'UX')).toBe(1);
    expect(await store.countRefusal(r.id, 'UX')).toBe(2);
    expect(await store.countRefusal(r.id, 'UY')).toBe(1);
    expect(await store.countRefusal('rv-missing', 'UX')).toBe(0);
  });

  it('finds the newest review of a period, and the newest overall', async () => {
    const store = new ReviewStore(db);
    await store.create(review('rv-2027-01-aaaaaa', '2027-01-02T00:00:00.000Z'), started('rv-2027-01-aaaaaa'));
    await store.create(review('rv-2027-01-bbbbbb', '2027-01-03T00:00:00.000Z'), started('rv-2027-01-bbbbbb'));
    expect((await store.latest(1, '2027-01'))[0]?.id).toBe('rv-2027-01-bbbbbb');
    expect((await store.latest(1))[0]?.id).toBe('rv-2027-01-bbbbbb');
    expect(await store.latest(1, '2031-05')).toEqual([]);
    // A quarterly label does not sort after a later monthly one: the newest is by start, whatever the period's spelling.
    const quarterly = review('rv-2027-Q1', '2027-01-01T00:00:00.000Z');
    quarterly.report.period.label = '2027-Q1';
    await store.create(quarterly, started('rv-2027-Q1'));
    expect((await store.latest(1))[0]?.id).toBe('rv-2027-01-bbbbbb');
    expect((await store.latest(1, '2027-Q1'))[0]?.id).toBe('rv-2027-Q1');
    expect(await store.scheduleSince('2027-01-01T00:00:00.000Z')).toBe('2027-01-01T00:00:00.000Z');
    expect(await store.scheduleSince('2028-01-01T00:00:00.000Z')).toBe('2027-01-01T00:00:00.000Z');
  });
});
