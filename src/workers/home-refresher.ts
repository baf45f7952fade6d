import type { Logger } from 'pino';
import { RateLimiter } from '../aws/pacing.ts';
import type { AccessRequest } from '../domain/request.ts';
import type { ServiceContext } from '../services/context.ts';
import { homeOf, showsOn } from '../services/home.ts';
import { SlackDeliveryError, type HomeSlack, type HomeVisitorsPort } from '../services/ports.ts';
import { homeView } from '../slack/blocks/home.ts';

/** Homes of people who opened theirs within this long are kept current; older ones wait for the next opening. */
export const VISIT_WINDOW_MS = 14 * 24 * 3_600_000;
/** How long the note answering a click stays on top of the home (it goes at the next opening too). */
export const NOTE_MS = 15 * 60_000;
/** Longest note kept (a refusal can quote a forged button value). */
const NOTE_MAX = 1_000;

export interface HomeRefresherOptions {
  ctx: ServiceContext;
  visitors: HomeVisitorsPort;
  slack: HomeSlack;
  log: Logger;
  /** Changes arriving within this long of each other are published once per person. */
  coalesceMs?: number;
  /**
   * Refreshes a second, with bursts up to `burst`: views.publish is Tier 4 (100+ a minute for
   * the app), and openings and clicks publish too, unpaced, since a person waits for those.
   */
  perSecond?: number;
  burst?: number;
}

/**
 * Publishes App Homes (views.publish), and keeps them current off the interactive path.
 *
 * - `opened`: someone opened their home: remembered in the table (so every replica keeps it
 *   current), and published at once.
 * - `tell`: what a click on the home came to (a home click has no response_url), as a note on
 *   top of it, published at once.
 * - `changed`: the audit publisher saw a request change (it calls this at every event): the
 *   homes the request shows on are published again, only for people who opened theirs within
 *   VISIT_WINDOW_MS. Changes that arrive together become one publish per person, paced under
 *   Slack's limit; a 429 pauses the refreshes for its Retry-After. A failure is logged and never
 *   thrown: a home is derived state, and the next change or opening publishes it again.
 */
export class HomeRefresher {
  private readonly changes = new Map<string, AccessRequest>();
  /** People whose home is due to be published again. */
  private readonly due = new Set<string>();
  private readonly limiter: RateLimiter;
  /** Each person's publishes in order, so an older render never lands after a newer one of this replica. */
  private readonly publishing = new Map<string, Promise<void>>();
  private running: Promise<void> | null = null;
  private pausedUntil = 0;
  private stopped = false;

  constructor(private readonly o: HomeRefresherOptions) {
    this.limiter = new RateLimiter(o.perSecond ?? 1.5, o.burst ?? 10);
  }

  async opened(slackUserId: string): Promise<void> {
    await this.o.visitors.opened(slackUserId, this.o.ctx.clock.now());
    await this.publish(slackUserId);
  }

  async tell(slackUserId: string, text: string): Promise<void> {
    await this.o.visitors.note(slackUserId, text.slice(0, NOTE_MAX), this.o.ctx.clock.now());
    await this.publish(slackUserId);
  }

  changed(request: AccessRequest): void {
    if (this.stopped) return;
    this.changes.set(request.id, request);
    this.kick();
  }

  /** Resolves once every change known so far is published (or given up on). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
    await Promise.allSettled([...this.publishing.values()]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle();
  }

  private kick(): void {
    if (this.running || this.stopped) return;
    this.running = this.drain();
  }

  /** Clears `running` in the same step that sees nothing left, so a change can never fall between the two. */
  private async drain(): Promise<void> {
    try {
      while (!this.stopped && (this.changes.size > 0 || this.due.size > 0)) {
        await this.o.ctx.clock.sleep(this.o.coalesceMs ?? 500);
        try {
          await this.pass();
        } catch (err) {
          this.o.log.warn({ err, event: 'home.refresh_failed' }, 'App Homes could not be refreshed');
        }
      }
    } finally {
      this.running = null;
    }
  }

  private async pass(): Promise<void> {
    const { ctx, log } = this.o;
    const changed = [...this.changes.values()];
    this.changes.clear();
    if (changed.length > 0) {
      const since = new Date(ctx.clock.ms() - VISIT_WINDOW_MS).toISOString();
      for (const person of await this.o.visitors.since(since)) {
        if (this.due.has(person)) continue;
        for (const r of changed) {
          if (await showsOn(ctx, r, person)) {
            this.due.add(person);
            break;
          }
        }
      }
    }
    for (const person of [...this.due]) {
      while (!this.stopped && ctx.clock.ms() < this.pausedUntil) await ctx.clock.sleep(Math.min(1_000, this.pausedUntil - ctx.clock.ms()));
      if (this.stopped) return;
      await this.limiter.acquire();
      try {
        await this.publish(person);
        this.due.delete(person);
      } catch (err) {
        if (err instanceof SlackDeliveryError && err.retryAfterSeconds !== null) {
          this.pausedUntil = ctx.clock.ms() + err.retryAfterSeconds * 1_000;
          log.warn({ event: 'home.refresh_paused', seconds: err.retryAfterSeconds }, 'Slack asked to slow down; App Home refreshes wait');
          return;
        }
        this.due.delete(person);
        log.warn({ err, event: 'home.publish_failed', slackUserId: person }, 'an App Home could not be refreshed; it is published again at the next change or opening');
      }
    }
  }

  /** Renders the person's home from the table as it is now and publishes it; after any publish of theirs already under way. */
  private publish(slackUserId: string): Promise<void> {
    const before = this.publishing.get(slackUserId) ?? Promise.resolve();
    const mine = before.then(
      () => this.render(slackUserId),
      () => this.render(slackUserId),
    );
    this.publishing.set(slackUserId, mine);
    const forget = () => {
      if (this.publishing.get(slackUserId) === mine) this.publishing.delete(slackUserId);
    };
    mine.then(forget, forget);
    return mine;
  }

  private async render(slackUserId: string): Promise<void> {
    const { ctx } = this.o;
    const [home, visitor] = await Promise.all([homeOf(ctx, slackUserId), this.o.visitors.get(slackUserId)]);
    const note = visitor?.note && ctx.clock.ms() - Date.parse(visitor.note.at) < NOTE_MS ? visitor.note : null;
    await this.o.slack.publish(slackUserId, homeView(home, note));
  }
}
