import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Checkpoint } from '../audit/chain.ts';
import type { CheckpointStorePort } from '../services/ports.ts';
import type { Database } from './dynamo.ts';
import { seqKey } from './keys.ts';

const CHECKPOINT_PARTITION = 'CHECKPOINT';

/**
 * Checkpoints of the audit chain kept in the table itself. They do not stop someone who can
 * write the table (that is what the S3 archive is for), but they catch a chain whose last
 * records went missing by accident or by a careless hand.
 */
export class CheckpointStore implements CheckpointStorePort {
  constructor(private readonly db: Database) {}

  /** Stores one; a checkpoint of the same record already there is left as it is. */
  async put(cp: Checkpoint): Promise<void> {
    try {
      await this.db.doc.send(
        new PutCommand({ TableName: this.db.table, Item: { pk: CHECKPOINT_PARTITION, sk: seqKey(cp.seq), ...cp }, ConditionExpression: 'attribute_not_exists(pk)' }),
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }

  async newest(): Promise<Checkpoint | null> {
    const out = await this.db.doc.send(
      new QueryCommand({
        TableName: this.db.table,
        KeyConditionExpression: 'pk = :p',
        ExpressionAttributeValues: { ':p': CHECKPOINT_PARTITION },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    const it = out.Items?.[0];
    if (!it) return null;
    return { seq: Number(it.seq), hash: String(it.hash), at: String(it.at), keyId: (it.keyId as string | null) ?? null, mac: (it.mac as string | null) ?? null };
  }
}
