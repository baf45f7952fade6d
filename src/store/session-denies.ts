import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { SessionDenyRecord, SessionDenyStorePort } from '../services/ports.ts';
import { updateIf, type Database } from './dynamo.ts';
import { INDEX_DUE } from './keys.ts';

/** The due index's partition for permission sets with a denial to remove (requests use DUE). */
const SESSIONS_DUE = 'SESSIONS';

const key = (permissionSetArn: string) => ({ pk: `SESSIONS#${permissionSetArn.split(':::').pop() ?? permissionSetArn}`, sk: 'SESSIONS' });

function toRecord(item: Record<string, unknown>): SessionDenyRecord {
  return { denies: (item.denies as SessionDenyRecord['denies'] | undefined) ?? {} };
}

/** What breakglass denied in each permission set's inline policy, and the lock that serialises edits of it. */
export class SessionDenyStore implements SessionDenyStorePort {
  constructor(private readonly db: Database) {}

  async lock(permissionSetArn: string, owner: string, now: string, until: string): Promise<SessionDenyRecord | null> {
    const item = await updateIf(this.db, {
      Key: key(permissionSetArn),
      UpdateExpression: 'SET lockOwner = :me, lockUntil = :until, permissionSetArn = :ps',
      ConditionExpression: 'attribute_not_exists(lockUntil) OR lockUntil < :now OR lockOwner = :me',
      ExpressionAttributeValues: { ':me': owner, ':until': until, ':now': now, ':ps': permissionSetArn },
    });
    return item ? toRecord(item) : null;
  }

  async renew(permissionSetArn: string, owner: string, until: string): Promise<boolean> {
    const item = await updateIf(this.db, {
      Key: key(permissionSetArn),
      UpdateExpression: 'SET lockUntil = :until',
      ConditionExpression: 'lockOwner = :me',
      ExpressionAttributeValues: { ':me': owner, ':until': until },
    });
    return item !== null;
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
    const item = await updateIf(this.db, {
      Key: key(permissionSetArn),
      UpdateExpression: 'REMOVE lockOwner, lockUntil',
      ConditionExpression: 'lockOwner = :me',
      ExpressionAttributeValues: { ':me': owner },
    });
    return item !== null;
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
