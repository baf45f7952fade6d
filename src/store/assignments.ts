import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { AssignmentTarget } from '../domain/request.ts';
import type { AssignmentRecord, AssignmentStorePort } from '../services/ports.ts';
import { updateIf, type Database } from './dynamo.ts';
import { lockItem, renewItem, unlockItem } from './item-lock.ts';

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

/** Assignment records, one item per user × permission set × account, with their lock. */
export class AssignmentStore implements AssignmentStorePort {
  constructor(private readonly db: Database) {}

  async get(t: AssignmentTarget): Promise<AssignmentRecord> {
    const out = await this.db.doc.send(new GetCommand({ TableName: this.db.table, Key: assignmentKey(t), ConsistentRead: true }));
    return toRecord(out.Item);
  }

  /** Takes the assignment's lock until `until`; null when someone else holds it. */
  async lock(t: AssignmentTarget, owner: string, now: string, until: string): Promise<AssignmentRecord | null> {
    const item = await lockItem(this.db, assignmentKey(t), owner, now, until, { target: t });
    return item ? toRecord(item) : null;
  }

  /** Moves the lock's end while its owner still holds it; false once someone else has it. */
  async renew(t: AssignmentTarget, owner: string, until: string): Promise<boolean> {
    return renewItem(this.db, assignmentKey(t), owner, until);
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
    return unlockItem(this.db, assignmentKey(t), owner);
  }
}
