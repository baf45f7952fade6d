import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APPROVALS, AUDIT, PEOPLE, startHarness, type Harness } from '../support/harness.ts';

/** Reason categories: asked in the form, required where a profile limits them, shown to approvers and recorded. */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ profileExtra: ['reasons: [account-lifecycle, organization-structure]'] });
});
afterAll(async () => {
  await h.stop();
});

describe('reason categories', () => {
  it('offers the categories the profile serves in the form, required when every listed profile limits them', async () => {
    const opened = await h.driver.slashCommand(PEOPLE.requester.slack, '');
    const view = await h.slack.waitFor(() => h.slack.views().find((v) => v.view?.callback_id === 'breakglass_request'));
    expect(opened.status).toBe(200);
    const block = (view.view.blocks as { block_id?: string; optional?: boolean; element?: { options?: { value: string }[] } }[]).find((b) => b.block_id === 'category');
    expect(block?.optional).toBe(false);
    expect(block?.element?.options?.map((o) => o.value)).toEqual(['account-lifecycle', 'organization-structure']);
  });

  it('refuses a request without a category, or with one the profile does not serve, naming what it serves', async () => {
    const none = await h.request(PEOPLE.requester.slack);
    expect(none.requestId).toBeNull();
    expect(none.body).toMatchObject({ response_action: 'errors', errors: { category: expect.stringContaining('account lifecycle, organization structure and policies') } });
    const other = await h.request(PEOPLE.requester.slack, { category: 'billing' });
    expect(other.requestId).toBeNull();
    expect(other.body).toMatchObject({ response_action: 'errors', errors: { category: expect.stringContaining('"billing and payment" needs another profile') } });
    const forged = await h.request(PEOPLE.requester.slack, { category: 'root-everything' });
    expect(forged.body).toMatchObject({ response_action: 'errors', errors: { category: expect.stringContaining('Unknown reason category') } });
  });

  it('puts the category on the approval message, in the audit thread and in the audit record', async () => {
    const { requestId } = await h.request(PEOPLE.requester.slack, { category: 'account-lifecycle' });
    if (!requestId) throw new Error('request was not stored');
    expect((await h.get(requestId)).category).toBe('account-lifecycle');
    const message = await h.slack.waitFor(() => h.approvalMessage(requestId));
    expect(message.channel).toBe(APPROVALS);
    expect(JSON.stringify(message.blocks)).toContain('*Reason category*\\naccount lifecycle');
    await h.settle();
    const thread = h.slack.messages(AUDIT).filter((m) => (m.text ?? '').includes('requested Organizations administrator'));
    expect(thread.map((m) => m.text)).toContainEqual(expect.stringContaining('(account lifecycle)'));
    // The chain record, as the JSON log carries it.
    const records = h.logs.map((l) => JSON.parse(l) as { event?: string; seq?: number; requestId?: string; details?: unknown });
    const submitted = records.find((r) => typeof r.seq === 'number' && r.event === 'request.submitted' && r.requestId === requestId);
    expect(submitted?.details).toMatchObject({ category: 'account-lifecycle' });
  });
});
