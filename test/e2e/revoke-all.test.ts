import { afterEach, describe, expect, it } from 'vitest';
import { cli } from '../support/cli.ts';
import { PEOPLE, startHarness, type Harness } from '../support/harness.ts';

let h: Harness | null = null;
let botStopped = false;
afterEach(async () => {
  if (h && botStopped) {
    await h.slack.close();
    await h.ic.close();
    await h.db.close();
  } else await h?.stop();
  h = null;
  botStopped = false;
});

const bg = (x: Harness, args: string[]) => cli(x.env, args);

const activeGrant = (x: Harness, user: string) => x.granted(user, { duration: 'PT1H' });

describe('revoke-all, the kill switch', () => {
  it('revokes every active grant while Slack is down, audited under the operator', async () => {
    h = await startHarness({ durations: ['PT1H'] });
    const x = h;
    const a = await activeGrant(x, PEOPLE.requester.slack);
    const b = await activeGrant(x, PEOPLE.second.slack);
    expect(x.ic.assignments()).toHaveLength(2);
    x.slack.failMethod('*', { error: 'service_unavailable' });
    expect((await bg(x, ['revoke-all'])).code).toBe(2);
    const run = await bg(x, ['revoke-all', '--reason', 'suspected token leak']);
    expect(run.code).toBe(0);
    expect(x.ic.assignments()).toHaveLength(0);
    const lines = run.out.trim().split('\n').map((l) => JSON.parse(l) as { requestId: string; status: string });
    expect(lines.map((l) => l.requestId).sort()).toEqual([a, b].sort());
    expect(lines.every((l) => l.status === 'REVOKED')).toBe(true);
    const chain = (await bg(x, ['audit', 'export'])).out;
    expect(chain).toContain('"type":"revoke_all.started"');
    expect(chain).toContain('suspected token leak');
    expect(chain).toContain('"reason":"revoke-all"');
    expect((await bg(x, ['audit', 'verify'])).code).toBe(0);
    x.slack.failMethod('*', null);
  });

  it('works with the bot stopped', async () => {
    h = await startHarness({ durations: ['PT1H'] });
    const x = h;
    await activeGrant(x, PEOPLE.requester.slack);
    await x.bot.stop();
    botStopped = true;
    const run = await bg(x, ['revoke-all', '--reason', 'bot host compromised']);
    expect(run.code).toBe(0);
    expect(x.ic.assignments()).toHaveLength(0);
  });
});
