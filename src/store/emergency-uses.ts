import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { ConflictError, type EmergencyUsePort } from '../services/ports.ts';
import type { Database } from './dynamo.ts';

export const emergencyUsesKey = (slackUserId: string, profileId: string) => ({ pk: `EMERGENCY#${slackUserId}`, sk: `USES#${profileId}` });

/**
 * When one person used emergency access to one profile: one item per person and profile, whose
 * list is rewritten under a version check, so two emergencies submitted at once cannot both slip
 * under the daily limit.
 */
export class EmergencyUses implements EmergencyUsePort {
  constructor(private readonly db: Database) {}

  async take(slackUserId: string, profileId: string, now: string, windowMs: number, limit: number): Promise<string[] | null> {
    const key = emergencyUsesKey(slackUserId, profileId);
    for (let attempt = 0; attempt < 5; attempt++) {
      const out = await this.db.doc.send(new GetCommand({ TableName: this.db.table, Key: key, ConsistentRead: true }));
      const version = typeof out.Item?.version === 'number' ? out.Item.version : 0;
      const since = Date.parse(now) - windowMs;
      const recent = ((out.Item?.uses as string[] | undefined) ?? []).filter((u) => Date.parse(u) > since);
      if (recent.length >= limit) return recent;
      try {
        await this.db.doc.send(
          new PutCommand({
            TableName: this.db.table,
            Item: { ...key, uses: [...recent, now], version: version + 1 },
            ConditionExpression: 'attribute_not_exists(pk) OR version = :v',
            ExpressionAttributeValues: { ':v': version },
          }),
        );
        return null;
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err;
      }
    }
    throw new ConflictError('emergency uses kept changing; try again');
  }
}
