/** Item keys and index names of the single DynamoDB table. */
export const INDEX_DUE = 'due';
export const INDEX_OUTBOX = 'outbox';
export const DUE_PARTITION = 'DUE';
export const OUTBOX_PARTITION = 'OUTBOX';
export const AUDIT_PARTITION = 'AUDIT';

export const requestKey = (id: string) => ({ pk: `REQ#${id}`, sk: 'REQUEST' });
/** Refused attempts by one person on one request, counted beside the request. */
export const refusalKey = (id: string, slackUserId: string) => ({ pk: `REQ#${id}`, sk: `REFUSALS#${slackUserId}` });
export const systemOutboxKey = () => ({ pk: 'SYSTEM', sk: 'OUTBOX' });
export const auditKey = (seq: number) => ({ pk: AUDIT_PARTITION, sk: seqKey(seq) });
export const seqKey = (seq: number) => seq.toString().padStart(12, '0');
