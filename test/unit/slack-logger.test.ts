import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { slackLogger } from '../../src/slack/web.ts';

describe("Bolt's and the Web API's log lines", () => {
  it('are formatted only at a level that is written', () => {
    let formatted = 0;
    const payload = {
      toString: () => {
        formatted++;
        return 'the payload';
      },
    };
    const lines: string[] = [];
    const sink = { write: (line: string) => void lines.push(line) };
    slackLogger(createLogger('info', sink)).debug('received', payload);
    expect(formatted).toBe(0);
    expect(lines).toEqual([]);
    slackLogger(createLogger('debug', sink)).debug('received', payload);
    expect(formatted).toBe(1);
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({ level: 'debug', component: 'slack', msg: 'received the payload' });
  });
});
