/**
 * A loopback fake of Amazon S3 for tests: path-style REST-XML, so the real `@aws-sdk/client-s3`
 * runs against it unmodified (only the endpoint differs, with `forcePathStyle`).
 *
 * Operations: PutObject, GetObject, HeadObject, DeleteObject, ListObjectsV2, ListObjectVersions.
 * Anything else the SDK could send (other sub-resources, ranges, conditional requests, ListObjects
 * v1, virtual-host addressing) is answered 501 NotImplemented rather than half-done, so a test
 * cannot pass on behaviour S3 would not show.
 *
 * What it reproduces, and where each behaviour comes from (S3 API reference unless noted):
 * - Errors: `Content-Type: application/xml`, body `<Error><Code/><Message/>…<RequestId/><HostId/></Error>`
 *   ("REST error responses"), `x-amz-request-id` / `x-amz-id-2` on every response. HEAD errors
 *   carry no body (the SDK then names them by status: NotFound, Forbidden…).
 * - Authentication: SigV4 `Authorization` header required (anonymous → 403 AccessDenied; the
 *   bucket is private). The credential scope's region must be the bucket's
 *   (400 AuthorizationHeaderMalformed). Signatures are not verified.
 * - `x-amz-content-sha256` is required; a hex value is checked against the body
 *   (400 XAmzContentSHA256Mismatch); `STREAMING-*` values mean the body is aws-chunked
 *   (sigv4-streaming / sigv4-streaming-trailers): `<hex size>[;chunk-signature=…]\r\n<data>\r\n`
 *   …, a 0-size chunk, then trailing headers (`x-amz-checksum-*`) ending in an empty line.
 *   `x-amz-decoded-content-length` is required with them (411 MissingContentLength) and must
 *   match the decoded size (400 IncompleteBody); every chunk but the last must hold at least
 *   8192 bytes (400 InvalidChunkSizeError, which SDK users meet with small stream reads). `aws-chunked` is stripped from the stored
 *   Content-Encoding. A plain `Transfer-Encoding: chunked` PUT is 501 NotImplemented.
 * - Checksums ("Checking object integrity"): one `x-amz-checksum-{crc32,crc32c,crc64nvme,sha1,sha256}`
 *   header or trailer and/or `Content-MD5`, each verified (400 BadDigest "The CRC32 you specified
 *   did not match the calculated checksum." / "The Content-MD5 you specified did not match what we
 *   received."); malformed values are 400 InvalidRequest / InvalidDigest; more than one
 *   `x-amz-checksum-*` is 400 InvalidRequest; `x-amz-sdk-checksum-algorithm` must name one that is
 *   present. Objects uploaded without one get a CRC64NVME full-object checksum (S3 has computed one
 *   for every new object since 2025). GetObject/HeadObject return it with `x-amz-checksum-mode: ENABLED`.
 * - Object Lock ("Using S3 Object Lock"): a lock-enabled bucket is versioned. Every new version gets
 *   the bucket's default retention (mode + retain-until = upload time + days/years) unless the
 *   request names its own (`x-amz-object-lock-mode` + `-retain-until-date`). A PutObject that ends
 *   up with a retention period needs Content-MD5 or an x-amz-checksum- header: otherwise 400
 *   InvalidRequest "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests
 *   with Object Lock parameters". Lock headers on a bucket without Object Lock: 400 InvalidRequest.
 * - Versioning: a DeleteObject without versionId adds a delete marker (204, `x-amz-delete-marker:
 *   true`); with a versionId it removes that version permanently, unless it is locked: COMPLIANCE
 *   until retain-until (no one can bypass), GOVERNANCE unless `x-amz-bypass-governance-retention:
 *   true`, or a legal hold → 403 AccessDenied "Access Denied because object protected by object
 *   lock." Delete markers are not protected. GET of a key whose latest version is a delete marker
 *   is 404 NoSuchKey with `x-amz-delete-marker: true`. GetObject/HeadObject with `versionId`
 *   (GetObject, "Versioning"): a delete marker's id is 405 MethodNotAllowed with
 *   `x-amz-delete-marker: true` and `Last-Modified`; a well-formed id of no version is 404
 *   NoSuchVersion; a malformed one 400 InvalidArgument "Invalid version id specified".
 * - ListObjectsV2: current versions only, in UTF-8 binary key order; Prefix, Delimiter
 *   (CommonPrefixes), MaxKeys (default and cap 1000), opaque ContinuationToken, StartAfter (ignored
 *   once a token is given), EncodingType=url, FetchOwner; KeyCount counts keys and prefixes;
 *   NextContinuationToken only when IsTruncated.
 * - ListObjectVersions (`GET /bucket?versions`): every version and delete marker, keys in UTF-8
 *   binary order and each key's newest first, `<Version>` and `<DeleteMarker>` interleaved in that
 *   order (IsLatest, VersionId, LastModified, ETag/Size/StorageClass for versions, Owner for both);
 *   Prefix, MaxKeys (default and cap 1000, counting versions and markers alike), KeyMarker alone
 *   (starts after every version of that key) or with VersionIdMarker (starts after that version);
 *   NextKeyMarker / NextVersionIdMarker name the last entry returned, only when IsTruncated (the
 *   API reference's example response). "A version-id marker cannot be specified without a key
 *   marker." / "… cannot be empty." / "Invalid version id specified" are 400 InvalidArgument.
 *   Delimiter and encoding-type are not implemented (501).
 * - `denyReads` answers as a write-only role would (s3:PutObject only): GetObject/HeadObject
 *   (s3:GetObject; s3:GetObjectVersion with a versionId), ListObjectsV2 (s3:ListBucket) and
 *   ListObjectVersions (s3:ListBucketVersions) → 403 AccessDenied with S3's message naming the
 *   principal and the action.
 *
 * Time comes from the injected clock (default Date.now), so retention can be expired without sleeps.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32 as zlibCrc32 } from 'node:zlib';

export type LockMode = 'COMPLIANCE' | 'GOVERNANCE';

export interface FakeBucketOptions {
  name: string;
  /** Bucket region; requests signed for another region are refused (default us-east-1). */
  region?: string;
  /** Versioning (always on when objectLock is given; default off). */
  versioning?: boolean;
  /**
   * Object Lock enabled on the bucket, with a default retention rule when `days` or `years` is
   * given (exactly one, as S3 requires). `{}` enables Object Lock without a default rule.
   */
  objectLock?: { mode?: LockMode; days?: number; years?: number };
}

export interface FakeS3Options {
  buckets: FakeBucketOptions[];
  /** Answer reads as a write-only role would (GetObject/HeadObject/ListObjectsV2/ListObjectVersions → 403). */
  denyReads?: boolean;
  /** Clock in epoch milliseconds (default Date.now). */
  now?: () => number;
  /** Principal named in AccessDenied messages. */
  principalArn?: string;
}

/** One stored version (or delete marker), as `objects()` reports it. */
export interface FakeObjectVersion {
  bucket: string;
  key: string;
  versionId: string;
  isLatest: boolean;
  deleteMarker: boolean;
  body: Buffer;
  contentType: string | null;
  contentEncoding: string | null;
  etag: string;
  lastModified: Date;
  checksum: { algorithm: ChecksumName; value: string } | null;
  retention: { mode: LockMode; retainUntil: Date } | null;
  legalHold: boolean;
}

export interface RecordedS3Call {
  operation: string;
  method: string;
  bucket: string | null;
  key: string | null;
  query: Record<string, string>;
  /** Request headers that matter to S3 semantics (checksums, encodings, lock, content-sha256). */
  headers: Record<string, string>;
  /** Trailing headers of an aws-chunked upload. */
  trailers: Record<string, string>;
  status: number;
  errorCode?: string;
}

type ChecksumName = 'CRC32' | 'CRC32C' | 'CRC64NVME' | 'SHA1' | 'SHA256';

interface StoredVersion {
  versionId: string;
  deleteMarker: boolean;
  body: Buffer;
  contentType: string | null;
  contentEncoding: string | null;
  etag: string;
  lastModified: number;
  checksum: { algorithm: ChecksumName; value: string } | null;
  retention: { mode: LockMode; retainUntil: number } | null;
  legalHold: boolean;
  metadata: Record<string, string>;
}

interface Bucket {
  name: string;
  region: string;
  versioning: boolean;
  lock: { enabled: boolean; rule: { mode: LockMode; days?: number; years?: number } | null };
  /** Versions per key, oldest first; the last one is the current version. */
  keys: Map<string, StoredVersion[]>;
}

class S3Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, string> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
const OWNER_ID = '75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a';
const DAY_MS = 86_400_000;
const MAX_LIST_KEYS = 1000;
const CHECKSUM_NAMES: readonly ChecksumName[] = ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'];
/** Algorithms S3 knows but this fake does not compute: refused rather than stored unchecked. */
const UNIMPLEMENTED_CHECKSUMS = ['SHA512', 'XXHASH64', 'XXHASH3', 'XXHASH128', 'MD5'];
const CHECKSUM_BYTES: Record<ChecksumName, number> = { CRC32: 4, CRC32C: 4, CRC64NVME: 8, SHA1: 20, SHA256: 32 };
const STREAMING_PAYLOADS = new Set([
  'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
  'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD',
  'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER',
]);
const VERSION_ID = /^[A-Za-z0-9._]{32}$/;
const MIN_CHUNK = 8192;

// ---- checksums -------------------------------------------------------------------------------

function crcTable(poly: number): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}
const CRC32C_TABLE = crcTable(0x82f63b78);

function crc32c(data: Buffer): Buffer {
  let crc = 0xffffffff;
  for (const byte of data) crc = (CRC32C_TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  const out = Buffer.alloc(4);
  out.writeUInt32BE((crc ^ 0xffffffff) >>> 0);
  return out;
}

const CRC64NVME_TABLE = (() => {
  const poly = 0x9a6c9329ac4bc9b5n;
  const table: bigint[] = [];
  for (let n = 0n; n < 256n; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1n ? (c >> 1n) ^ poly : c >> 1n;
    table.push(c);
  }
  return table;
})();

function crc64nvme(data: Buffer): Buffer {
  const mask = 0xffffffffffffffffn;
  let crc = mask;
  for (const byte of data) crc = (CRC64NVME_TABLE[Number((crc ^ BigInt(byte)) & 0xffn)] as bigint) ^ (crc >> 8n);
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(crc ^ mask);
  return out;
}

function checksumOf(algorithm: ChecksumName, data: Buffer): string {
  switch (algorithm) {
    case 'CRC32': {
      const out = Buffer.alloc(4);
      out.writeUInt32BE(zlibCrc32(data) >>> 0);
      return out.toString('base64');
    }
    case 'CRC32C':
      return crc32c(data).toString('base64');
    case 'CRC64NVME':
      return crc64nvme(data).toString('base64');
    case 'SHA1':
      return createHash('sha1').update(data).digest('base64');
    case 'SHA256':
      return createHash('sha256').update(data).digest('base64');
  }
}

function isBase64Of(value: string, bytes: number): boolean {
  return /^[A-Za-z0-9+/]+={0,2}$/.test(value) && value.length % 4 === 0 && Buffer.from(value, 'base64').length === bytes;
}

// ---- XML -------------------------------------------------------------------------------------

function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] as string);
}

const el = (name: string, value: string | number | boolean) => `<${name}>${xmlEscape(String(value))}</${name}>`;

/** S3's object key encoding for `encoding-type=url`: like encodeURIComponent, but `/` stays. */
function urlEncodeKey(key: string): string {
  return encodeURIComponent(key).replace(/%2F/g, '/').replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function utf8Compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

// ---- the fake --------------------------------------------------------------------------------

export class FakeS3 {
  /** Answer reads as a write-only role would; may be flipped during a test. */
  denyReads: boolean;
  private readonly buckets = new Map<string, Bucket>();
  private readonly recorded: RecordedS3Call[] = [];
  private readonly now: () => number;
  private readonly principalArn: string;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    opts: FakeS3Options,
  ) {
    this.denyReads = opts.denyReads ?? false;
    this.now = opts.now ?? Date.now;
    this.principalArn = opts.principalArn ?? 'arn:aws:sts::111111111111:assumed-role/breakglass-task/fake';
    for (const b of opts.buckets) this.addBucket(b);
  }

  static async start(opts: FakeS3Options): Promise<FakeS3> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const fake = new FakeS3(server, `http://127.0.0.1:${port}`, opts);
    server.on('request', (req, res) => void fake.handle(req, res));
    return fake;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Every stored version and delete marker, oldest first per key, keys in list order. */
  objects(bucket?: string): FakeObjectVersion[] {
    const out: FakeObjectVersion[] = [];
    for (const b of this.buckets.values()) {
      if (bucket !== undefined && b.name !== bucket) continue;
      for (const key of [...b.keys.keys()].sort(utf8Compare)) {
        const versions = b.keys.get(key) ?? [];
        versions.forEach((v, i) =>
          out.push({
            bucket: b.name,
            key,
            versionId: v.versionId,
            isLatest: i === versions.length - 1,
            deleteMarker: v.deleteMarker,
            body: Buffer.from(v.body),
            contentType: v.contentType,
            contentEncoding: v.contentEncoding,
            etag: v.etag,
            lastModified: new Date(v.lastModified),
            checksum: v.checksum,
            retention: v.retention ? { mode: v.retention.mode, retainUntil: new Date(v.retention.retainUntil) } : null,
            legalHold: v.legalHold,
          }),
        );
      }
    }
    return out;
  }

  /**
   * Stores an object as it is, bypassing the protocol (no checksum, lock or size rules), e.g. a
   * malformed or foreign object someone else wrote. It still gets the bucket's default retention.
   */
  seed(bucket: string, key: string, body: string | Buffer, contentType = 'application/octet-stream'): string {
    const b = this.buckets.get(bucket);
    if (!b) throw new Error(`no bucket ${bucket}`);
    const data = Buffer.isBuffer(body) ? body : Buffer.from(body);
    const version = this.newVersion(b, data, contentType, null, checksumOrDefault(null, data), this.defaultRetention(b, this.now()), false, {});
    this.store(b, key, version);
    return version.versionId;
  }

  /** Adds a delete marker as a plain DeleteObject would, bypassing the protocol (e.g. many at once). */
  seedDeleteMarker(bucket: string, key: string): string {
    const b = this.buckets.get(bucket);
    if (!b?.versioning) throw new Error(`no versioned bucket ${bucket}`);
    const marker = this.newDeleteMarker();
    this.store(b, key, marker);
    return marker.versionId;
  }

  calls(): RecordedS3Call[] {
    return [...this.recorded];
  }

  clearCalls(): void {
    this.recorded.length = 0;
  }

  private addBucket(o: FakeBucketOptions): void {
    let rule: Bucket['lock']['rule'] = null;
    if (o.objectLock && (o.objectLock.days !== undefined || o.objectLock.years !== undefined || o.objectLock.mode !== undefined)) {
      const { mode, days, years } = o.objectLock;
      // PutObjectLockConfiguration: "DefaultRetention" needs a Mode and exactly one of Days / Years.
      if (!mode || (days === undefined) === (years === undefined)) throw new Error('objectLock default retention needs mode and exactly one of days/years');
      const period = (days ?? years) as number;
      if (!Number.isInteger(period) || period <= 0) throw new Error('objectLock retention period must be a positive integer');
      rule = { mode, ...(days !== undefined ? { days } : { years }) };
    }
    this.buckets.set(o.name, {
      name: o.name,
      region: o.region ?? 'us-east-1',
      versioning: Boolean(o.objectLock) || (o.versioning ?? false),
      lock: { enabled: Boolean(o.objectLock), rule },
      keys: new Map(),
    });
  }

  // ---- HTTP ----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    const call: RecordedS3Call = { operation: 'Unknown', method: req.method ?? '', bucket: null, key: null, query: {}, headers: {}, trailers: {}, status: 0 };
    let body: Buffer;
    try {
      body = await readAll(req);
    } catch {
      res.destroy();
      return;
    }
    const reply = (status: number, headers: Record<string, string>, payload?: string | Buffer) => {
      call.status = status;
      res.writeHead(status, {
        'x-amz-request-id': requestId,
        'x-amz-id-2': randomBytes(24).toString('base64'),
        date: new Date(this.now()).toUTCString(),
        server: 'AmazonS3',
        ...(payload === undefined ? { 'content-length': '0' } : {}),
        ...headers,
      });
      res.end(payload);
    };
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      for (const [k, v] of url.searchParams) call.query[k] = v;
      for (const [k, v] of Object.entries(req.headers)) {
        if (/^(x-amz-(checksum-|sdk-checksum|content-sha256|decoded-content-length|trailer|object-lock|bypass)|content-(md5|encoding|type)|transfer-encoding)/.test(k) && typeof v === 'string') call.headers[k] = v;
      }
      const out = this.route(req, url, body, call);
      reply(out.status, out.headers, req.method === 'HEAD' ? undefined : out.body);
    } catch (err) {
      if (!(err instanceof S3Error)) {
        call.errorCode = 'InternalError';
        reply(500, { 'content-type': 'application/xml' }, errorXml('InternalError', `We encountered an internal error. Please try again. (${String(err)})`, {}, requestId));
        return;
      }
      call.errorCode = err.code;
      if (req.method === 'HEAD') reply(err.status, err.headers);
      else reply(err.status, { 'content-type': 'application/xml', ...err.headers }, errorXml(err.code, err.message, err.extra, requestId));
    } finally {
      this.recorded.push(call);
    }
  }

  private route(req: IncomingMessage, url: URL, body: Buffer, call: RecordedS3Call): Reply {
    const method = req.method ?? 'GET';
    // Path-style only: /bucket or /bucket/key…
    const path = url.pathname;
    const slash = path.indexOf('/', 1);
    const bucketName = decodeURIComponent(slash === -1 ? path.slice(1) : path.slice(1, slash));
    const rawKey = slash === -1 ? '' : path.slice(slash + 1);
    const key = decodeURIComponent(rawKey);
    call.bucket = bucketName || null;
    call.key = key || null;
    if (!bucketName) throw notImplemented('ListBuckets and virtual-hosted-style addressing are not supported by this fake; use forcePathStyle');

    const query = url.searchParams;
    if (key === '') {
      if (method === 'GET' && query.has('versions')) call.operation = 'ListObjectVersions';
      else if (method === 'GET' && query.get('list-type') === '2') call.operation = 'ListObjectsV2';
      else throw notImplemented(`${method} on a bucket (${[...query.keys()].join(',') || 'no sub-resource'})`);
    } else {
      call.operation = { PUT: 'PutObject', GET: 'GetObject', HEAD: 'HeadObject', DELETE: 'DeleteObject' }[method] ?? 'Unknown';
      if (call.operation === 'Unknown') throw new S3Error(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.', { Method: method, ResourceType: 'OBJECT' });
      const allowed = call.operation === 'PutObject' ? ['x-id'] : ['x-id', 'versionId'];
      const other = [...query.keys()].filter((k) => !allowed.includes(k));
      if (other.length > 0) throw notImplemented(`${call.operation} with ?${other.join('&')}`);
    }

    const auth = this.authenticate(req);
    const bucket = this.buckets.get(bucketName);
    if (!bucket) throw new S3Error(404, 'NoSuchBucket', 'The specified bucket does not exist', { BucketName: bucketName });
    if (auth.region !== bucket.region) {
      throw new S3Error(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; the region '${auth.region}' is wrong; expecting '${bucket.region}'`, { Region: bucket.region });
    }
    if (Buffer.byteLength(key, 'utf8') > 1024) throw new S3Error(400, 'KeyTooLongError', 'Your key is too long', { Size: String(Buffer.byteLength(key)), MaxSizeAllowed: '1024' });

    switch (call.operation) {
      case 'ListObjectsV2':
        this.requireRead(bucket, 's3:ListBucket', `arn:aws:s3:::${bucket.name}`);
        return this.listObjectsV2(bucket, query);
      case 'ListObjectVersions':
        this.requireRead(bucket, 's3:ListBucketVersions', `arn:aws:s3:::${bucket.name}`);
        return this.listObjectVersions(bucket, query);
      case 'PutObject':
        return this.putObject(bucket, key, req, body, auth.contentSha256, call);
      case 'GetObject':
      case 'HeadObject':
        // A specific version needs s3:GetObjectVersion (and not s3:GetObject): GetObject, "Permissions".
        this.requireRead(bucket, query.has('versionId') ? 's3:GetObjectVersion' : 's3:GetObject', `arn:aws:s3:::${bucket.name}/${key}`);
        return this.getObject(bucket, key, req, query);
      default:
        return this.deleteObject(bucket, key, req, query);
    }
  }

  private authenticate(req: IncomingMessage): { region: string; contentSha256: string } {
    const header = req.headers.authorization;
    if (!header) throw new S3Error(403, 'AccessDenied', 'Access Denied');
    const m = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request,\s*SignedHeaders=([^,\s]+),\s*Signature=[0-9a-f]{64}$/.exec(header);
    if (!m) throw new S3Error(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed; the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".');
    if (m[4] !== 's3') throw new S3Error(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; incorrect service '${m[4]}'. This endpoint belongs to 's3'.`);
    const contentSha256 = req.headers['x-amz-content-sha256'];
    if (typeof contentSha256 !== 'string') throw new S3Error(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
    if (!/^[0-9a-f]{64}$/.test(contentSha256) && contentSha256 !== 'UNSIGNED-PAYLOAD' && !STREAMING_PAYLOADS.has(contentSha256)) {
      throw new S3Error(400, 'InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.', { ArgumentName: 'x-amz-content-sha256', ArgumentValue: contentSha256 });
    }
    return { region: m[3] as string, contentSha256 };
  }

  private requireRead(bucket: Bucket, action: string, resource: string): void {
    if (!this.denyReads) return;
    // S3 has named the principal and the missing permission in AccessDenied messages since 2024.
    throw new S3Error(403, 'AccessDenied', `User: ${this.principalArn} is not authorized to perform: ${action} on resource: "${resource}" because no identity-based policy allows the ${action} action`);
  }

  // ---- PutObject ----

  private putObject(bucket: Bucket, key: string, req: IncomingMessage, raw: Buffer, contentSha256: string, call: RecordedS3Call): Reply {
    const h = req.headers;
    for (const unsupported of ['if-match', 'if-none-match', 'x-amz-copy-source', 'x-amz-server-side-encryption-customer-algorithm', 'x-amz-write-offset-bytes']) {
      if (h[unsupported] !== undefined) throw notImplemented(`PutObject with ${unsupported}`);
    }

    // The body as sent, then decoded when it is aws-chunked.
    let data = raw;
    const trailers: Record<string, string> = {};
    if (STREAMING_PAYLOADS.has(contentSha256)) {
      const decodedLength = h['x-amz-decoded-content-length'];
      if (typeof decodedLength !== 'string') throw new S3Error(411, 'MissingContentLength', 'You must provide the Content-Length HTTP header.');
      if (!/^\d+$/.test(decodedLength)) throw new S3Error(400, 'InvalidArgument', 'Invalid x-amz-decoded-content-length', { ArgumentName: 'x-amz-decoded-content-length', ArgumentValue: decodedLength });
      const decoded = decodeAwsChunked(raw, contentSha256.endsWith('TRAILER'));
      data = decoded.data;
      Object.assign(trailers, decoded.trailers);
      call.trailers = { ...decoded.trailers };
      if (data.length !== Number(decodedLength)) throw new S3Error(400, 'IncompleteBody', 'You did not provide the number of bytes specified by the Content-Length HTTP header');
      const declared = (typeof h['x-amz-trailer'] === 'string' ? h['x-amz-trailer'] : '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
      const received = Object.keys(trailers).filter((t) => t !== 'x-amz-trailer-signature');
      if (declared.length !== received.length || !declared.every((d) => received.includes(d))) {
        throw new S3Error(400, 'MalformedTrailerError', 'The request contained trailing data that was not well-formed or did not conform to our published schema.');
      }
    } else {
      if (h['content-length'] === undefined) {
        if (h['transfer-encoding'] !== undefined) throw new S3Error(501, 'NotImplemented', 'A header you provided implies functionality that is not implemented', { Header: 'Transfer-Encoding' });
        throw new S3Error(411, 'MissingContentLength', 'You must provide the Content-Length HTTP header.');
      }
      if (/^[0-9a-f]{64}$/.test(contentSha256)) {
        const computed = createHash('sha256').update(raw).digest('hex');
        if (computed !== contentSha256) {
          throw new S3Error(400, 'XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.", { ClientComputedContentSHA256: contentSha256, S3ComputedContentSHA256: computed });
        }
      }
    }
    if (data.length > 5 * 1024 ** 3) throw new S3Error(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size');

    // Integrity: Content-MD5 and at most one x-amz-checksum-* (header or trailer), all verified.
    const sent: Array<{ algorithm: string; value: string; where: string }> = [];
    for (const [name, value] of [...Object.entries(h), ...Object.entries(trailers)]) {
      const m = /^x-amz-checksum-([a-z0-9]+)$/.exec(name);
      if (m && m[1] !== 'mode' && m[1] !== 'type' && m[1] !== 'algorithm' && typeof value === 'string') sent.push({ algorithm: (m[1] as string).toUpperCase(), value, where: name });
    }
    if (sent.length > 1) throw new S3Error(400, 'InvalidRequest', 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.');
    const sdkAlgorithm = typeof h['x-amz-sdk-checksum-algorithm'] === 'string' ? h['x-amz-sdk-checksum-algorithm'].toUpperCase() : null;
    if (sdkAlgorithm !== null && ![...CHECKSUM_NAMES, ...UNIMPLEMENTED_CHECKSUMS].includes(sdkAlgorithm)) {
      throw new S3Error(400, 'InvalidRequest', 'Value for x-amz-sdk-checksum-algorithm header is invalid.');
    }
    const declaredTrailer = typeof h['x-amz-trailer'] === 'string' ? h['x-amz-trailer'].toLowerCase() : '';
    if (sdkAlgorithm !== null && sdkAlgorithm !== 'MD5' && !sent.some((s) => s.algorithm === sdkAlgorithm) && !declaredTrailer.includes(`x-amz-checksum-${sdkAlgorithm.toLowerCase()}`)) {
      throw new S3Error(400, 'InvalidRequest', 'x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.');
    }
    let checksum: StoredVersion['checksum'] = null;
    const one = sent[0];
    if (one) {
      if (!CHECKSUM_NAMES.includes(one.algorithm as ChecksumName)) {
        if (UNIMPLEMENTED_CHECKSUMS.includes(one.algorithm)) throw notImplemented(`checksum algorithm ${one.algorithm}`);
        throw new S3Error(400, 'InvalidRequest', `Value for ${one.where} header is invalid.`);
      }
      const algorithm = one.algorithm as ChecksumName;
      if (!isBase64Of(one.value, CHECKSUM_BYTES[algorithm])) throw new S3Error(400, 'InvalidRequest', `Value for ${one.where} header is invalid.`);
      if (checksumOf(algorithm, data) !== one.value) throw new S3Error(400, 'BadDigest', `The ${algorithm} you specified did not match the calculated checksum.`);
      checksum = { algorithm, value: one.value };
    }
    const md5 = h['content-md5'];
    if (typeof md5 === 'string') {
      if (!isBase64Of(md5, 16)) throw new S3Error(400, 'InvalidDigest', 'The Content-MD5 you specified was invalid.', { 'Content-MD5': md5 });
      const computed = createHash('md5').update(data).digest('base64');
      if (computed !== md5) throw new S3Error(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.', { ExpectedDigest: md5, CalculatedDigest: computed });
    }

    // Object Lock: explicit per-object parameters, else the bucket's default retention.
    const now = this.now();
    const modeHeader = h['x-amz-object-lock-mode'];
    const untilHeader = h['x-amz-object-lock-retain-until-date'];
    const holdHeader = h['x-amz-object-lock-legal-hold'];
    const lockParams = modeHeader !== undefined || untilHeader !== undefined || holdHeader !== undefined;
    if (lockParams && !bucket.lock.enabled) throw new S3Error(400, 'InvalidRequest', 'Bucket is missing Object Lock Configuration');
    let retention: StoredVersion['retention'];
    if (modeHeader !== undefined || untilHeader !== undefined) {
      if (typeof modeHeader !== 'string' || typeof untilHeader !== 'string') {
        throw new S3Error(400, 'InvalidRequest', 'x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied');
      }
      if (modeHeader !== 'COMPLIANCE' && modeHeader !== 'GOVERNANCE') throw new S3Error(400, 'InvalidArgument', 'Unknown wormMode directive.', { ArgumentName: 'x-amz-object-lock-mode', ArgumentValue: modeHeader });
      const until = Date.parse(untilHeader);
      if (!Number.isFinite(until)) throw new S3Error(400, 'InvalidArgument', 'The retain until date must be provided in ISO 8601 format', { ArgumentName: 'x-amz-object-lock-retain-until-date', ArgumentValue: untilHeader });
      if (until <= now) throw new S3Error(400, 'InvalidArgument', 'The retain until date must be in the future!', { ArgumentName: 'x-amz-object-lock-retain-until-date', ArgumentValue: untilHeader });
      retention = { mode: modeHeader, retainUntil: until };
    } else {
      retention = this.defaultRetention(bucket, now);
    }
    if (holdHeader !== undefined && holdHeader !== 'ON' && holdHeader !== 'OFF') {
      throw new S3Error(400, 'InvalidArgument', 'Legal Hold must be either of \'ON\' or \'OFF\'', { ArgumentName: 'x-amz-object-lock-legal-hold', ArgumentValue: String(holdHeader) });
    }
    const legalHold = holdHeader === 'ON';
    if ((retention || lockParams) && typeof md5 !== 'string' && !checksum) {
      throw new S3Error(400, 'InvalidRequest', 'Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters');
    }

    const encoding = typeof h['content-encoding'] === 'string'
      ? h['content-encoding'].split(',').map((s) => s.trim()).filter((s) => s && s !== 'aws-chunked').join(',') || null
      : null;
    const metadata: Record<string, string> = {};
    for (const [name, value] of Object.entries(h)) if (name.startsWith('x-amz-meta-') && typeof value === 'string') metadata[name] = value;
    const contentType = typeof h['content-type'] === 'string' ? h['content-type'] : 'binary/octet-stream';
    const version = this.newVersion(bucket, data, contentType, encoding, checksumOrDefault(checksum, data), retention, legalHold, metadata);
    this.store(bucket, key, version);

    const headers: Record<string, string> = { etag: version.etag, 'x-amz-server-side-encryption': 'AES256' };
    if (bucket.versioning) headers['x-amz-version-id'] = version.versionId;
    if (checksum) {
      headers[`x-amz-checksum-${checksum.algorithm.toLowerCase()}`] = checksum.value;
      headers['x-amz-checksum-type'] = 'FULL_OBJECT';
    }
    return { status: 200, headers, body: '' };
  }

  private defaultRetention(bucket: Bucket, now: number): StoredVersion['retention'] {
    const rule = bucket.lock.rule;
    if (!rule) return null;
    const until = new Date(now);
    if (rule.years !== undefined) until.setUTCFullYear(until.getUTCFullYear() + rule.years);
    else until.setTime(now + (rule.days as number) * DAY_MS);
    return { mode: rule.mode, retainUntil: until.getTime() };
  }

  private newVersion(
    bucket: Bucket,
    body: Buffer,
    contentType: string | null,
    contentEncoding: string | null,
    checksum: StoredVersion['checksum'],
    retention: StoredVersion['retention'],
    legalHold: boolean,
    metadata: Record<string, string>,
  ): StoredVersion {
    return {
      versionId: bucket.versioning ? newVersionId() : 'null',
      deleteMarker: false,
      body,
      contentType,
      contentEncoding,
      etag: `"${createHash('md5').update(body).digest('hex')}"`,
      lastModified: this.now(),
      checksum,
      retention,
      legalHold,
      metadata,
    };
  }

  private store(bucket: Bucket, key: string, version: StoredVersion): void {
    const versions = bucket.keys.get(key) ?? [];
    // Without versioning the new object replaces the old (its version id is "null").
    const kept = bucket.versioning ? versions : versions.filter((v) => v.versionId !== 'null');
    kept.push(version);
    bucket.keys.set(key, kept);
  }

  // ---- GetObject / HeadObject ----

  private getObject(bucket: Bucket, key: string, req: IncomingMessage, query: URLSearchParams): Reply {
    for (const unsupported of ['range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since', 'x-amz-server-side-encryption-customer-algorithm']) {
      if (req.headers[unsupported] !== undefined) throw notImplemented(`GetObject/HeadObject with ${unsupported}`);
    }
    const versions = bucket.keys.get(key) ?? [];
    const versionId = query.get('versionId');
    let v: StoredVersion | undefined;
    if (versionId !== null) {
      if (versionId !== 'null' && !VERSION_ID.test(versionId)) throw new S3Error(400, 'InvalidArgument', 'Invalid version id specified', { ArgumentName: 'versionId', ArgumentValue: versionId });
      v = versions.find((x) => x.versionId === versionId);
      if (!v) throw new S3Error(404, 'NoSuchVersion', 'The specified version does not exist.', { Key: key, VersionId: versionId });
      if (v.deleteMarker) {
        throw new S3Error(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.', { Method: req.method ?? 'GET', ResourceType: 'DeleteMarker' }, {
          'x-amz-delete-marker': 'true',
          'x-amz-version-id': v.versionId,
          allow: 'DELETE',
          'last-modified': new Date(v.lastModified).toUTCString(),
        });
      }
    } else {
      v = versions.at(-1);
      if (!v) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key });
      if (v.deleteMarker) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key }, { 'x-amz-delete-marker': 'true', 'x-amz-version-id': v.versionId });
    }
    const headers: Record<string, string> = {
      'content-type': v.contentType ?? 'binary/octet-stream',
      'content-length': String(v.body.length),
      etag: v.etag,
      'last-modified': new Date(v.lastModified).toUTCString(),
      'accept-ranges': 'bytes',
      'x-amz-server-side-encryption': 'AES256',
      ...v.metadata,
    };
    if (v.contentEncoding) headers['content-encoding'] = v.contentEncoding;
    if (bucket.versioning) headers['x-amz-version-id'] = v.versionId;
    if (v.retention) {
      headers['x-amz-object-lock-mode'] = v.retention.mode;
      headers['x-amz-object-lock-retain-until-date'] = new Date(v.retention.retainUntil).toISOString();
    }
    if (bucket.lock.enabled) headers['x-amz-object-lock-legal-hold'] = v.legalHold ? 'ON' : 'OFF';
    if (v.checksum && req.headers['x-amz-checksum-mode'] === 'ENABLED') {
      headers[`x-amz-checksum-${v.checksum.algorithm.toLowerCase()}`] = v.checksum.value;
      headers['x-amz-checksum-type'] = 'FULL_OBJECT';
    }
    return { status: 200, headers, body: v.body };
  }

  // ---- DeleteObject ----

  private deleteObject(bucket: Bucket, key: string, req: IncomingMessage, query: URLSearchParams): Reply {
    const versions = bucket.keys.get(key) ?? [];
    const versionId = query.get('versionId');
    if (versionId === null) {
      if (!bucket.versioning) {
        bucket.keys.delete(key);
        return { status: 204, headers: {}, body: '' };
      }
      // A delete marker becomes the current version; every locked version stays.
      const marker = this.newDeleteMarker();
      this.store(bucket, key, marker);
      return { status: 204, headers: { 'x-amz-delete-marker': 'true', 'x-amz-version-id': marker.versionId }, body: '' };
    }
    if (versionId !== 'null' && !VERSION_ID.test(versionId)) throw new S3Error(400, 'InvalidArgument', 'Invalid version id specified', { ArgumentName: 'versionId', ArgumentValue: versionId });
    const index = versions.findIndex((v) => v.versionId === versionId);
    const v = versions[index];
    // A well-formed id of no version: a no-op 204, as for a missing key (assumed; not checked against S3).
    if (!v) return { status: 204, headers: { 'x-amz-version-id': versionId }, body: '' };
    if (!v.deleteMarker && this.isProtected(v, req.headers['x-amz-bypass-governance-retention'] === 'true')) {
      throw new S3Error(403, 'AccessDenied', 'Access Denied because object protected by object lock.');
    }
    versions.splice(index, 1);
    if (versions.length === 0) bucket.keys.delete(key);
    const headers: Record<string, string> = { 'x-amz-version-id': versionId };
    if (v.deleteMarker) headers['x-amz-delete-marker'] = 'true';
    return { status: 204, headers, body: '' };
  }

  private newDeleteMarker(): StoredVersion {
    return {
      versionId: newVersionId(),
      deleteMarker: true,
      body: Buffer.alloc(0),
      contentType: null,
      contentEncoding: null,
      etag: '',
      lastModified: this.now(),
      checksum: null,
      retention: null,
      legalHold: false,
      metadata: {},
    };
  }

  private isProtected(v: StoredVersion, bypassGovernance: boolean): boolean {
    if (v.legalHold) return true;
    if (!v.retention || v.retention.retainUntil <= this.now()) return false;
    return v.retention.mode === 'COMPLIANCE' || !bypassGovernance;
  }

  // ---- ListObjectsV2 ----

  private listObjectsV2(bucket: Bucket, query: URLSearchParams): Reply {
    const known = ['list-type', 'prefix', 'delimiter', 'max-keys', 'continuation-token', 'start-after', 'encoding-type', 'fetch-owner', 'x-id'];
    const other = [...query.keys()].filter((k) => !known.includes(k));
    if (other.length > 0) throw notImplemented(`ListObjectsV2 with ?${other.join('&')}`);
    const prefix = query.get('prefix') ?? '';
    const delimiter = query.get('delimiter') ?? '';
    const encodingType = query.get('encoding-type');
    if (encodingType !== null && encodingType !== 'url') throw new S3Error(400, 'InvalidArgument', 'Invalid Encoding Method specified in Request', { ArgumentName: 'encoding-type', ArgumentValue: encodingType });
    const maxKeys = parseMaxKeys(query.get('max-keys'));
    const token = query.get('continuation-token');
    const startAfter = query.get('start-after');
    let after: string | null = startAfter;
    if (token !== null) {
      after = decodeToken(bucket.name, token);
      if (after === null) throw new S3Error(400, 'InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token' });
    }
    const fetchOwner = query.get('fetch-owner') === 'true';
    const enc = (s: string) => (encodingType === 'url' ? urlEncodeKey(s) : s);

    const current = [...bucket.keys.entries()]
      .map(([key, versions]) => ({ key, v: versions.at(-1) as StoredVersion }))
      .filter(({ key, v }) => !v.deleteMarker && key.startsWith(prefix) && (after === null || utf8Compare(key, after) > 0))
      .sort((a, b) => utf8Compare(a.key, b.key));

    const entries: Array<{ kind: 'key'; key: string; v: StoredVersion } | { kind: 'prefix'; prefix: string }> = [];
    let truncated = false;
    let lastConsumed: string | null = null;
    // max-keys=0: an empty page, not truncated (what S3-compatible servers answer; not checked against S3).
    for (let i = 0; maxKeys > 0 && i < current.length; i++) {
      const { key, v } = current[i] as { key: string; v: StoredVersion };
      const rest = key.slice(prefix.length);
      const cut = delimiter ? rest.indexOf(delimiter) : -1;
      if (cut !== -1) {
        const common = prefix + rest.slice(0, cut + delimiter.length);
        const last = entries.at(-1);
        if (last && last.kind === 'prefix' && last.prefix === common) {
          lastConsumed = key;
          continue;
        }
        if (entries.length >= maxKeys) {
          truncated = true;
          break;
        }
        entries.push({ kind: 'prefix', prefix: common });
        lastConsumed = key;
        continue;
      }
      if (entries.length >= maxKeys) {
        truncated = true;
        break;
      }
      entries.push({ kind: 'key', key, v });
      lastConsumed = key;
    }
    // A common prefix swallows every key under it, so the next page starts after the last of them.
    if (truncated && lastConsumed !== null) {
      const last = entries.at(-1);
      if (last?.kind === 'prefix') lastConsumed = current.filter((c) => c.key.startsWith(last.prefix)).at(-1)?.key ?? lastConsumed;
    }

    let xml = `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="${XMLNS}">`;
    xml += el('Name', bucket.name) + el('Prefix', enc(prefix));
    if (token !== null) xml += el('ContinuationToken', token);
    if (truncated && lastConsumed !== null) xml += el('NextContinuationToken', encodeToken(bucket.name, lastConsumed));
    if (startAfter !== null) xml += el('StartAfter', enc(startAfter));
    xml += el('KeyCount', entries.length) + el('MaxKeys', maxKeys);
    if (delimiter) xml += el('Delimiter', enc(delimiter));
    if (encodingType) xml += el('EncodingType', encodingType);
    xml += el('IsTruncated', truncated);
    for (const e of entries) {
      if (e.kind === 'prefix') continue;
      xml += '<Contents>' + el('Key', enc(e.key)) + el('LastModified', new Date(e.v.lastModified).toISOString()) + el('ETag', e.v.etag);
      if (e.v.checksum) xml += el('ChecksumAlgorithm', e.v.checksum.algorithm) + el('ChecksumType', 'FULL_OBJECT');
      xml += el('Size', e.v.body.length);
      if (fetchOwner) xml += `<Owner>${el('ID', OWNER_ID)}</Owner>`;
      xml += el('StorageClass', 'STANDARD') + '</Contents>';
    }
    for (const e of entries) if (e.kind === 'prefix') xml += `<CommonPrefixes>${el('Prefix', enc(e.prefix))}</CommonPrefixes>`;
    xml += '</ListBucketResult>';
    return { status: 200, headers: { 'content-type': 'application/xml' }, body: xml };
  }

  // ---- ListObjectVersions ----

  private listObjectVersions(bucket: Bucket, query: URLSearchParams): Reply {
    const known = ['versions', 'prefix', 'key-marker', 'version-id-marker', 'max-keys', 'x-id'];
    const other = [...query.keys()].filter((k) => !known.includes(k));
    if (other.length > 0) throw notImplemented(`ListObjectVersions with ?${other.join('&')}`);
    const prefix = query.get('prefix') ?? '';
    const keyMarker = query.get('key-marker') ?? '';
    const versionIdMarker = query.get('version-id-marker');
    const maxKeysText = query.get('max-keys');
    if (maxKeysText !== null && /^-\d+$/.test(maxKeysText)) throw new S3Error(400, 'InvalidArgument', 'max-keys cannot be negative', { ArgumentName: 'max-keys' });
    const maxKeys = parseMaxKeys(maxKeysText);
    if (versionIdMarker !== null) {
      const arg = { ArgumentName: 'version-id-marker', ArgumentValue: versionIdMarker };
      if (keyMarker === '') throw new S3Error(400, 'InvalidArgument', 'A version-id marker cannot be specified without a key marker.', arg);
      if (versionIdMarker === '') throw new S3Error(400, 'InvalidArgument', 'A version-id marker cannot be empty.', arg);
      if (versionIdMarker !== 'null' && !VERSION_ID.test(versionIdMarker)) throw new S3Error(400, 'InvalidArgument', 'Invalid version id specified', arg);
    }

    // Every version and delete marker under the prefix: keys in binary order, each key's newest first.
    const all: Array<{ key: string; v: StoredVersion; latest: boolean }> = [];
    for (const key of [...bucket.keys.keys()].filter((k) => k.startsWith(prefix)).sort(utf8Compare)) {
      const versions = bucket.keys.get(key) ?? [];
      for (let i = versions.length - 1; i >= 0; i--) all.push({ key, v: versions[i] as StoredVersion, latest: i === versions.length - 1 });
    }
    let start = 0;
    if (keyMarker !== '' && versionIdMarker === null) {
      start = all.findIndex((e) => utf8Compare(e.key, keyMarker) > 0);
      if (start === -1) start = all.length;
    } else if (versionIdMarker !== null) {
      const at = all.findIndex((e) => e.key === keyMarker && e.v.versionId === versionIdMarker);
      // A well-formed marker naming no version of that key (e.g. one removed since the last page):
      // refused rather than guessed at (assumed; not checked against S3).
      if (at === -1) throw new S3Error(400, 'InvalidArgument', 'Invalid version id specified', { ArgumentName: 'version-id-marker', ArgumentValue: versionIdMarker });
      start = at + 1;
    }
    // max-keys=0: an empty page, not truncated, as ListObjectsV2 here (not checked against S3).
    const page = all.slice(start, start + maxKeys);
    const truncated = maxKeys > 0 && start + maxKeys < all.length;

    let xml = `<?xml version="1.0" encoding="UTF-8"?>\n<ListVersionsResult xmlns="${XMLNS}">`;
    xml += el('Name', bucket.name) + el('Prefix', prefix) + el('KeyMarker', keyMarker) + el('VersionIdMarker', versionIdMarker ?? '') + el('MaxKeys', maxKeys);
    const last = page.at(-1);
    if (truncated && last) xml += el('NextKeyMarker', last.key) + el('NextVersionIdMarker', last.v.versionId);
    xml += el('IsTruncated', truncated);
    const owner = `<Owner>${el('ID', OWNER_ID)}</Owner>`;
    for (const { key, v, latest } of page) {
      const head = el('Key', key) + el('VersionId', v.versionId) + el('IsLatest', latest) + el('LastModified', new Date(v.lastModified).toISOString());
      if (v.deleteMarker) {
        xml += `<DeleteMarker>${head}${owner}</DeleteMarker>`;
        continue;
      }
      xml += `<Version>${head}${el('ETag', v.etag)}`;
      if (v.checksum) xml += el('ChecksumAlgorithm', v.checksum.algorithm) + el('ChecksumType', 'FULL_OBJECT');
      xml += el('Size', v.body.length) + el('StorageClass', 'STANDARD') + owner + '</Version>';
    }
    xml += '</ListVersionsResult>';
    return { status: 200, headers: { 'content-type': 'application/xml' }, body: xml };
  }
}

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer;
}

/** `max-keys` as the list operations read it: a non-negative integer, capped at 1000 (default). */
function parseMaxKeys(text: string | null): number {
  if (text === null) return MAX_LIST_KEYS;
  if (!/^\d+$/.test(text) || Number(text) > 2_147_483_647) {
    throw new S3Error(400, 'InvalidArgument', 'Provided max-keys not an integer or within integer range', { ArgumentName: 'max-keys', ArgumentValue: text });
  }
  return Math.min(Number(text), MAX_LIST_KEYS);
}

function notImplemented(what: string): S3Error {
  return new S3Error(501, 'NotImplemented', `A header you provided implies functionality that is not implemented (fake S3: ${what})`);
}

function errorXml(code: string, message: string, extra: Record<string, string>, requestId: string): string {
  const fields = Object.entries(extra).map(([k, v]) => el(k, v)).join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error>${el('Code', code)}${el('Message', message)}${fields}${el('RequestId', requestId)}${el('HostId', randomBytes(24).toString('base64'))}</Error>`;
}

function newVersionId(): string {
  // S3 version ids are 32 URL-safe characters.
  return randomBytes(24).toString('base64').replace(/\+/g, '.').replace(/\//g, '_');
}

/** S3 stores a CRC64NVME full-object checksum when the upload named none. */
function checksumOrDefault(checksum: StoredVersion['checksum'], data: Buffer): NonNullable<StoredVersion['checksum']> {
  return checksum ?? { algorithm: 'CRC64NVME', value: checksumOf('CRC64NVME', data) };
}

function encodeToken(bucket: string, lastKey: string): string {
  return Buffer.from(JSON.stringify({ b: bucket, k: lastKey })).toString('base64');
}

function decodeToken(bucket: string, token: string): string | null {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { b?: unknown; k?: unknown };
    return parsed.b === bucket && typeof parsed.k === 'string' ? parsed.k : null;
  } catch {
    return null;
  }
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * Decodes an aws-chunked body: chunks `<hex>[;chunk-signature=<sig>]\r\n<bytes>\r\n`, a final
 * 0-size chunk, then (with a trailer) `name:value` lines and an empty line.
 */
export function decodeAwsChunked(raw: Buffer, withTrailer: boolean): { data: Buffer; trailers: Record<string, string> } {
  const malformed = () => new S3Error(400, 'IncompleteBody', 'The request body terminated unexpectedly');
  const parts: Buffer[] = [];
  let pos = 0;
  const readLine = (): string => {
    const end = raw.indexOf('\r\n', pos);
    if (end === -1) throw malformed();
    const line = raw.subarray(pos, end).toString('latin1');
    pos = end + 2;
    return line;
  };
  for (;;) {
    const header = readLine();
    const m = /^([0-9a-fA-F]{1,16})(;chunk-signature=[0-9a-f]{64})?$/.exec(header);
    if (!m) throw malformed();
    const size = parseInt(m[1] as string, 16);
    if (size === 0) break;
    // sigv4-streaming: "The chunk size must be at least 8 KB … except the last one."
    const previous = parts.at(-1);
    if (previous && previous.length < MIN_CHUNK) {
      throw new S3Error(400, 'InvalidChunkSizeError', 'Only the last chunk is allowed to have a size less than 8192 bytes', { Chunk: String(parts.length), BadChunkSize: String(previous.length) });
    }
    if (pos + size + 2 > raw.length || raw[pos + size] !== 0x0d || raw[pos + size + 1] !== 0x0a) throw malformed();
    parts.push(raw.subarray(pos, pos + size));
    pos += size + 2;
  }
  const trailers: Record<string, string> = {};
  if (withTrailer) {
    for (;;) {
      const line = readLine();
      if (line === '') break;
      const colon = line.indexOf(':');
      if (colon <= 0) throw new S3Error(400, 'MalformedTrailerError', 'The request contained trailing data that was not well-formed or did not conform to our published schema.');
      trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
  } else if (pos < raw.length) {
    // The signed variant ends with the final chunk's signature line's CRLF.
    if (raw.subarray(pos).toString('latin1') !== '\r\n') throw malformed();
  }
  return { data: Buffer.concat(parts), trailers };
}
