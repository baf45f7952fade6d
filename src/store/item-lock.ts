import { updateIf, type Database } from './dynamo.ts';
import type { ItemKey } from '../services/ports.ts';

/**
 * The lock every lockable item carries (`lockOwner`, `lockUntil`): taken when free, expired or
 * already the owner's; renewed and released only by its owner. Each is one conditional update.
 */
export async function lockItem(db: Database, key: ItemKey, owner: string, now: string, until: string, also: Record<string, unknown> = {}): Promise<Record<string, unknown> | null> {
  const names = Object.keys(also);
  return updateIf(db, {
    Key: key,
    UpdateExpression: `SET lockOwner = :me, lockUntil = :until${names.map((n, i) => `, #a${i} = :a${i}`).join('')}`,
    ConditionExpression: 'attribute_not_exists(lockUntil) OR lockUntil < :now OR lockOwner = :me',
    ...(names.length > 0 ? { ExpressionAttributeNames: Object.fromEntries(names.map((n, i) => [`#a${i}`, n])) } : {}),
    ExpressionAttributeValues: { ':me': owner, ':until': until, ':now': now, ...Object.fromEntries(names.map((n, i) => [`:a${i}`, also[n]])) },
  });
}

export async function renewItem(db: Database, key: ItemKey, owner: string, until: string): Promise<boolean> {
  return (await updateIf(db, { Key: key, UpdateExpression: 'SET lockUntil = :until', ConditionExpression: 'lockOwner = :me', ExpressionAttributeValues: { ':me': owner, ':until': until } })) !== null;
}

export async function unlockItem(db: Database, key: ItemKey, owner: string): Promise<boolean> {
  return (await updateIf(db, { Key: key, UpdateExpression: 'REMOVE lockOwner, lockUntil', ConditionExpression: 'lockOwner = :me', ExpressionAttributeValues: { ':me': owner } })) !== null;
}
