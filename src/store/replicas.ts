import type { ReplicasPort } from '../services/ports.ts';
import { queryPages, updateIf, type Database } from './dynamo.ts';

const REPLICAS_PARTITION = 'REPLICAS';

/**
 * Running replicas, each an item it renews (`until`): how many share the account's Identity
 * Center budget. A replica that stops ends its own item; one that dies runs out.
 */
export class ReplicaStore implements ReplicasPort {
  constructor(private readonly db: Database) {}

  async beat(owner: string, until: string): Promise<void> {
    await updateIf(this.db, { Key: { pk: REPLICAS_PARTITION, sk: owner }, UpdateExpression: 'SET #until = :u', ExpressionAttributeNames: { '#until': 'until' }, ExpressionAttributeValues: { ':u': until } });
  }

  async live(now: string): Promise<number> {
    let n = 0;
    for await (const page of queryPages(this.db, {
      KeyConditionExpression: 'pk = :p',
      FilterExpression: '#until > :now',
      ExpressionAttributeNames: { '#until': 'until' },
      ExpressionAttributeValues: { ':p': REPLICAS_PARTITION, ':now': now },
      ConsistentRead: true,
    })) {
      n += page.length;
    }
    return n;
  }
}
