import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { AssignmentTarget } from '../domain/request.ts';
import { updateIf, type Database } from './dynamo.ts';

/**
 * What the bot knows about one Identity Center assignment (user × permission
 * set × account): which grants rely on it, and whether the user held it
 * before the bot ever granted it. Grants and revokes of the same assignment
 * take its lock, so "does it already exist?" and "may I delete it?" are
 * answered without a race.
 */
export interface AssignmentRecord {
  holders: string[];
  /** Set when the assignment existed before any grant relied on it: never delete it. */
  heldBefore: string | null;
  /**
   * A request whose CreateAccountAssignment may have landed without being
   * recorded in holders yet (in flight, or unconfirmed): until it is settled,
   * nobody may mistake that assignment for access the user already had.
   */
  creating: string | null;
}

function toRecord(item: Record<string, unknown> | undefined): AssignmentRecord {
  return {
    holders: (item?.holders as string[] | undefined) ?? [],
    heldBefore: (item?.heldBefore as string | undefined) ?? null,
    creating: (item?.creating as string | undefined) ?? null,
  };
}

export const assignmentKey = (t: AssignmentTarget) => ({
  pk: `ASN#${t.instanceArn.split('/').pop()}#${t.accountId}#${t.permissionSetArn.split('/').pop()}#${t.principalId}`,
  sk: 'ASSIGNMENT',
});

export class AssignmentStore {
  constructor(private readonly db: Database) {}

  async get(t: AssignmentTarget): Promise<AssignmentRecord> {
    const out = await this.db.doc.send(new GetCommand({ TableName: this.db.table, Key: assignmentKey(t), ConsistentRead: true }));
    return toRecord(out.Item);
  }

  /** Takes the assignment's lock until `until`; null when someone else holds it. */
  async lock(t: AssignmentTarget, owner: string, now: string, until: string): Promise<AssignmentRecord | null> {
    const item = await updateIf(this.db, {
      Key: assignmentKey(t),
      UpdateExpression: 'SET lockOwner = :me, lockUntil = :until, target = :t',
      ConditionExpression: 'attribute_not_exists(lockUntil) OR lockUntil < :now OR lockOwner = :me',
      ExpressionAttributeValues: { ':me': owner, ':until': until, ':now': now, ':t': t },
    });
    return item ? toRecord(item) : null;
  }

  /** Moves the lock's end while its owner still holds it; false once someone else has it. */
  async renew(t: AssignmentTarget, owner: string, until: string): Promise<boolean> {
    const item = await updateIf(this.db, {
      Key: assignmentKey(t),
      UpdateExpression: 'SET lockUntil = :until',
      ConditionExpression: 'lockOwner = :me',
      ExpressionAttributeValues: { ':me': owner, ':until': until },
    });
    return item !== null;
  }

  /** Records, under the lock, that `requestId` is about to create the assignment. */
  async markCreating(t: AssignmentTarget, owner: string, requestId: string): Promise<boolean> {
    const item = await updateIf(this.db, {
      Key: assignmentKey(t),
      UpdateExpression: 'SET creating = :r',
      ConditionExpression: 'lockOwner = :me',
      ExpressionAttributeValues: { ':r': requestId, ':me': owner },
    });
    return item !== null;
  }

  /** Writes the whole record (holders, held-before, pending creation) and lets go of the lock; false if the lock was lost. */
  async saveAndUnlock(t: AssignmentTarget, owner: string, record: AssignmentRecord): Promise<boolean> {
    const sets = ['holders = :h'];
    const removes = ['lockOwner', 'lockUntil'];
    const values: Record<string, unknown> = { ':h': record.holders, ':me': owner };
    for (const [field, value] of [['heldBefore', record.heldBefore], ['creating', record.creating]] as const) {
      if (value === null) removes.push(field);
      else {
        sets.push(`${field} = :${field}`);
        values[`:${field}`] = value;
      }
    }
    const item = await updateIf(this.db, {
      Key: assignmentKey(t),
      UpdateExpression: `SET ${sets.join(', ')} REMOVE ${removes.join(', ')}`,
      ConditionExpression: 'lockOwner = :me',
      ExpressionAttributeValues: values,
    });
    return item !== null;
  }

  /** Lets go of the lock without changing the record; false when it was not (or no longer) held. */
  async unlock(t: AssignmentTarget, owner: string): Promise<boolean> {
    const item = await updateIf(this.db, {
      Key: assignmentKey(t),
      UpdateExpression: 'REMOVE lockOwner, lockUntil',
      ConditionExpression: 'lockOwner = :me',
      ExpressionAttributeValues: { ':me': owner },
    });
    return item !== null;
  }
}
