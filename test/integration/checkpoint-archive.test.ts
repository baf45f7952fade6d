/**
 * The S3 checkpoint archive against the fake S3, built the way production builds it: the SDK's
 * own client from the environment, with AWS_ENDPOINT_URL_S3 pointing at the fake.
 */
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ArchiveUnreadable,
  CheckpointArchiveError,
  S3CheckpointArchive,
  checkpointKey,
  type Checkpoint,
} from '../../src/audit/checkpoint-archive.ts';
import { FakeS3 } from '../support/fake-s3.ts';

const BUCKET = 'breakglass-audit-checkpoints';
const REGION = 'eu-central-1';
const RETENTION_DAYS = 400;
const START = Date.parse('2026-05-04T10:00:00.000Z');
const DAY = 86_400_000;
const CREDENTIALS = { accessKeyId: 'AKIAFAKEFAKEFAKEFAKE', secretAccessKey: 'fake-secret' };

let fake: FakeS3;
let clock = START;
const archives: S3CheckpointArchive[] = [];
const clients: S3Client[] = [];

beforeEach(async () => {
  clock = START;
  fake = await FakeS3.start({
    buckets: [{ name: BUCKET, region: REGION, objectLock: { mode: 'COMPLIANCE', days: RETENTION_DAYS } }],
    now: () => clock,
  });
  // "localhost", not 127.0.0.1: the SDK falls back to path-style by itself for IP addresses, so
  // only a host name proves the archive asks for it when the endpoint is overridden.
  vi.stubEnv('AWS_ENDPOINT_URL_S3', fake.url.replace('127.0.0.1', 'localhost'));
  vi.stubEnv('AWS_ACCESS_KEY_ID', CREDENTIALS.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', CREDENTIALS.secretAccessKey);
  vi.stubEnv('AWS_SESSION_TOKEN', '');
});

afterEach(async () => {
  for (const a of archives.splice(0)) a.destroy();
  for (const c of clients.splice(0)) c.destroy();
  vi.unstubAllEnvs();
  await fake.close();
});

function archive(opts: { client?: S3Client; bucket?: string } = {}): S3CheckpointArchive {
  const a = new S3CheckpointArchive({ bucket: opts.bucket ?? BUCKET, region: REGION, ...(opts.client ? { client: opts.client } : {}) });
  archives.push(a);
  return a;
}

/** A client of our own (e.g. an operator's), for what the bot itself never does. */
function operatorClient(extra: { requestChecksumCalculation?: 'WHEN_REQUIRED' } = {}): S3Client {
  const c = new S3Client({ region: REGION, endpoint: fake.url, forcePathStyle: true, credentials: CREDENTIALS, maxAttempts: 1, ...extra });
  clients.push(c);
  return c;
}

const cp = (seq: number, extra: Partial<Checkpoint> = {}): Checkpoint => ({
  seq,
  hash: seq.toString(16).padStart(64, '0'),
  at: new Date(START + seq * 1000).toISOString(),
  keyId: 'k1',
  mac: `mac-${seq}`,
  ...extra,
});

async function failure(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof Error)) throw new Error('expected a rejection');
  return err;
}

describe('S3CheckpointArchive', () => {
  it('keys count down from the largest seq, so the newest sorts first', () => {
    expect(checkpointKey(1)).toBe('checkpoints/999999999998.json');
    expect(checkpointKey(3)).toBe('checkpoints/999999999996.json');
    expect(checkpointKey(0)).toBe('checkpoints/999999999999.json');
    expect(checkpointKey(999_999_999_999)).toBe('checkpoints/000000000000.json');
    expect(() => checkpointKey(1_000_000_000_000)).toThrow(RangeError);
    expect(() => checkpointKey(1.5)).toThrow(RangeError);
  });

  it('newest() is the highest seq, found with one page of versions and one versioned Get', async () => {
    const a = archive();
    for (const seq of [2, 3, 1]) await a.put(cp(seq));
    fake.clearCalls();

    expect(await a.newest()).toEqual({ checkpoint: cp(3), hiddenByDeleteMarker: false });
    const calls = fake.calls();
    expect(calls.map((c) => c.operation)).toEqual(['ListObjectVersions', 'GetObject']);
    expect(calls[0]?.query).toEqual({ versions: '', prefix: 'checkpoints/', 'max-keys': '10' });
    expect(calls[1]?.key).toBe(checkpointKey(3));
    expect(calls[1]?.query.versionId).toBe(fake.objects(BUCKET).find((o) => o.key === checkpointKey(3))?.versionId);
  });

  it('writes JSON objects that the bucket holds locked until now + its retention', async () => {
    const a = archive();
    await a.put(cp(1, { keyId: null, mac: null }));
    clock += 60_000;
    await a.put(cp(2));
    const stored = fake.objects(BUCKET);
    expect(stored.map((o) => o.key)).toEqual([checkpointKey(2), checkpointKey(1)]);
    for (const o of stored) {
      expect(o.contentType).toBe('application/json');
      expect(o.checksum?.algorithm).toBe('CRC32');
      expect(o.retention?.mode).toBe('COMPLIANCE');
    }
    expect(stored[0]?.retention?.retainUntil.getTime()).toBe(START + 60_000 + RETENTION_DAYS * DAY);
    expect(stored[1]?.retention?.retainUntil.getTime()).toBe(START + RETENTION_DAYS * DAY);
    expect(JSON.parse(stored[1]?.body.toString() ?? '')).toEqual({ seq: 1, hash: cp(1).hash, at: cp(1).at, keyId: null, mac: null });
    // Every put is path-style on the overridden endpoint, checksummed, and asks for no lock of its own.
    for (const call of fake.calls()) {
      expect(call.headers['x-amz-checksum-crc32']).toBeDefined();
      expect(Object.keys(call.headers).filter((h) => h.startsWith('x-amz-object-lock'))).toEqual([]);
    }
  });

  it('a locked checkpoint cannot be deleted, and a delete marker does not hide it from newest(), which reports it', async () => {
    const a = archive();
    for (const seq of [1, 2, 3]) await a.put(cp(seq));
    const operator = operatorClient();
    const newest = fake.objects(BUCKET).find((o) => o.key === checkpointKey(3));

    const refused = await failure(operator.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: checkpointKey(3), VersionId: newest?.versionId })));
    expect(refused.name).toBe('AccessDenied');
    expect(fake.objects(BUCKET).filter((o) => !o.deleteMarker)).toHaveLength(3);

    // A plain delete (s3:DeleteObject) needs no bypass: the locked version stays, but the key drops
    // out of ListObjectsV2 and an unversioned Get, which is all a current-objects reader would see…
    const marker = await operator.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: checkpointKey(3) }));
    expect(marker.DeleteMarker).toBe(true);
    const current = await operator.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'checkpoints/' }));
    expect(current.Contents?.map((c) => c.Key)).toEqual([checkpointKey(2), checkpointKey(1)]);
    expect((await failure(operator.send(new GetObjectCommand({ Bucket: BUCKET, Key: checkpointKey(3) })))).name).toBe('NoSuchKey');

    // …while newest() still finds checkpoint 3, and says it was hidden.
    expect(await a.newest()).toEqual({ checkpoint: cp(3), hiddenByDeleteMarker: true });
    // A second marker on top changes nothing.
    await operator.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: checkpointKey(3) }));
    expect(await a.newest()).toEqual({ checkpoint: cp(3), hiddenByDeleteMarker: true });

    // A delete marker under a newer key with no version hides nothing: there is no checkpoint there.
    await operator.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: checkpointKey(4) }));
    expect((await a.newest())?.checkpoint).toEqual(cp(3));

    // Once the markers are removed (they carry no lock) the key is plainly visible again.
    for (const o of fake.objects(BUCKET).filter((v) => v.deleteMarker && v.key === checkpointKey(3))) {
      await operator.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: o.key, VersionId: o.versionId }));
    }
    expect(await a.newest()).toEqual({ checkpoint: cp(3), hiddenByDeleteMarker: false });
  });

  it('a delete marker that was later written over is not reported as hiding anything', async () => {
    const a = archive();
    await a.put(cp(3));
    await operatorClient().send(new DeleteObjectCommand({ Bucket: BUCKET, Key: checkpointKey(3) }));
    await a.put(cp(3));
    expect(await a.newest()).toEqual({ checkpoint: cp(3), hiddenByDeleteMarker: false });
  });

  it('the same checkpoint written twice is one checkpoint; two different ones under one seq are an error naming the key', async () => {
    const a = archive();
    await a.put(cp(2));
    await a.put(cp(3));
    clock += 1000;
    await a.put(cp(3)); // a retried put
    fake.clearCalls();
    expect(await a.newest()).toEqual({ checkpoint: cp(3), hiddenByDeleteMarker: false });
    // Every version under the newest key is read and compared.
    expect(fake.calls().map((c) => c.operation)).toEqual(['ListObjectVersions', 'GetObject', 'GetObject']);

    // Someone with s3:PutObject writes another checkpoint for seq 3 (the lock keeps the old versions).
    const forged = cp(3, { hash: 'f'.repeat(64), mac: 'mac-forged' });
    await operatorClient().send(new PutObjectCommand({ Bucket: BUCKET, Key: checkpointKey(3), Body: JSON.stringify(forged), ContentType: 'application/json' }));
    // Listed newest first: the forged version is read first, and the retried put is where they part.
    const [, retried, forgedVersion] = fake.objects(BUCKET).filter((o) => o.key === checkpointKey(3)).map((o) => o.versionId);
    const err = await failure(a.newest());
    expect(err).toBeInstanceOf(CheckpointArchiveError);
    expect(err.message).toBe(
      `s3://${BUCKET}/${checkpointKey(3)} holds different checkpoints for seq 3 (versions ${forgedVersion} and ${retried}): someone wrote a second checkpoint under a seq already anchored`,
    );
  });

  // With pages of 10, and 12 older checkpoints after the newest key so that the last page is
  // truncated too (newest() must stop once the listing is past the newest key):
  // - 17 markers ahead: page 2 holds checkpoint 20's two markers and its newest version, page 3
  //   the other two versions, so its versions span pages;
  // - 18 markers ahead: page 2 ends with the two markers, so what hides the key is a page before its versions.
  it.each([17, 18])('pages through %i delete markers ahead of the newest checkpoint and through its versions', async (ahead) => {
    const a = archive();
    for (let seq = 1; seq <= 12; seq++) await a.put(cp(seq));
    for (let i = 0; i < 3; i++) await a.put(cp(20));
    // Markers on keys of seqs never written sort first; then two on checkpoint 20 itself.
    for (let seq = 100; seq < 100 + ahead; seq++) fake.seedDeleteMarker(BUCKET, checkpointKey(seq));
    for (let i = 0; i < 2; i++) fake.seedDeleteMarker(BUCKET, checkpointKey(20));
    fake.clearCalls();

    expect(await a.newest()).toEqual({ checkpoint: cp(20), hiddenByDeleteMarker: true });
    const calls = fake.calls();
    expect(calls.map((c) => c.operation)).toEqual(['ListObjectVersions', 'ListObjectVersions', 'ListObjectVersions', 'GetObject', 'GetObject', 'GetObject']);
    const firstPageEnd = fake.objects(BUCKET).find((o) => o.key === checkpointKey(100 + ahead - 10));
    expect(calls[1]?.query).toMatchObject({ 'key-marker': firstPageEnd?.key, 'version-id-marker': firstPageEnd?.versionId });
    expect(calls[2]?.query['key-marker']).toBe(checkpointKey(20));
    const versions = fake.objects(BUCKET).filter((o) => o.key === checkpointKey(20) && !o.deleteMarker);
    expect(calls.slice(3).map((c) => c.query.versionId)).toEqual(versions.map((v) => v.versionId).reverse());
  });

  it('gives up, loudly, on more delete markers ahead of the newest checkpoint than it pages through', async () => {
    const a = archive();
    await a.put(cp(1));
    for (let seq = 1000; seq < 2000; seq++) fake.seedDeleteMarker(BUCKET, checkpointKey(seq));
    const err = await failure(a.newest());
    expect(err).toBeInstanceOf(CheckpointArchiveError);
    expect(err.message).toBe(`s3://${BUCKET}/checkpoints/: no checkpoint version in the first 1000 entries of the version listing, only delete markers`);
    expect(fake.calls().filter((c) => c.operation === 'ListObjectVersions')).toHaveLength(100);
  });

  it('the fake refuses an upload without a checksum, while the archive always sends one', async () => {
    const bare = operatorClient({ requestChecksumCalculation: 'WHEN_REQUIRED' });
    const refused = await failure(bare.send(new PutObjectCommand({ Bucket: BUCKET, Key: checkpointKey(7), Body: JSON.stringify(cp(7)), ContentType: 'application/json' })));
    expect(refused.name).toBe('InvalidRequest');
    expect(refused.message).toContain('Content-MD5 OR x-amz-checksum- HTTP header is required');

    // The environment lowering the SDK's default does not reach the archive's own client…
    vi.stubEnv('AWS_REQUEST_CHECKSUM_CALCULATION', 'WHEN_REQUIRED');
    await archive().put(cp(7));
    // …nor does an injected client configured that way.
    await archive({ client: bare }).put(cp(8));
    expect(fake.objects(BUCKET).map((o) => o.key)).toEqual([checkpointKey(8), checkpointKey(7)]);
  });

  it('newest() on an empty bucket, or one with only delete markers, is null', async () => {
    expect(await archive().newest()).toBeNull();
    await operatorClient().send(new DeleteObjectCommand({ Bucket: BUCKET, Key: checkpointKey(1) }));
    expect(await archive().newest()).toBeNull();
  });

  it('a write-only role can put but not read: ArchiveUnreadable says what to do', async () => {
    fake.denyReads = true;
    const a = archive();
    await a.put(cp(1));
    const err = await failure(a.newest());
    expect(err).toBeInstanceOf(ArchiveUnreadable);
    expect(err).toBeInstanceOf(CheckpointArchiveError);
    expect(err.message).toBe(
      `s3://${BUCKET}: the checkpoint bucket is write-only for the bot; run audit verify with credentials that may read it (s3:ListBucketVersions, s3:GetObjectVersion)`,
    );
    expect((err as ArchiveUnreadable).bucket).toBe(BUCKET);
    // What was refused is the version listing (s3:ListBucketVersions), not a plain list.
    expect(fake.calls().at(-1)).toMatchObject({ operation: 'ListObjectVersions', status: 403, errorCode: 'AccessDenied' });
  });

  it('a malformed or foreign object under the prefix is an error naming its key', async () => {
    const a = archive();
    await a.put(cp(1));
    const v5 = fake.seed(BUCKET, checkpointKey(5), 'not json {');
    const notJson = await failure(a.newest());
    expect(notJson).toBeInstanceOf(CheckpointArchiveError);
    expect(notJson.message).toBe(`s3://${BUCKET}/${checkpointKey(5)} (version ${v5}) is not a checkpoint: not JSON`);

    const v6 = fake.seed(BUCKET, checkpointKey(6), JSON.stringify({ seq: 6, hash: 'zz', at: 'yesterday', keyId: 'k1', mac: null, extra: 1 }));
    const foreign = await failure(a.newest());
    expect(foreign.message).toContain(`s3://${BUCKET}/${checkpointKey(6)} (version ${v6}) is not a checkpoint:`);
    expect(foreign.message).toContain('hash');
    expect(foreign.message).toContain('at');

    // A valid checkpoint filed under another seq's key is not taken for the newest.
    const v9 = fake.seed(BUCKET, checkpointKey(9), JSON.stringify(cp(4)));
    const misplaced = await failure(a.newest());
    expect(misplaced.message).toBe(`s3://${BUCKET}/${checkpointKey(9)} (version ${v9}) holds checkpoint 4, which belongs at ${checkpointKey(4)}`);

    // Keys sorting before the digits (".keep") come first in the listing too.
    fake.seed(BUCKET, 'checkpoints/.keep', '');
    expect((await failure(a.newest())).message).toContain(`s3://${BUCKET}/checkpoints/.keep (version `);
  });

  it('put() refuses an invalid checkpoint without writing it', async () => {
    const a = archive();
    await expect(a.put(cp(1, { hash: 'ABC' }))).rejects.toThrow(/refusing to archive an invalid checkpoint: hash/);
    await expect(a.put(cp(1, { mac: null }))).rejects.toThrow(/keyId and mac must both be set or both be null/);
    await expect(a.put(cp(-1))).rejects.toThrow(CheckpointArchiveError);
    expect(fake.objects(BUCKET)).toEqual([]);
    expect(fake.calls()).toEqual([]);
  });

  it('a missing bucket is named in the error', async () => {
    const a = archive({ bucket: 'no-such-bucket' });
    await expect(a.newest()).rejects.toThrow('checkpoint bucket s3://no-such-bucket does not exist');
    await expect(a.put(cp(1))).rejects.toThrow(/could not write checkpoint 1 to s3:\/\/no-such-bucket\/checkpoints\/999999999998\.json: NoSuchBucket/);
  });
});
