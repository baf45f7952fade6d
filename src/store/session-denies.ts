import { GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { SessionDenyRecord, SessionDenyStorePort } from '../services/ports.ts';
import { queryPages, updateIf, type Database } from './dynamo.ts';
import { lockItem, renewItem, unlockItem } from './item-lock.ts';
import { INDEX_DUE } from './keys.ts';

/** The due index's partition for permission sets with a denial to remove (requests use DUE). */
const SESSIONS_DUE = 'SESSIONS';

const partition = (permissionSetArn: string) => `SESSIONS#${permissionSetArn.split(':::').pop() ?? permissionSetArn}`;
const key = (permissionSetArn: string) => ({ pk: partition(permissionSetArn), sk: 'SESSIONS' });
/** One item per user whose sessions are to be denied, beside the permission set's record. */
const wantKey = (permissionSetArn: string, userId: string) => ({ pk: partition(permissionSetArn), sk: `WANT#${userId}` });

function toRecord(item: Record<string, unknown>): SessionDenyRecord {
  return { denies: (item.denies as SessionDenyRecord['denies'] | undefined) ?? {} };
}

/** What breakglass denied in each permission set's inline policy, and the lock that serialises edits of it. */
export class SessionDenyStore implements SessionDenyStorePort {
  constructor(private readonly db: Database) {}

  async want(permissionSetArn: string, userId: string, instant: string, accountId: string): Promise<void> {
    const values = { ':u': userId, ':a': new Set([accountId]) };
    // Only ever forward: a wish for an older instant never moves a newer one back, and then adds its account alone (a second write, seldom needed).
    const newest = await updateIf(this.db, {
      Key: wantKey(permissionSetArn, userId),
      UpdateExpression: 'SET userId = :u, instant = :i ADD accounts :a',
      ConditionExpression: 'attribute_not_exists(instant) OR instant < :i',
      ExpressionAttributeValues: { ...values, ':i': instant },
    });
    if (newest) return;
    await this.db.doc.send(new UpdateCommand({ TableName: this.db.table, Key: wantKey(permissionSetArn, userId), UpdateExpression: 'SET userId = :u ADD accounts :a', ExpressionAttributeValues: values }));
  }

  async wanted(permissionSetArn: string): Promise<Record<string, { instant: string; accounts: string[] }>> {
    const out: Record<string, { instant: string; accounts: string[] }> = {};
    for await (const page of queryPages(this.db, {
      KeyConditionExpression: 'pk = :p AND begins_with(sk, :w)',
      ExpressionAttributeValues: { ':p': partition(permissionSetArn), ':w': 'WANT#' },
      ConsistentRead: true,
    })) {
      for (const it of page) {
        if (typeof it.instant === 'string') out[String(it.userId)] = { instant: it.instant, accounts: [...((it.accounts as Set<string> | undefined) ?? [])].sort() };
      }
    }
    return out;
  }

  async get(permissionSetArn: string): Promise<SessionDenyRecord> {
    const out = await this.db.doc.send(new GetCommand({ TableName: this.db.table, Key: key(permissionSetArn), ConsistentRead: true }));
    return toRecord(out.Item ?? {});
  }

  async lock(permissionSetArn: string, owner: string, now: string, until: string): Promise<SessionDenyRecord | null> {
    const item = await lockItem(this.db, key(permissionSetArn), owner, now, until, { permissionSetArn });
    return item ? toRecord(item) : null;
  }

  async renew(permissionSetArn: string, owner: string, until: string): Promise<boolean> {
    return renewItem(this.db, key(permissionSetArn), owner, until);
  }

  async saveAndUnlock(permissionSetArn: string, owner: string, record: SessionDenyRecord, pruneAt: string | null): Promise<boolean> {
    const item = await updateIf(this.db, {
      Key: key(permissionSetArn),
      UpdateExpression: pruneAt
        ? 'SET denies = :d, duePk = :due, dueAt = :at, id = :id REMOVE lockOwner, lockUntil'
        : 'SET denies = :d REMOVE lockOwner, lockUntil, duePk, dueAt',
      ConditionExpression: 'lockOwner = :me',
      ExpressionAttributeValues: pruneAt ? { ':d': record.denies, ':me': owner, ':due': SESSIONS_DUE, ':at': pruneAt, ':id': permissionSetArn } : { ':d': record.denies, ':me': owner },
    });
    return item !== null;
  }

  async unlock(permissionSetArn: string, owner: string): Promise<boolean> {
    return unlockItem(this.db, key(permissionSetArn), owner);
  }

  async due(now: string): Promise<string[]> {
    const out = await this.db.doc.send(
      new QueryCommand({
        TableName: this.db.table,
        IndexName: INDEX_DUE,
        KeyConditionExpression: 'duePk = :p AND dueAt <= :now',
        ExpressionAttributeValues: { ':p': SESSIONS_DUE, ':now': now },
        ProjectionExpression: 'id',
      }),
    );
    return (out.Items ?? []).map((it) => String(it.id));
  }
}
