/**
 * Drives the fake S3 with the real @aws-sdk/client-s3, so what the checkpoint archive relies on
 * (checksums, Object Lock, versioning, listing order and paging, error shapes) is proven over the
 * actual protocol. A few raw requests cover what the SDK never sends.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
  NoSuchBucket,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  paginateListObjectsV2,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeS3, type FakeS3Options } from '../support/fake-s3.ts';

const LOCKED = 'locked-bucket';
const GOVERNED = 'governed-bucket';
const PLAIN = 'plain-bucket';
const START = Date.parse('2026-03-01T12:00:00.000Z');
const DAY = 86_400_000;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const fakes: FakeS3[] = [];
const clients: S3Client[] = [];
let clock = START;

async function startFake(overrides: Partial<FakeS3Options> = {}): Promise<FakeS3> {
  clock = START;
  const fake = await FakeS3.start({
    buckets: [
      { name: LOCKED, objectLock: { mode: 'COMPLIANCE', days: 30 } },
      { name: GOVERNED, objectLock: { mode: 'GOVERNANCE', days: 1 } },
      { name: PLAIN },
    ],
    now: () => clock,
    ...overrides,
  });
  fakes.push(fake);
  return fake;
}

function s3(fake: FakeS3, extra: Partial<S3ClientConfig> = {}): S3Client {
  const client = new S3Client({
    endpoint: fake.url,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIAFAKEFAKEFAKEFAKE', secretAccessKey: 'fake-secret' },
    maxAttempts: 1,
    ...extra,
  });
  clients.push(client);
  return client;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

async function rejection(p: Promise<unknown>): Promise<S3ServiceException> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof S3ServiceException)) throw new Error(`expected an S3 error, got ${String(err)}`);
  return err;
}

/** A request with a well-formed (unverified) SigV4 header, for what the SDK will not send. */
function raw(fake: FakeS3, method: string, path: string, headers: Record<string, string>, body?: Buffer | string) {
  const url = new URL(path, fake.url);
  const auth =
    'AWS4-HMAC-SHA256 Credential=AKIAFAKEFAKEFAKEFAKE/20260301/us-east-1/s3/aws4_request, ' +
    `SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=${'0'.repeat(64)}`;
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const req = request(url, { method, headers: { authorization: auth, 'x-amz-date': '20260301T120000Z', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('fake S3: PutObject and GetObject', () => {
  it('stores what the SDK uploads with its default CRC32 header, and serves it back with lock and checksum headers', async () => {
    const fake = await startFake();
    const client = s3(fake);
    const put = await client.send(new PutObjectCommand({ Bucket: LOCKED, Key: 'a/b.json', Body: '{"x":1}', ContentType: 'application/json' }));
    expect(put.ETag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(put.VersionId).toMatch(/^[A-Za-z0-9._]{32}$/);
    expect(put.ChecksumCRC32).toBeDefined();
    expect(put.ChecksumType).toBe('FULL_OBJECT');

    const [call] = fake.calls();
    expect(call).toMatchObject({ operation: 'PutObject', status: 200 });
    expect(call?.headers['x-amz-sdk-checksum-algorithm']).toBe('CRC32');
    expect(call?.headers['x-amz-checksum-crc32']).toBe(put.ChecksumCRC32);
    expect(call?.headers['content-encoding']).toBeUndefined();

    const got = await client.send(new GetObjectCommand({ Bucket: LOCKED, Key: 'a/b.json' }));
    expect(await got.Body?.transformToString()).toBe('{"x":1}');
    expect(got.ContentType).toBe('application/json');
    expect(got.ETag).toBe(put.ETag);
    expect(got.VersionId).toBe(put.VersionId);
    expect(got.ObjectLockMode).toBe('COMPLIANCE');
    expect(got.ObjectLockRetainUntilDate?.toISOString()).toBe(new Date(START + 30 * DAY).toISOString());
    expect(got.ObjectLockLegalHoldStatus).toBe('OFF');
    // The SDK asks for the checksum (x-amz-checksum-mode: ENABLED) and validates the body against it.
    expect(got.ChecksumCRC32).toBe(put.ChecksumCRC32);

    const head = await client.send(new HeadObjectCommand({ Bucket: LOCKED, Key: 'a/b.json' }));
    expect(head.ContentLength).toBe(7);
    expect(head.ObjectLockMode).toBe('COMPLIANCE');
  });

  it('verifies every checksum algorithm the SDK can send, and Content-MD5', async () => {
    const fake = await startFake();
    const client = s3(fake);
    const body = 'checkpoint body ✓ '.repeat(50);
    for (const algorithm of ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256', 'MD5'] as const) {
      await client.send(new PutObjectCommand({ Bucket: LOCKED, Key: `alg/${algorithm}`, Body: body, ChecksumAlgorithm: algorithm }));
    }
    const stored = fake.objects(LOCKED);
    expect(stored.map((o) => o.checksum?.algorithm)).toEqual(['CRC32', 'CRC32C', 'CRC64NVME', 'CRC64NVME', 'SHA1', 'SHA256']);
    const md5Call = fake.calls().find((c) => c.key === 'alg/MD5');
    expect(md5Call?.headers['content-md5']).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    // Each stored checksum is served back and validated by the SDK on download.
    for (const o of stored) {
      const got = await client.send(new GetObjectCommand({ Bucket: LOCKED, Key: o.key }));
      expect(await got.Body?.transformToString()).toBe(body);
    }
  });

  it('rejects a checksum or Content-MD5 that does not match the body with BadDigest', async () => {
    const fake = await startFake();
    const client = s3(fake);
    const crc = await rejection(client.send(new PutObjectCommand({ Bucket: PLAIN, Key: 'k', Body: 'hello', ChecksumCRC32: 'AAAAAA==' })));
    expect(crc.name).toBe('BadDigest');
    expect(crc.$metadata.httpStatusCode).toBe(400);
    expect(crc.message).toBe('The CRC32 you specified did not match the calculated checksum.');

    const sha = await rejection(client.send(new PutObjectCommand({ Bucket: PLAIN, Key: 'k', Body: 'hello', ChecksumSHA256: Buffer.alloc(32).toString('base64') })));
    expect(sha.name).toBe('BadDigest');

    const md5 = await rejection(client.send(new PutObjectCommand({ Bucket: PLAIN, Key: 'k', Body: 'hello', ContentMD5: Buffer.alloc(16).toString('base64') })));
    expect(md5.name).toBe('BadDigest');
    expect(md5.message).toBe('The Content-MD5 you specified did not match what we received.');

    const malformed = await rejection(client.send(new PutObjectCommand({ Bucket: PLAIN, Key: 'k', Body: 'hello', ContentMD5: 'nope' })));
    expect(malformed.name).toBe('InvalidDigest');
    expect(fake.objects()).toEqual([]);
  });

  it('decodes aws-chunked uploads with a trailing checksum, and refuses small chunks as S3 does', async () => {
    const fake = await startFake();
    const data = Buffer.alloc(20_000, 'abcdefghij');
    const pieces = () => Readable.from(Array.from({ length: 20 }, (_, i) => data.subarray(i * 1000, (i + 1) * 1000)));

    // Streams are sent aws-chunked (STREAMING-UNSIGNED-PAYLOAD-TRAILER) with the CRC32 as a trailer.
    const buffered = s3(fake, { requestStreamBufferSize: 64 * 1024 });
    await buffered.send(new PutObjectCommand({ Bucket: LOCKED, Key: 'stream', Body: pieces(), ContentLength: data.length }));
    const call = fake.calls().at(-1);
    expect(call?.headers).toMatchObject({
      'content-encoding': 'aws-chunked',
      'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      'x-amz-trailer': 'x-amz-checksum-crc32',
      'x-amz-decoded-content-length': '20000',
    });
    expect(call?.trailers['x-amz-checksum-crc32']).toMatch(/^[A-Za-z0-9+/]{6}==$/);
    const [stored] = fake.objects(LOCKED);
    expect(stored?.body.equals(data)).toBe(true);
    expect(stored?.contentEncoding).toBeNull(); // aws-chunked is not part of the object
    expect(stored?.checksum).toEqual({ algorithm: 'CRC32', value: call?.trailers['x-amz-checksum-crc32'] });

    // Without buffering, every 1000-byte read becomes a chunk: S3 wants 8 KiB except for the last.
    const unbuffered = s3(fake);
    const err = await rejection(unbuffered.send(new PutObjectCommand({ Bucket: LOCKED, Key: 'stream2', Body: pieces(), ContentLength: data.length })));
    expect(err.name).toBe('InvalidChunkSizeError');
    expect(err.message).toContain('Only the last chunk is allowed to have a size less than 8192 bytes');
  });

  it('decodes a signed aws-chunked body and checks its decoded length and trailer', async () => {
    const fake = await startFake();
    const sig = `;chunk-signature=${'a'.repeat(64)}`;
    const body = `5${sig}\r\nhello\r\n0${sig}\r\n\r\n`;
    const ok = await raw(fake, 'PUT', `/${PLAIN}/signed`, { 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': '5', 'content-length': String(body.length) }, body);
    expect(ok.status).toBe(200);
    expect(fake.objects(PLAIN)[0]?.body.toString()).toBe('hello');

    const short = await raw(fake, 'PUT', `/${PLAIN}/short`, { 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': '9', 'content-length': String(body.length) }, body);
    expect(short.status).toBe(400);
    expect(short.body).toContain('<Code>IncompleteBody</Code>');

    const noLength = await raw(fake, 'PUT', `/${PLAIN}/nolen`, { 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'content-encoding': 'aws-chunked', 'content-length': String(body.length) }, body);
    expect(noLength.status).toBe(411);
    expect(noLength.body).toContain('<Code>MissingContentLength</Code>');

    const trailer = '5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n';
    const bad = await raw(fake, 'PUT', `/${PLAIN}/trailer`, { 'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': '5', 'x-amz-trailer': 'x-amz-checksum-crc32', 'content-length': String(trailer.length) }, trailer);
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('<Code>BadDigest</Code>');
  });

  it('checks x-amz-content-sha256 against the body and requires it', async () => {
    const fake = await startFake();
    const mismatch = await raw(fake, 'PUT', `/${PLAIN}/k`, { 'x-amz-content-sha256': 'f'.repeat(64), 'content-length': '5' }, 'hello');
    expect(mismatch.status).toBe(400);
    expect(mismatch.body).toContain('<Code>XAmzContentSHA256Mismatch</Code>');
    const missing = await raw(fake, 'PUT', `/${PLAIN}/k`, { 'content-length': '5' }, 'hello');
    expect(missing.status).toBe(400);
    expect(missing.body).toContain('Missing required header for this request: x-amz-content-sha256');
    const chunked = await raw(fake, 'PUT', `/${PLAIN}/k`, { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'transfer-encoding': 'chunked' }, 'hello');
    expect(chunked.status).toBe(501);
    expect(fake.objects()).toEqual([]);
  });
});

describe('fake S3: Object Lock', () => {
  it('refuses a PutObject without Content-MD5 or x-amz-checksum-* to a bucket with default retention', async () => {
    const fake = await startFake();
    // WHEN_REQUIRED: PutObject does not require a checksum, so the SDK sends none.
    const bare = s3(fake, { requestChecksumCalculation: 'WHEN_REQUIRED' });
    const err = await rejection(bare.send(new PutObjectCommand({ Bucket: LOCKED, Key: 'k', Body: 'hello' })));
    expect(err.name).toBe('InvalidRequest');
    expect(err.$metadata.httpStatusCode).toBe(400);
    expect(err.message).toBe('Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters');
    const call = fake.calls().at(-1);
    expect(Object.keys(call?.headers ?? {}).filter((h) => h.startsWith('x-amz-checksum') || h === 'content-md5')).toEqual([]);
    expect(fake.objects(LOCKED)).toEqual([]);

    // The same request is fine where nothing is locked; S3 then keeps a CRC64NVME of its own.
    await bare.send(new PutObjectCommand({ Bucket: PLAIN, Key: 'k', Body: 'hello' }));
    expect(fake.objects(PLAIN)[0]?.checksum?.algorithm).toBe('CRC64NVME');
    const got = await bare.send(new GetObjectCommand({ Bucket: PLAIN, Key: 'k', ChecksumMode: 'ENABLED' }));
    expect(got.ChecksumCRC64NVME).toBe(fake.objects(PLAIN)[0]?.checksum?.value);
    expect(await got.Body?.transformToString()).toBe('hello');
  });

  it('applies the default retention to every version and refuses to delete a locked version', async () => {
    const fake = await startFake();
    const client = s3(fake);
    const v1 = await client.send(new PutObjectCommand({ Bucket: LOCKED, Key: 'k', Body: 'one' }));
    clock += 1000;
    const v2 = await client.send(new PutObjectCommand({ Bucket: LOCKED, Key: 'k', Body: 'two' }));
    expect(fake.objects(LOCKED).map((o) => [o.versionId, o.isLatest, o.retention?.mode, o.retention?.retainUntil.getTime()])).toEqual([
      [v1.VersionId, false, 'COMPLIANCE', START + 30 * DAY],
      [v2.VersionId, true, 'COMPLIANCE', START + 1000 + 30 * DAY],
    ]);

    const denied = await rejection(client.send(new DeleteObjectCommand({ Bucket: LOCKED, Key: 'k', VersionId: v1.VersionId })));
    expect(denied.name).toBe('AccessDenied');
    expect(denied.$metadata.httpStatusCode).toBe(403);
    expect(denied.message).toBe('Access Denied because object protected by object lock.');
    // Compliance mode: even the governance bypass does not help.
    const bypass = await rejection(client.send(new DeleteObjectCommand({ Bucket: LOCKED, Key: 'k', VersionId: v1.VersionId, BypassGovernanceRetention: true })));
    expect(bypass.name).toBe('AccessDenied');
    expect(fake.objects(LOCKED)).toHaveLength(2);

    // Once the retention has passed, the version may go.
    clock = START + 30 * DAY + 1;
    await client.send(new DeleteObjectCommand({ Bucket: LOCKED, Key: 'k', VersionId: v1.VersionId }));
    expect(fake.objects(LOCKED).map((o) => o.versionId)).toEqual([v2.VersionId]);
  });

  it('a plain delete adds a delete marker: the key looks gone, the locked versions stay', async () => {
    const fake = await startFake();
    const client = s3(fake);
    const put = await client.send(new PutObjectCommand({ Bucket: LOCKED, Key: 'k', Body: 'kept' }));
    const del = await client.send(new DeleteObjectCommand({ Bucket: LOCKED, Key: 'k' }));
    expect(del.DeleteMarker).toBe(true);
    expect(del.VersionId).toMatch(/^[A-Za-z0-9._]{32}$/);

    const gone = await rejection(client.send(new GetObjectCommand({ Bucket: LOCKED, Key: 'k' })));
    expect(gone).toBeInstanceOf(NoSuchKey);
    expect(gone.$response?.headers['x-amz-delete-marker']).toBe('true');
    const listed = await client.send(new ListObjectsV2Command({ Bucket: LOCKED }));
    expect(listed.KeyCount).toBe(0);
    const old = await client.send(new GetObjectCommand({ Bucket: LOCKED, Key: 'k', VersionId: put.VersionId }));
    expect(await old.Body?.transformToString()).toBe('kept');
    const marker = await rejection(client.send(new GetObjectCommand({ Bucket: LOCKED, Key: 'k', VersionId: del.VersionId })));
    expect(marker.$metadata.httpStatusCode).toBe(405);

    // Delete markers carry no lock: removing one brings the object back.
    const undo = await client.send(new DeleteObjectCommand({ Bucket: LOCKED, Key: 'k', VersionId: del.VersionId }));
    expect(undo.DeleteMarker).toBe(true);
    expect(await (await client.send(new GetObjectCommand({ Bucket: LOCKED, Key: 'k' }))).Body?.transformToString()).toBe('kept');
  });

  it('governance mode gives way to x-amz-bypass-governance-retention', async () => {
    const fake = await startFake();
    const client = s3(fake);
    const put = await client.send(new PutObjectCommand({ Bucket: GOVERNED, Key: 'k', Body: 'x' }));
    const denied = await rejection(client.send(new DeleteObjectCommand({ Bucket: GOVERNED, Key: 'k', VersionId: put.VersionId })));
    expect(denied.name).toBe('AccessDenied');
    await client.send(new DeleteObjectCommand({ Bucket: GOVERNED, Key: 'k', VersionId: put.VersionId, BypassGovernanceRetention: true }));
    expect(fake.objects(GOVERNED)).toEqual([]);
  });

  it('honours per-object retention and legal hold, and refuses lock headers where Object Lock is off', async () => {
    const fake = await startFake();
    const client = s3(fake);
    const until = new Date(START + 400 * DAY);
    await client.send(new PutObjectCommand({ Bucket: LOCKED, Key: 'k', Body: 'x', ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: until, ObjectLockLegalHoldStatus: 'ON' }));
    expect(fake.objects(LOCKED)[0]).toMatchObject({ retention: { mode: 'GOVERNANCE', retainUntil: until }, legalHold: true });
    const held = await rejection(client.send(new DeleteObjectCommand({ Bucket: LOCKED, Key: 'k', VersionId: fake.objects(LOCKED)[0]?.versionId, BypassGovernanceRetention: true })));
    expect(held.name).toBe('AccessDenied');

    const past = await rejection(client.send(new PutObjectCommand({ Bucket: LOCKED, Key: 'k', Body: 'x', ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: new Date(START - 1) })));
    expect(past.name).toBe('InvalidArgument');
    const off = await rejection(client.send(new PutObjectCommand({ Bucket: PLAIN, Key: 'k', Body: 'x', ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: until })));
    expect(off.name).toBe('InvalidRequest');
    expect(off.message).toBe('Bucket is missing Object Lock Configuration');
  });
});

describe('fake S3: ListObjectsV2', () => {
  async function seedKeys(fake: FakeS3, keys: string[]) {
    const client = s3(fake);
    for (const key of keys) await client.send(new PutObjectCommand({ Bucket: PLAIN, Key: key, Body: key }));
    return client;
  }

  it('lists in UTF-8 binary order with KeyCount, MaxKeys, IsTruncated and continuation tokens', async () => {
    const fake = await startFake();
    // Binary order: digits < upper case < lower case < non-ASCII.
    const client = await seedKeys(fake, ['p/b', 'p/é', 'p/A', 'p/10', 'p/9', 'q/x', 'p/a']);
    const first = await client.send(new ListObjectsV2Command({ Bucket: PLAIN, Prefix: 'p/', MaxKeys: 2 }));
    expect(first.Contents?.map((c) => c.Key)).toEqual(['p/10', 'p/9']);
    expect(first).toMatchObject({ Name: PLAIN, Prefix: 'p/', KeyCount: 2, MaxKeys: 2, IsTruncated: true });
    expect(first.NextContinuationToken).toBeTruthy();
    expect(first.Contents?.[0]).toMatchObject({ Size: 4, StorageClass: 'STANDARD', ChecksumAlgorithm: ['CRC32'], ChecksumType: 'FULL_OBJECT' });
    expect(first.Contents?.[0]?.ETag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(first.Contents?.[0]?.LastModified?.getTime()).toBe(START);

    const second = await client.send(new ListObjectsV2Command({ Bucket: PLAIN, Prefix: 'p/', MaxKeys: 2, ContinuationToken: first.NextContinuationToken }));
    expect(second.Contents?.map((c) => c.Key)).toEqual(['p/A', 'p/a']);
    expect(second.ContinuationToken).toBe(first.NextContinuationToken);

    const all: string[] = [];
    for await (const page of paginateListObjectsV2({ client, pageSize: 3 }, { Bucket: PLAIN, Prefix: 'p/' })) all.push(...(page.Contents ?? []).map((c) => c.Key ?? ''));
    expect(all).toEqual(['p/10', 'p/9', 'p/A', 'p/a', 'p/b', 'p/é']);

    const last = await client.send(new ListObjectsV2Command({ Bucket: PLAIN, Prefix: 'p/', StartAfter: 'p/a' }));
    expect(last).toMatchObject({ KeyCount: 2, IsTruncated: false, StartAfter: 'p/a' });
    expect(last.NextContinuationToken).toBeUndefined();
    expect(last.Contents?.map((c) => c.Key)).toEqual(['p/b', 'p/é']);

    const empty = await client.send(new ListObjectsV2Command({ Bucket: PLAIN, Prefix: 'none/' }));
    expect(empty).toMatchObject({ KeyCount: 0, IsTruncated: false });
    expect(empty.Contents).toBeUndefined();
  });

  it('rolls keys up into CommonPrefixes with a delimiter, and url-encodes keys on request', async () => {
    const fake = await startFake();
    const client = await seedKeys(fake, ['top', 'dir/a', 'dir/b', 'other/c', 'a b+c']);
    const listed = await client.send(new ListObjectsV2Command({ Bucket: PLAIN, Delimiter: '/' }));
    expect(listed.Contents?.map((c) => c.Key)).toEqual(['a b+c', 'top']);
    expect(listed.CommonPrefixes?.map((p) => p.Prefix)).toEqual(['dir/', 'other/']);
    expect(listed.KeyCount).toBe(4);

    const paged = await client.send(new ListObjectsV2Command({ Bucket: PLAIN, Delimiter: '/', MaxKeys: 2 }));
    expect([...(paged.Contents ?? []).map((c) => c.Key), ...(paged.CommonPrefixes ?? []).map((p) => p.Prefix)]).toEqual(['a b+c', 'dir/']);
    const rest = await client.send(new ListObjectsV2Command({ Bucket: PLAIN, Delimiter: '/', ContinuationToken: paged.NextContinuationToken }));
    expect([...(rest.CommonPrefixes ?? []).map((p) => p.Prefix), ...(rest.Contents ?? []).map((c) => c.Key)]).toEqual(['other/', 'top']);

    const encoded = await client.send(new ListObjectsV2Command({ Bucket: PLAIN, Prefix: 'a', EncodingType: 'url' }));
    expect(encoded.EncodingType).toBe('url');
    expect(encoded.Contents?.map((c) => c.Key)).toEqual(['a%20b%2Bc']);
  });

  it('refuses a continuation token it did not issue', async () => {
    const fake = await startFake();
    const err = await rejection(s3(fake).send(new ListObjectsV2Command({ Bucket: PLAIN, ContinuationToken: 'bogus' })));
    expect(err.name).toBe('InvalidArgument');
    expect(err.message).toBe('The continuation token provided is incorrect');
  });
});

describe('fake S3: versions', () => {
  it('ListObjectVersions lists versions and delete markers, newest first per key, in the documented shape', async () => {
    const fake = await startFake();
    const client = s3(fake);
    const a1 = await client.send(new PutObjectCommand({ Bucket: LOCKED, Key: 'p/a', Body: 'a one' }));
    clock += 1000;
    const a2 = await client.send(new PutObjectCommand({ Bucket: LOCKED, Key: 'p/a', Body: 'a two!' }));
    clock += 1000;
    const marker = await client.send(new DeleteObjectCommand({ Bucket: LOCKED, Key: 'p/a' }));
    const b1 = await client.send(new PutObjectCommand({ Bucket: LOCKED, Key: 'p/b', Body: 'b' }));
    await client.send(new PutObjectCommand({ Bucket: LOCKED, Key: 'q/other', Body: 'x' }));

    const listed = await client.send(new ListObjectVersionsCommand({ Bucket: LOCKED, Prefix: 'p/' }));
    expect(listed).toMatchObject({ Name: LOCKED, Prefix: 'p/', KeyMarker: '', VersionIdMarker: '', MaxKeys: 1000, IsTruncated: false });
    expect(listed.NextKeyMarker).toBeUndefined();
    expect(listed.NextVersionIdMarker).toBeUndefined();
    expect(listed.Versions?.map((v) => [v.Key, v.VersionId, v.IsLatest, v.Size])).toEqual([
      ['p/a', a2.VersionId, false, 6],
      ['p/a', a1.VersionId, false, 5],
      ['p/b', b1.VersionId, true, 1],
    ]);
    expect(listed.Versions?.[0]).toMatchObject({ ETag: a2.ETag, StorageClass: 'STANDARD', ChecksumAlgorithm: ['CRC32'], ChecksumType: 'FULL_OBJECT' });
    expect(listed.Versions?.[0]?.LastModified?.getTime()).toBe(START + 1000);
    expect(listed.Versions?.[0]?.Owner?.ID).toMatch(/^[0-9a-f]{64}$/);
    expect(listed.DeleteMarkers?.map((m) => [m.Key, m.VersionId, m.IsLatest, m.LastModified?.getTime()])).toEqual([['p/a', marker.VersionId, true, START + 2000]]);

    // The SDK splits the two element kinds into two arrays; on the wire they are interleaved in
    // listing order (key, then newest first), which is what paging by key and version relies on.
    const wire = await raw(fake, 'GET', `/${LOCKED}?versions&prefix=p%2F`, { 'x-amz-content-sha256': EMPTY_SHA256 });
    expect(wire.status).toBe(200);
    expect(wire.headers['content-type']).toBe('application/xml');
    expect(wire.body).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<ListVersionsResult xmlns="http:\/\/s3.amazonaws.com\/doc\/2006-03-01\/">/);
    const entries = [...wire.body.matchAll(/<(Version|DeleteMarker)><Key>([^<]*)<\/Key><VersionId>([^<]*)<\/VersionId><IsLatest>(true|false)<\/IsLatest>/g)].map((m) => [m[1], m[2], m[3], m[4]]);
    expect(entries).toEqual([
      ['DeleteMarker', 'p/a', marker.VersionId, 'true'],
      ['Version', 'p/a', a2.VersionId, 'false'],
      ['Version', 'p/a', a1.VersionId, 'false'],
      ['Version', 'p/b', b1.VersionId, 'true'],
    ]);
  });

  it('pages with key-marker and version-id-marker, the next markers naming the last entry returned', async () => {
    const fake = await startFake();
    const client = s3(fake);
    const order: Array<[string, string]> = [];
    for (const key of ['p/b', 'p/a', 'p/b', 'p/a', 'p/a']) order.push([key, (await client.send(new PutObjectCommand({ Bucket: LOCKED, Key: key, Body: key }))).VersionId ?? '']);
    const expected = [...order.filter(([k]) => k === 'p/a').reverse(), ...order.filter(([k]) => k === 'p/b').reverse()];

    const first = await client.send(new ListObjectVersionsCommand({ Bucket: LOCKED, MaxKeys: 2 }));
    expect(first.Versions?.map((v) => [v.Key, v.VersionId])).toEqual(expected.slice(0, 2));
    expect(first).toMatchObject({ IsTruncated: true, MaxKeys: 2, NextKeyMarker: 'p/a', NextVersionIdMarker: expected[1]?.[1] });

    // Truncated in the middle of a key: the rest of its versions come first on the next page.
    const seen = [...(first.Versions ?? [])];
    let page = first;
    while (page.IsTruncated) {
      page = await client.send(new ListObjectVersionsCommand({ Bucket: LOCKED, MaxKeys: 2, KeyMarker: page.NextKeyMarker, VersionIdMarker: page.NextVersionIdMarker }));
      seen.push(...(page.Versions ?? []));
    }
    expect(seen.map((v) => [v.Key, v.VersionId])).toEqual(expected);
    expect(page.NextKeyMarker).toBeUndefined();

    // A key marker alone starts after every version of that key.
    const after = await client.send(new ListObjectVersionsCommand({ Bucket: LOCKED, KeyMarker: 'p/a' }));
    expect(after.Versions?.map((v) => v.Key)).toEqual(['p/b', 'p/b']);
    expect(after.KeyMarker).toBe('p/a');

    const zero = await client.send(new ListObjectVersionsCommand({ Bucket: LOCKED, MaxKeys: 0 }));
    expect(zero).toMatchObject({ IsTruncated: false, MaxKeys: 0 });
    expect(zero.Versions).toBeUndefined();

    // Without versioning each key has one version, whose id is "null".
    await client.send(new PutObjectCommand({ Bucket: PLAIN, Key: 'k', Body: 'one' }));
    await client.send(new PutObjectCommand({ Bucket: PLAIN, Key: 'k', Body: 'two' }));
    const plain = await client.send(new ListObjectVersionsCommand({ Bucket: PLAIN }));
    expect(plain.Versions?.map((v) => [v.Key, v.VersionId, v.IsLatest, v.Size])).toEqual([['k', 'null', true, 3]]);
  });

  it('refuses markers S3 refuses', async () => {
    const fake = await startFake();
    const client = s3(fake);
    const alone = await rejection(client.send(new ListObjectVersionsCommand({ Bucket: LOCKED, VersionIdMarker: 'x'.repeat(32) })));
    expect(alone.name).toBe('InvalidArgument');
    expect(alone.message).toBe('A version-id marker cannot be specified without a key marker.');
    const malformed = await rejection(client.send(new ListObjectVersionsCommand({ Bucket: LOCKED, KeyMarker: 'k', VersionIdMarker: 'garbage' })));
    expect(malformed.message).toBe('Invalid version id specified');
    const negative = await raw(fake, 'GET', `/${LOCKED}?versions&max-keys=-1`, { 'x-amz-content-sha256': EMPTY_SHA256 });
    expect(negative.status).toBe(400);
    expect(negative.body).toContain('<Message>max-keys cannot be negative</Message>');
  });

  it('GetObject and HeadObject with a versionId: any version, 405 for a delete marker, NoSuchVersion for none', async () => {
    const fake = await startFake();
    const client = s3(fake);
    const v1 = await client.send(new PutObjectCommand({ Bucket: LOCKED, Key: 'k', Body: 'one' }));
    await client.send(new PutObjectCommand({ Bucket: LOCKED, Key: 'k', Body: 'two' }));
    clock += 5000;
    const marker = await client.send(new DeleteObjectCommand({ Bucket: LOCKED, Key: 'k' }));

    const old = await client.send(new GetObjectCommand({ Bucket: LOCKED, Key: 'k', VersionId: v1.VersionId }));
    expect(await old.Body?.transformToString()).toBe('one');
    expect(old.VersionId).toBe(v1.VersionId);
    expect(old.ObjectLockMode).toBe('COMPLIANCE');
    expect((await client.send(new HeadObjectCommand({ Bucket: LOCKED, Key: 'k', VersionId: v1.VersionId }))).ContentLength).toBe(3);

    const onMarker = await rejection(client.send(new GetObjectCommand({ Bucket: LOCKED, Key: 'k', VersionId: marker.VersionId })));
    expect(onMarker.name).toBe('MethodNotAllowed');
    expect(onMarker.$metadata.httpStatusCode).toBe(405);
    expect(onMarker.$response?.headers['x-amz-delete-marker']).toBe('true');
    expect(onMarker.$response?.headers['last-modified']).toBe(new Date(START + 5000).toUTCString());
    const headMarker = await rejection(client.send(new HeadObjectCommand({ Bucket: LOCKED, Key: 'k', VersionId: marker.VersionId })));
    expect(headMarker.$metadata.httpStatusCode).toBe(405);

    const none = await rejection(client.send(new GetObjectCommand({ Bucket: LOCKED, Key: 'k', VersionId: 'A'.repeat(32) })));
    expect(none.name).toBe('NoSuchVersion');
    expect(none.$metadata.httpStatusCode).toBe(404);
    expect(none.message).toBe('The specified version does not exist.');
    const bad = await rejection(client.send(new GetObjectCommand({ Bucket: LOCKED, Key: 'k', VersionId: 'nope' })));
    expect(bad.name).toBe('InvalidArgument');
  });
});

describe('fake S3: errors and access', () => {
  it('answers S3 error shapes the SDK turns into its named exceptions', async () => {
    const fake = await startFake();
    const client = s3(fake);
    const noKey = await rejection(client.send(new GetObjectCommand({ Bucket: PLAIN, Key: 'missing' })));
    expect(noKey).toBeInstanceOf(NoSuchKey);
    expect(noKey.message).toBe('The specified key does not exist.');
    expect(noKey.$metadata.requestId).toMatch(/^[0-9A-F]{16}$/);
    const noBucket = await rejection(client.send(new ListObjectsV2Command({ Bucket: 'nope' })));
    expect(noBucket).toBeInstanceOf(NoSuchBucket);
    expect(noBucket.$metadata.httpStatusCode).toBe(404);
    const head = await rejection(client.send(new HeadObjectCommand({ Bucket: PLAIN, Key: 'missing' })));
    expect(head).toBeInstanceOf(NotFound);

    const wrongRegion = await rejection(s3(fake, { region: 'eu-west-1' }).send(new ListObjectsV2Command({ Bucket: PLAIN })));
    expect(wrongRegion.name).toBe('AuthorizationHeaderMalformed');
    expect(wrongRegion.message).toContain("the region 'eu-west-1' is wrong; expecting 'us-east-1'");
  });

  it('sends the documented XML error body, and refuses anonymous requests', async () => {
    const fake = await startFake();
    const res = await new Promise<{ status: number; type: string | undefined; body: string }>((resolve, reject) => {
      request(new URL(`/${PLAIN}/k`, fake.url), (r) => {
        let body = '';
        r.on('data', (c: Buffer) => (body += c.toString()));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, type: r.headers['content-type'], body }));
      })
        .on('error', reject)
        .end();
    });
    expect(res.status).toBe(403);
    expect(res.type).toBe('application/xml');
    expect(res.body).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<Error><Code>AccessDenied<\/Code><Message>Access Denied<\/Message><RequestId>[0-9A-F]{16}<\/RequestId><HostId>[^<]+<\/HostId><\/Error>$/);
  });

  it('denyReads answers reads as a write-only role would, and still accepts writes', async () => {
    const fake = await startFake({ denyReads: true });
    const client = s3(fake);
    await client.send(new PutObjectCommand({ Bucket: LOCKED, Key: 'k', Body: 'x' }));
    const list = await rejection(client.send(new ListObjectsV2Command({ Bucket: LOCKED })));
    expect(list.name).toBe('AccessDenied');
    expect(list.$metadata.httpStatusCode).toBe(403);
    expect(list.message).toContain(`is not authorized to perform: s3:ListBucket on resource: "arn:aws:s3:::${LOCKED}"`);
    const get = await rejection(client.send(new GetObjectCommand({ Bucket: LOCKED, Key: 'k' })));
    expect(get.name).toBe('AccessDenied');
    expect(get.message).toContain('s3:GetObject');
    const head = await rejection(client.send(new HeadObjectCommand({ Bucket: LOCKED, Key: 'k' })));
    expect(head.$metadata.httpStatusCode).toBe(403);
    // The versioned reads are separate IAM actions, named as such.
    const versions = await rejection(client.send(new ListObjectVersionsCommand({ Bucket: LOCKED })));
    expect(versions.name).toBe('AccessDenied');
    expect(versions.message).toContain(`is not authorized to perform: s3:ListBucketVersions on resource: "arn:aws:s3:::${LOCKED}"`);
    const version = fake.objects(LOCKED)[0]?.versionId;
    const getVersion = await rejection(client.send(new GetObjectCommand({ Bucket: LOCKED, Key: 'k', VersionId: version })));
    expect(getVersion.name).toBe('AccessDenied');
    expect(getVersion.message).toContain(`is not authorized to perform: s3:GetObjectVersion on resource: "arn:aws:s3:::${LOCKED}/k"`);

    fake.denyReads = false;
    expect((await client.send(new ListObjectsV2Command({ Bucket: LOCKED }))).KeyCount).toBe(1);
  });

  it('answers 501 to what it does not implement rather than pretending', async () => {
    const fake = await startFake();
    const res = await raw(fake, 'GET', `/${PLAIN}?versioning`, { 'x-amz-content-sha256': EMPTY_SHA256 });
    expect(res.status).toBe(501);
    expect(res.body).toContain('<Code>NotImplemented</Code>');
    const delimited = await rejection(s3(fake).send(new ListObjectVersionsCommand({ Bucket: PLAIN, Delimiter: '/' })));
    expect(delimited.name).toBe('NotImplemented');
    const range = await rejection(s3(fake).send(new GetObjectCommand({ Bucket: PLAIN, Key: 'k', Range: 'bytes=0-1' })));
    expect(range.name).toBe('NotImplemented');
  });
});
