import { describe, expect, it } from 'vitest';
import { AfterAck } from '../../src/slack/after-ack.ts';

describe('answers after the ack', () => {
  it('runs at most `width` at once, in the order they came, and lets failures through without blocking the rest', async () => {
    const lane = new AfterAck(2);
    const started: number[] = [];
    const finish: Array<() => void> = [];
    const runs = [0, 1, 2, 3].map((n) =>
      lane.run(
        () =>
          new Promise<number>((resolve, reject) => {
            started.push(n);
            finish[n] = () => (n === 1 ? reject(new Error('Slack said no')) : resolve(n));
          }),
      ),
    );
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1]);
    finish[1]?.();
    await expect(runs[1]).rejects.toThrow('Slack said no');
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1, 2]);
    finish[0]?.();
    finish[2]?.();
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1, 2, 3]);
    finish[3]?.();
    expect(await Promise.all([runs[0], runs[2], runs[3]])).toEqual([0, 2, 3]);
  });

  it('holds answers back while acks keep coming, and no longer than its longest wait', async () => {
    const lane = new AfterAck(2, 20, 60);
    let started = false;
    lane.acked();
    const run = lane.run(async () => {
      started = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(started).toBe(false);
    // Acks keep coming: still held, until the longest wait is over.
    const acking = setInterval(() => lane.acked(), 5);
    await run;
    clearInterval(acking);
    expect(started).toBe(true);
  });

  it('holds back an answer whose turn comes during a new burst of acks, as it does a new one', async () => {
    const lane = new AfterAck(1, 20, 1000);
    let finishFirst = () => {};
    const first = lane.run(() => new Promise<void>((resolve) => (finishFirst = resolve)));
    let secondStarted = false;
    const second = lane.run(async () => {
      secondStarted = true;
    });
    await new Promise((r) => setTimeout(r, 40));
    // The first answer is running and the second waits for its turn; then acks come again.
    lane.acked();
    finishFirst();
    await first;
    await new Promise((r) => setImmediate(r));
    expect(secondStarted).toBe(false);
    await second;
    expect(secondStarted).toBe(true);
  });
});
