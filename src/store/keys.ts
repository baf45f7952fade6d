/** Item keys and index names of the single DynamoDB table. */
export const INDEX_DUE = 'due';
export const INDEX_OUTBOX = 'outbox';
/** A person's requests, newest first (the App Home's history); keys only, the items are read after. */
export const INDEX_REQUESTER = 'requester';
export const DUE_PARTITION = 'DUE';
export const OUTBOX_PARTITION = 'OUTBOX';
export const AUDIT_PARTITION = 'AUDIT';

export const requestKey = (id: string) => ({ pk: `REQ#${id}`, sk: 'REQUEST' });
/** Refused attempts by one person on one request, counted beside the request. */
export const refusalKey = (id: string, slackUserId: string) => ({ pk: `REQ#${id}`, sk: `REFUSALS#${slackUserId}` });
/** Someone who opened the App Home: when, and the note answering their last click there. */
export const HOME_PARTITION = 'HOME';
export const homeVisitorKey = (slackUserId: string) => ({ pk: HOME_PARTITION, sk: `VISITOR#${slackUserId}` });
export const systemOutboxKey = () => ({ pk: 'SYSTEM', sk: 'OUTBOX' });
export const auditKey = (seq: number) => ({ pk: AUDIT_PARTITION, sk: seqKey(seq) });
export const seqKey = (seq: number) => seq.toString().padStart(12, '0');
