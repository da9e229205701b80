import { createHash } from 'node:crypto'
import { IdempotencyConfigError } from '../errors.js'
import {
  type ClaimOutcome,
  type ClaimRequest,
  type IdempotencyStore,
  isFree,
  type StoredRecord,
} from './store.js'

/**
 * The commands {@link RedisStore} sends, as node-redis 5 (the `redis` package) types them.
 * A client from `createClient()`, a pool from `createClientPool()` and a cluster from
 * `createCluster()` all fit; RESP2 and RESP3 both work.
 *
 * @example
 * const client: RedisStoreClient = await createClient({ url: process.env.REDIS_URL }).connect()
 */
export interface RedisStoreClient {
  set(
    key: string,
    value: string,
    options: { expiration: { type: 'PX'; value: number }; condition: 'NX'; GET: true },
  ): Promise<unknown>
  get(key: string): Promise<unknown>
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>
  evalSha(sha1: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>
}

/**
 * Options of {@link RedisStore}.
 *
 * @example
 * new RedisStore({ client, keyPrefix: 'payments:', maxResultBytes: 1_000_000, expiryMarginSeconds: 600 })
 */
export interface RedisStoreOptions {
  /** A connected node-redis client you create, configure and own. The store never builds one. */
  client: RedisStoreClient
  /** Put before every record id to form its key, so records can share a database with other data. @default 'idempotency:' */
  keyPrefix?: string
  /**
   * The largest encoded result accepted, in UTF-8 bytes. Redis holds up to 512 MB per value, but a
   * large value blocks its single thread for every other client while it is copied.
   * @default 400_000 (about what DynamoDBStore holds, so a result that fits one store fits the other)
   */
  maxResultBytes?: number
  /**
   * How long Redis keeps a record after it stops counting, before its native expiry deletes it.
   * Expiry is decided by the callers' clocks, not by Redis; this margin keeps a caller whose clock
   * lags from seeing a record vanish while it still counts.
   * @default 300 (5 minutes)
   */
  expiryMarginSeconds?: number
}

// Redis caps a string value at 512 MB; the record's header line takes the rest.
const MAX_VALUE_BYTES = 512 * 1024 * 1024
const HEADER_ALLOWANCE_BYTES = 1024

/**
 * Idempotency records in Redis 7 or newer, or Valkey. A first call costs two round trips (a
 * `SET NX GET` that claims, a script that completes), a replay one (the failed `SET NX GET`
 * returns the record that holds the key). Each record is one string key, `keyPrefix` + record id,
 * with a native expiry a margin after the record stops counting.
 *
 * Redis acknowledges a write before its replicas or its disk have it: a failover or a restart can
 * lose recent records, and a lost record lets its key run again. Set `maxmemory-policy noeviction`,
 * or evicted records run again too.
 *
 * @example
 * const client = await createClient({ url: process.env.REDIS_URL }).connect()
 * const store = new RedisStore({ client })
 */
export class RedisStore implements IdempotencyStore {
  readonly maxResultBytes: number
  readonly #client: RedisStoreClient
  readonly #keyPrefix: string
  readonly #marginMs: number

  constructor(options: RedisStoreOptions) {
    const client = options?.client as Partial<RedisStoreClient> | undefined
    const missing = (['set', 'get', 'eval', 'evalSha'] as const).filter(
      (m) => typeof client?.[m] !== 'function',
    )
    if (missing.length > 0) {
      throw new IdempotencyConfigError(
        'client',
        `a connected node-redis client (createClient(), createClientPool() or createCluster()); it has no ${missing.join(', ')}`,
        typeof client === 'object' && client !== null ? client.constructor?.name : client,
      )
    }
    this.#client = options.client
    this.#keyPrefix = options.keyPrefix ?? 'idempotency:'
    if (typeof this.#keyPrefix !== 'string') {
      throw new IdempotencyConfigError('keyPrefix', 'a string', this.#keyPrefix)
    }
    this.maxResultBytes = options.maxResultBytes ?? 400_000
    const maxAllowed = MAX_VALUE_BYTES - HEADER_ALLOWANCE_BYTES
    if (
      !Number.isSafeInteger(this.maxResultBytes) ||
      this.maxResultBytes < 1 ||
      this.maxResultBytes > maxAllowed
    ) {
      throw new IdempotencyConfigError(
        'maxResultBytes',
        `an integer from 1 to ${maxAllowed}`,
        this.maxResultBytes,
      )
    }
    const margin = options.expiryMarginSeconds ?? 300
    if (!Number.isSafeInteger(margin) || margin < 0) {
      throw new IdempotencyConfigError('expiryMarginSeconds', 'a non-negative integer', margin)
    }
    this.#marginMs = margin * 1000
  }

  async claim(request: ClaimRequest): Promise<ClaimOutcome> {
    const key = this.#keyPrefix + request.id
    const value = JSON.stringify({
      status: 'IN_PROGRESS',
      owner: request.owner,
      fingerprint: request.fingerprint,
      leaseExpiresAtMs: request.leaseExpiresAtMs,
      expiresAtSeconds: request.expiresAtSeconds,
    } satisfies Omit<StoredRecord, 'id'>)
    // Native expiry counts from now on Redis's clock for as long as the record counts on the
    // caller's clock, plus the margin: the caller's clock decides, Redis only collects garbage.
    const ttlMs = Math.max(1, Math.ceil(request.expiresAtSeconds * 1000 - request.nowMs) + this.#marginMs)
    let previous: unknown
    try {
      previous = await this.#client.set(key, value, {
        expiration: { type: 'PX', value: ttlMs },
        condition: 'NX',
        GET: true,
      })
    } catch (error) {
      // A full Redis (maxmemory with noeviction) refuses every write, SET NX GET included, but
      // still answers reads: a key that is held can still be reported, and replayed.
      if (!(error instanceof Error && error.message.startsWith('OOM'))) throw explainSetNxGet(error)
      const held = await this.get(request.id)
      if (held === undefined || isFree(held, request.nowMs, request.keepAbandoned)) throw error
      return { claimed: false, existing: held }
    }
    // A record that the caller's clock finds expired or abandoned is replaced atomically, but only
    // if it is still the record that was judged (same header): a concurrent taker wins alone.
    for (;;) {
      const held = text(previous)
      if (held === undefined) return { claimed: true }
      const existing = decode(request.id, key, held)
      if (!isFree(existing, request.nowMs, request.keepAbandoned)) return { claimed: false, existing }
      previous = await this.#run(takeOver, key, [headerOf(held), value, String(ttlMs)])
    }
  }

  async complete(id: string, owner: string, result: string, expiresAtSeconds: number): Promise<boolean> {
    const args = [owner, String(expiresAtSeconds), String(this.#marginMs), result]
    return (await this.#run(completeScript, this.#keyPrefix + id, args)) === 1
  }

  async release(id: string, owner: string): Promise<boolean> {
    return (await this.#run(releaseScript, this.#keyPrefix + id, [owner])) === 1
  }

  async get(id: string): Promise<StoredRecord | undefined> {
    const key = this.#keyPrefix + id
    const held = text(await this.#client.get(key))
    return held === undefined ? undefined : decode(id, key, held)
  }

  // EVALSHA sends only the script's hash; a server that does not know it yet (new, restarted,
  // SCRIPT FLUSH) answers NOSCRIPT, and EVAL then runs the script and caches it for next time.
  async #run(script: LuaScript, key: string, args: string[]): Promise<unknown> {
    const options = { keys: [key], arguments: args }
    try {
      return await this.#client.evalSha(script.sha1, options)
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw error
      return this.#client.eval(script.source, options)
    }
  }
}

/** A Lua script and its SHA-1, the name EVALSHA knows it by. */
interface LuaScript {
  source: string
  sha1: string
}

const lua = (source: string): LuaScript => ({ source, sha1: createHash('sha1').update(source).digest('hex') })

// A record is one string: a JSON header line (status, owner, fingerprint, lease, expiry), then,
// once completed, a newline and the encoded result as is. SET NX GET claims and reads it in one
// round trip, and the result is never escaped a second time. JSON never holds a raw newline.
const HEADER = `
local function header(value)
  local newline = string.find(value, '\\n', 1, true)
  if newline then return string.sub(value, 1, newline - 1) end
  return value
end
`

// KEYS[1] record key; ARGV: the header judged free, the new record, its native ttl in ms.
const takeOver = lua(`${HEADER}
local current = redis.call('GET', KEYS[1])
if current and header(current) ~= ARGV[1] then return current end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return false
`)

// KEYS[1] record key; ARGV: owner, expiresAtSeconds, margin in ms, encoded result.
// The native expiry moves by as much as the logical one: both stay measured from the claim on the
// caller's clock, so they keep their distance (the margin) whatever Redis's clock says.
const completeScript = lua(`${HEADER}
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local record = cjson.decode(header(current))
if record.status ~= 'IN_PROGRESS' or record.owner ~= ARGV[1] then return 0 end
local expires = tonumber(ARGV[2])
local completed = cjson.encode({
  status = 'COMPLETED', owner = ARGV[1], fingerprint = record.fingerprint, expiresAtSeconds = expires
})
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('SET', KEYS[1], completed .. '\\n' .. ARGV[4], 'KEEPTTL')
else
  ttl = math.max(ttl + (expires - record.expiresAtSeconds) * 1000, tonumber(ARGV[3]), 1)
  redis.call('SET', KEYS[1], completed .. '\\n' .. ARGV[4], 'PX', string.format('%d', ttl))
end
return 1
`)

// KEYS[1] record key; ARGV: owner.
const releaseScript = lua(`${HEADER}
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local record = cjson.decode(header(current))
if record.status ~= 'IN_PROGRESS' or record.owner ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`)

const headerOf = (value: string): string => {
  const newline = value.indexOf('\n')
  return newline < 0 ? value : value.slice(0, newline)
}

// A client with a type mapping may answer with Buffers; a missing key is null.
const text = (reply: unknown): string | undefined => {
  if (reply === null || reply === undefined) return undefined
  if (typeof reply === 'string') return reply
  if (Buffer.isBuffer(reply)) return reply.toString('utf8')
  throw new TypeError(`RedisStore: unexpected reply from Redis: ${String(reply)}`)
}

const decode = (id: string, key: string, value: string): StoredRecord => {
  const newline = value.indexOf('\n')
  let header: Partial<StoredRecord> | undefined
  try {
    header = JSON.parse(newline < 0 ? value : value.slice(0, newline))
  } catch {}
  if (
    (header?.status !== 'IN_PROGRESS' && header?.status !== 'COMPLETED') ||
    typeof header.owner !== 'string' ||
    typeof header.expiresAtSeconds !== 'number'
  ) {
    throw new Error(
      `RedisStore: key "${key}" holds a value that is not an idempotency record; does another application use the prefix?`,
    )
  }
  return {
    id,
    status: header.status,
    owner: header.owner,
    fingerprint: header.fingerprint,
    leaseExpiresAtMs: header.leaseExpiresAtMs,
    expiresAtSeconds: header.expiresAtSeconds,
    result: newline < 0 ? undefined : value.slice(newline + 1),
  }
}

// SET with both NX and GET arrived in Redis 7.0; older servers call it a syntax error.
const explainSetNxGet = (error: unknown): unknown =>
  error instanceof Error && /syntax error/i.test(error.message)
    ? new Error('RedisStore needs Redis 7.0 or newer, or Valkey: the server refused SET with NX and GET', {
        cause: error,
      })
    : error
