/**
 * The test doubles the unit tests stand on do what they claim: the virtual clock, the memory
 * Identity Center (asynchronous operations, the SDK's error shapes) and the memory Slack.
 * (The memory stores are held to DynamoDB by test/integration/store-contract.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { isTransient } from '../../src/services/poll.ts';
import { SlackDeliveryError } from '../../src/services/ports.ts';
import { ACCOUNT, INSTANCE_ARN, MemoryIdentityCenter, MemorySlack, NOW, PERMISSION_SET, VirtualClock, slackRateLimited, slackTimedOut } from '../support/memory.ts';

const target = (principalId = 'p1') => ({ instanceArn: INSTANCE_ARN, accountId: ACCOUNT, permissionSetArn: PERMISSION_SET, principalId });

describe('VirtualClock', () => {
  it('moves only when told, firing every timer at its due times as time passes them', async () => {
    const clock = new VirtualClock();
    const fired: Array<[string, string]> = [];
    const stopA = clock.every(250, () => fired.push(['a', clock.now()]));
    clock.every(400, () => fired.push(['b', clock.now()]));
    expect(clock.now()).toBe(NOW);
    await clock.sleep(800);
    expect(clock.ms()).toBe(Date.parse(NOW) + 800);
    expect(fired).toEqual([
      ['a', '2026-11-28T00:00:00.250Z'],
      ['b', '2026-11-28T00:00:00.400Z'],
      ['a', '2026-11-28T00:00:00.500Z'],
      ['a', '2026-11-28T00:00:00.750Z'],
      ['b', '2026-11-28T00:00:00.800Z'],
    ]);
    stopA();
    clock.advance(250);
    expect(fired.at(-1)).toEqual(['b', '2026-11-28T00:00:00.800Z']);
    expect(clock.pendingTimers()).toBe(1);
    expect(clock.sleeps).toEqual([800]);
  });
});

describe('MemoryIdentityCenter', () => {
  it('creates and deletes asynchronously: in progress until the delay has passed, then settled', async () => {
    const clock = new VirtualClock();
    const ic = new MemoryIdentityCenter({ clock, statusDelayMs: 1000 });
    const id = await ic.startCreation(target());
    expect(await ic.creationStatus(INSTANCE_ARN, id)).toEqual({ state: 'IN_PROGRESS', failureReason: null });
    expect(await ic.hasAssignment(target())).toBe(false);
    clock.advance(1000);
    expect(await ic.creationStatus(INSTANCE_ARN, id)).toEqual({ state: 'SUCCEEDED', failureReason: null });
    expect(await ic.listAssignments(INSTANCE_ARN, ACCOUNT, PERMISSION_SET)).toEqual([{ principalType: 'USER', principalId: 'p1' }]);
    ic.failNextDeletions(1, 'nope');
    const del = await ic.startDeletion(target());
    clock.advance(1000);
    expect(await ic.deletionStatus(INSTANCE_ARN, del)).toEqual({ state: 'FAILED', failureReason: 'nope' });
    expect(await ic.hasAssignment(target())).toBe(true);
    const again = await ic.startDeletion(target());
    clock.advance(1000);
    expect(await ic.deletionStatus(INSTANCE_ARN, again)).toMatchObject({ state: 'SUCCEEDED' });
    expect(await ic.hasAssignment(target())).toBe(false);
    await expect(ic.creationStatus(INSTANCE_ARN, again)).rejects.toMatchObject({ name: 'ResourceNotFoundException', $metadata: { httpStatusCode: 400 } });
  });

  it('throws errors shaped as the AWS SDK throws them, which the services treat as transient', async () => {
    const clock = new VirtualClock();
    const ic = new MemoryIdentityCenter({ clock, maxOutstandingCreations: 2, statusDelayMs: 60_000 });
    ic.throttleNext('startCreation');
    const throttled = await ic.startCreation(target()).catch((e: unknown) => e);
    expect(throttled).toBeInstanceOf(Error);
    expect(throttled).toMatchObject({ name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });
    expect(isTransient(throttled)).toBe(true);
    ic.conflictNext('startDeletion');
    await expect(ic.startDeletion(target())).rejects.toMatchObject({ name: 'ConflictException', $metadata: { httpStatusCode: 400 } });
    // AWS allows only so many creations in progress.
    await ic.startCreation(target('p1'));
    await ic.startCreation(target('p2'));
    await expect(ic.startCreation(target('p3'))).rejects.toMatchObject({ name: 'ThrottlingException', message: 'There are too many requests processing. Please try again later.' });
    // Another operation on the same assignment in progress: retried (on the virtual clock) as the adapter does, then a conflict.
    const before = clock.ms();
    await expect(ic.startDeletion(target('p1'))).rejects.toMatchObject({ name: 'ConflictException' });
    expect(clock.ms()).toBeGreaterThan(before);
  });

  it('takes a configured latency on the virtual clock, and runs what happens meanwhile', async () => {
    const clock = new VirtualClock();
    const ic = new MemoryIdentityCenter({ clock });
    let seenAt = '';
    ic.setLatency(5000, { operations: ['startDeletion'], during: async () => void (seenAt = clock.now()) });
    await ic.hasAssignment(target());
    expect(clock.now()).toBe(NOW);
    await ic.startDeletion(target());
    expect(seenAt).toBe('2026-11-28T00:00:05.000Z');
    expect(ic.calls.map((c) => [c.operation, c.at])).toEqual([
      ['hasAssignment', NOW],
      ['startDeletion', NOW],
    ]);
  });
});

describe('MemorySlack', () => {
  it('records posts, updates and DMs, and fails as told', async () => {
    const slack = new MemorySlack();
    const ts = await slack.post('C1', { text: 'hi', blocks: [] });
    await slack.post('C1', { text: 'reply', blocks: [], threadTs: ts });
    await slack.update('C1', ts, { text: 'edited', blocks: [] });
    await slack.post(await slack.dmChannel('U1'), { text: 'dm', blocks: [] });
    expect(slack.messages('C1').map((m) => m.text)).toEqual(['hi']);
    expect(slack.replies('C1', ts).map((m) => m.text)).toEqual(['reply']);
    expect(slack.updates).toEqual([{ channel: 'C1', ts, text: 'edited', blocks: [] }]);
    expect(slack.dmsTo('U1').map((m) => m.text)).toEqual(['dm']);
    slack.failNext('post', slackRateLimited(7));
    const limited = await slack.post('C1', { text: 'x', blocks: [] }).catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(SlackDeliveryError);
    expect(limited).toMatchObject({ retryAfterSeconds: 7, permanent: false, refused: true });
    slack.failNext('post', slackTimedOut(), { landed: true });
    await expect(slack.post('C1', { text: 'landed anyway', blocks: [] })).rejects.toMatchObject({ refused: false });
    expect(slack.messages('C1').map((m) => m.text)).toEqual(['hi', 'landed anyway']);
  });
});
