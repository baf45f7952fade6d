import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DomainEvent } from '../domain/events.ts';
import type { DriftAlert, DriftStatus, DriftStorePort } from '../services/ports.ts';
import type { Database } from './dynamo.ts';
import { OUTBOX_PARTITION } from './keys.ts';
import { materialize } from './requests.ts';

export const driftKey = (id: string) => ({ pk: `DRIFT#${id}`, sk: 'DRIFT' });
const openKey = (profileId: string) => ({ pk: `DRIFT_OPEN#${profileId}`, sk: 'DRIFT_OPEN' });

export function driftId(a: Pick<DriftAlert, 'instanceArn' | 'accountId' | 'permissionSetArn' | 'principalType' | 'principalId'>): string {
  return [a.instanceArn.split('/').pop(), a.accountId, a.permissionSetArn.split('/').pop(), a.principalType, a.principalId].join('.');
}

export class DriftStore implements DriftStorePort {
  constructor(private readonly db: Database) {}

  /**
   * Opens an alert unless one is already open for the same access: a single
   * conditional write, so however many passes and replicas see the drift,
   * it is raised once.
   */
  async raise(alert: Omit<DriftAlert, 'status' | 'alertMessage'>, event: DomainEvent, now: string): Promise<boolean> {
    try {
      await this.db.doc.send(
        new UpdateCommand({
          TableName: this.db.table,
          Key: driftKey(alert.id),
          UpdateExpression:
            'SET #status = :open, profileId = :profile, accountId = :account, permissionSetArn = :ps, instanceArn = :inst, principalType = :ptype, principalId = :pid, detectedAt = :now, id = :id, alertMessage = :null, outbox = list_append(if_not_exists(outbox, :empty), :e), outboxPk = :obpk, outboxAt = :now',
          ConditionExpression: 'attribute_not_exists(#status) OR #status <> :open',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':open': 'open',
            ':profile': alert.profileId,
            ':account': alert.accountId,
            ':ps': alert.permissionSetArn,
            ':inst': alert.instanceArn,
            ':ptype': alert.principalType,
            ':pid': alert.principalId,
            ':now': now,
            ':id': alert.id,
            ':null': null,
            ':empty': [],
            ':e': materialize([event], now, this.db),
            ':obpk': OUTBOX_PARTITION,
          },
        }),
      );
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
    await this.db.doc.send(
      new UpdateCommand({ TableName: this.db.table, Key: openKey(alert.profileId), UpdateExpression: 'ADD ids :id', ExpressionAttributeValues: { ':id': new Set([alert.id]) } }),
    );
    return true;
  }

  /** Closes an open alert (revoked by someone, or gone by itself); false when it was not open. */
  async close(id: string, status: Exclude<DriftStatus, 'open'>, event: DomainEvent, now: string): Promise<boolean> {
    let profileId: string;
    try {
      const out = await this.db.doc.send(
        new UpdateCommand({
          TableName: this.db.table,
          Key: driftKey(id),
          UpdateExpression: 'SET #status = :s, outbox = list_append(if_not_exists(outbox, :empty), :e), outboxPk = :obpk, outboxAt = :now',
          ConditionExpression: '#status = :open',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':s': status, ':open': 'open', ':empty': [], ':e': materialize([event], now, this.db), ':obpk': OUTBOX_PARTITION, ':now': now },
          ReturnValues: 'ALL_NEW',
        }),
      );
      profileId = String(out.Attributes?.profileId ?? '');
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
    await this.db.doc.send(
      new UpdateCommand({ TableName: this.db.table, Key: openKey(profileId), UpdateExpression: 'DELETE ids :id', ExpressionAttributeValues: { ':id': new Set([id]) } }),
    );
    return true;
  }

  async get(id: string): Promise<DriftAlert | null> {
    const out = await this.db.doc.send(new GetCommand({ TableName: this.db.table, Key: driftKey(id), ConsistentRead: true }));
    return out.Item ? (out.Item as unknown as DriftAlert) : null;
  }

  async openIds(profileId: string): Promise<string[]> {
    const out = await this.db.doc.send(new GetCommand({ TableName: this.db.table, Key: openKey(profileId), ConsistentRead: true }));
    const ids = out.Item?.ids as Set<string> | undefined;
    return ids ? [...ids] : [];
  }
}
