/**
 * The App Home refresher (src/workers/home-refresher.ts) on the in-memory ports and a virtual
 * clock: who is refreshed after a change, that changes together are one publish per person,
 * that one failure stops nothing else, and that a 429 pauses refreshes for its Retry-After.
 */
import type { HomeView } from '@slack/types';
import { describe, expect, it } from 'vitest';
import type { HomeSlack } from '../../src/services/ports.ts';
import { HomeRefresher, NOTE_MS, VISIT_WINDOW_MS } from '../../src/workers/home-refresher.ts';
import { memoryContext, PEOPLE, slackRateLimited, slackRefused, type MemoryWorld } from '../support/memory.ts';

const { requester: rita, approver1: ann, approver2: bob, approver3: cat, outsider: olly } = PEOPLE;

/** Slack's views.publish, recording each home and failing for whom and how it is told to. */
class Homes implements HomeSlack {
  readonly published: { user: string; view: HomeView }[] = [];
  private readonly failures: { user: string; error: () => Error }[] = [];

  failNext(user: string, error: () => Error): void {
    this.failures.push({ user, error });
  }

  async publish(user: string, view: HomeView): Promise<void> {
    const i = this.failures.findIndex((f) => f.user === user);
    const failure = i >= 0 ? this.failures.splice(i, 1)[0] : undefined;
    if (failure) throw failure.error();
    this.published.push({ user, view });
  }

  to(user: string): HomeView[] {
    return this.published.filter((p) => p.user === user).map((p) => p.view);
  }
}

function refresher(w: MemoryWorld, slack = new Homes()) {
  const homes = new HomeRefresher({ ctx: w.ctx, visitors: w.store.homeVisitors, slack, log: w.log, coalesceMs: 500 });
  return { homes, slack };
}

const textOf = (v: HomeView | undefined) => JSON.stringify(v?.blocks ?? []);

describe('the App Home refresher', () => {
  it('publishes a home when it is opened, and after a change only for people who opened theirs and see the request', async () => {
    const w = memoryContext();
    const { homes, slack } = refresher(w);
    for (const who of [rita, ann, olly]) await homes.opened(who.slack);
    expect(slack.published.map((p) => p.user)).toEqual([rita.slack, ann.slack, olly.slack]);
    const r = await w.plant('req_new', 'PENDING', { approvals: [] });
    // Three events of one change arrive together: one publish per person.
    homes.changed(r);
    homes.changed(r);
    homes.changed(r);
    await homes.idle();
    expect(slack.published.slice(3).map((p) => p.user).sort()).toEqual([ann.slack, rita.slack]);
    expect(textOf(slack.to(ann.slack).at(-1))).toContain('decide:req_new');
    // bob and cat approve it too, but never opened the home; olly opened it but may not see it.
    expect(slack.to(bob.slack)).toEqual([]);
    expect(slack.to(cat.slack)).toEqual([]);
    expect(slack.to(olly.slack)).toHaveLength(1);
  });

  it('leaves the homes of people who have not opened theirs for a long time until they do', async () => {
    const w = memoryContext();
    const { homes, slack } = refresher(w);
    await homes.opened(ann.slack);
    w.clock.advance(VISIT_WINDOW_MS + 1);
    await homes.opened(rita.slack);
    homes.changed(await w.plant('req_new', 'PENDING', { approvals: [] }));
    await homes.idle();
    expect(slack.to(ann.slack)).toHaveLength(1);
    expect(slack.to(rita.slack)).toHaveLength(2);
  });

  it('keeps refreshing the others when one publish fails, and never throws into the caller', async () => {
    const w = memoryContext();
    const { homes, slack } = refresher(w);
    await homes.opened(ann.slack);
    await homes.opened(rita.slack);
    slack.failNext(ann.slack, slackRefused('slack refused: internal_error'));
    const r = await w.plant('req_new', 'PENDING', { approvals: [] });
    homes.changed(r);
    await homes.idle();
    expect(slack.to(ann.slack)).toHaveLength(1);
    expect(slack.to(rita.slack)).toHaveLength(2);
    // The visitors cannot even be read: the change is logged and dropped, and the next one works.
    const broken = new HomeRefresher({
      ctx: w.ctx,
      visitors: new Proxy(w.store.homeVisitors, {
        get: (target, prop, receiver) => (prop === 'since' ? () => Promise.reject(new Error('table unreachable')) : Reflect.get(target, prop, receiver)),
      }),
      slack,
      log: w.log,
    });
    expect(() => broken.changed(r)).not.toThrow();
    await broken.idle();
    homes.changed(r);
    await homes.idle();
    expect(slack.to(ann.slack)).toHaveLength(2);
  });

  it('waits out a rate limit before the next refresh', async () => {
    const w = memoryContext();
    const { homes, slack } = refresher(w);
    await homes.opened(ann.slack);
    slack.failNext(ann.slack, slackRateLimited(30));
    const started = w.clock.ms();
    homes.changed(await w.plant('req_new', 'PENDING', { approvals: [] }));
    await homes.idle();
    expect(slack.to(ann.slack)).toHaveLength(2);
    expect(w.clock.ms() - started).toBeGreaterThanOrEqual(30_000);
    expect(slack.published.length).toBe(2);
  });

  it('puts what a click came to on top of the home for a while, and clears it at the next opening', async () => {
    const w = memoryContext();
    const { homes, slack } = refresher(w);
    await homes.opened(ann.slack);
    await homes.tell(ann.slack, 'Approved: 1 of 2 approvals so far.');
    expect(textOf(slack.to(ann.slack).at(-1))).toContain(':speech_balloon: Approved: 1 of 2 approvals so far.');
    const r = await w.plant('req_new', 'PENDING', { approvals: [] });
    homes.changed(r);
    await homes.idle();
    expect(textOf(slack.to(ann.slack).at(-1))).toContain('Approved: 1 of 2');
    w.clock.advance(NOTE_MS);
    homes.changed(r);
    await homes.idle();
    expect(textOf(slack.to(ann.slack).at(-1))).not.toContain('Approved: 1 of 2');
    await homes.tell(ann.slack, 'Denied.');
    await homes.opened(ann.slack);
    expect(textOf(slack.to(ann.slack).at(-1))).not.toContain('Denied.');
  });
});
