import { createHash } from 'node:crypto'
import { IdempotencyConfigError } from '../errors.js'
import type { ClaimOutcome, ClaimRequest, IdempotencyStore, StoredRecord } from './store.js'

/**
 * The commands {@link RedisStore} sends, as node-redis 5 (the `redis` package) types them.
 * A client from `createClient()`, a pool from `createClientPool()` and a cluster from
 * `createCluster()` all fit; RESP2 and RESP3 both work.
 *
 * @example
 * const client: RedisStoreClient = await createClient({ url: process.env.REDIS_URL }).connect()
 */
export interface RedisStoreClient {
  get(key: string): Promise<unknown>
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>
  evalSha(sha1: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>
}

/**
 * Options of {@link RedisStore}.
 *
 * @example
 * new RedisStore({ client, keyPrefix: 'payments:', timeoutMs: 1_000, clock: 'server' })
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
   * How long Redis keeps a record after it stops counting, before its native expiry deletes it, so
   * that a caller whose clock lags never sees a record vanish while it still counts.
   * @default 300 (5 minutes)
   */
  expiryMarginSeconds?: number
  /**
   * The longest the store waits for Redis to answer one operation (claim, complete, release, get),
   * in milliseconds. node-redis stops timing a command once it is on the socket, so a hung server
   * (paused, partitioned without a reset) would otherwise hold the caller until the Lambda times
   * out. A claim that fails this way is a 503 and its work does not run; if the claim lands later
   * anyway, the store releases it as soon as Redis answers.
   * @default 2_000
   */
  timeoutMs?: number
  /**
   * Whose clock judges that a lease has ended or a record has expired. `'caller'`: the caller's
   * clock (the `now` option), as every store does; callers whose clocks disagree by more than a
   * lease or a retention window can run the work twice. `'server'`: Redis's clock (`TIME` inside
   * the scripts); the durations each caller measures still count, but the callers' clocks may
   * disagree by any amount, and a `now` option that jumps (a test clock) no longer moves time
   * for the store.
   * @default 'caller'
   */
  clock?: 'caller' | 'server'
  /**
   * When a completion finds its claim's record gone (a restart without persistence, an
   * eviction), write the completed record again (never over a live record), so retries replay
   * instead of running again. The store then remembers the header of each open claim (at most
   * 1,000) until it completes or releases. Off by default: a claim whose key was taken over and
   * released meanwhile would then complete after all, which the store contract calls fenced.
   * @default false
   */
  recreateLostRecords?: boolean
}

// Redis caps a string value at 512 MB; the record's header line takes the rest.
const MAX_VALUE_BYTES = 512 * 1024 * 1024
const HEADER_ALLOWANCE_BYTES = 1024
// Claims whose completion can still recreate their record, kept until they complete or release.
const MAX_OPEN_CLAIMS = 1_000

/**
 * Idempotency records in Redis 7 or newer, or Valkey. A first call costs two round trips (a claim
 * script, a completion script), a replay one (the claim returns the record that holds the key).
 * Each record is one string key, `keyPrefix` + record id.
 *
 * Completion and release are allowed past `maxmemory`, so a claimed key is always completed;
 * blocking claims (`abandoned: 'block'`) carry no native expiry, so no `volatile-*` eviction
 * policy can pick them; every call has a deadline (`timeoutMs`). Redis acknowledges a write before
 * its replicas or its disk have it: a failover or a restart can lose recent records, and a lost
 * record lets its key run again. Set `maxmemory-policy noeviction`, or evicted records run again.
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
  readonly #timeoutMs: number
  readonly #serverClock: boolean
  // What the completion needs to write the record again if Redis lost the claim (a restart
  // without persistence, an eviction): the header it would have, and the claim's clock offset.
  readonly #open = new Map<string, { header: string; offsetMs: number }>()
  readonly #recreate: boolean

  constructor(options: RedisStoreOptions) {
    const client = options?.client as Partial<RedisStoreClient> | undefined
    const missing = (['get', 'eval', 'evalSha'] as const).filter((m) => typeof client?.[m] !== 'function')
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
    this.#timeoutMs = options.timeoutMs ?? 2_000
    if (!Number.isSafeInteger(this.#timeoutMs) || this.#timeoutMs < 1) {
      throw new IdempotencyConfigError('timeoutMs', 'a positive integer (milliseconds)', this.#timeoutMs)
    }
    const clock = options.clock ?? 'caller'
    if (clock !== 'caller' && clock !== 'server') {
      throw new IdempotencyConfigError('clock', "'caller' or 'server'", clock)
    }
    this.#serverClock = clock === 'server'
    this.#recreate = options.recreateLostRecords === true
  }

  async claim(request: ClaimRequest): Promise<ClaimOutcome> {
    const key = this.#keyPrefix + request.id
    const header = JSON.stringify({
      status: 'IN_PROGRESS',
      owner: request.owner,
      fingerprint: request.fingerprint,
      leaseExpiresAtMs: request.leaseExpiresAtMs,
      expiresAtSeconds: request.expiresAtSeconds,
    } satisfies Omit<StoredRecord, 'id'>)
    const args = [
      header,
      String(request.nowMs),
      request.keepAbandoned === true ? '1' : '0',
      this.#serverClock ? 'server' : 'caller',
      String(this.#marginMs),
      request.reentrant === true ? request.owner : '',
    ]
    const pending = this.#run(claimScript, key, args)
    let reply: unknown
    try {
      reply = await this.#withDeadline(pending, 'claim', key)
    } catch (error) {
      // The caller gives up and never runs the work; a claim that reaches Redis later would hold
      // the key for its whole lease (forever when blocking), so it is released when it answers.
      pending.then(
        (late) => {
          if (Array.isArray(late) && late[0] === null) this.release(request.id, request.owner).catch(() => {})
        },
        () => {},
      )
      throw error
    }
    if (!Array.isArray(reply))
      throw new TypeError(`RedisStore: unexpected reply from Redis: ${String(reply)}`)
    const serverNowMs = Number(text(reply[1]))
    const held = text(reply[0])
    if (held === undefined) {
      this.#remember(request.id, request.owner, {
        header: completedHeader(request.owner, request.fingerprint),
        offsetMs: request.nowMs - serverNowMs,
      })
      return { claimed: true }
    }
    const { record, offsetMs } = parse(request.id, key, held)
    if (!this.#serverClock) return { claimed: false, existing: record }
    // Judged on Redis's clock: report the holder's lease and expiry on this caller's clock, so
    // that the protocol's own comparisons (abandoned, retry-after) agree with that judgement.
    const shiftMs = request.nowMs - serverNowMs - offsetMs
    return {
      claimed: false,
      existing: {
        ...record,
        leaseExpiresAtMs:
          record.leaseExpiresAtMs === undefined ? undefined : record.leaseExpiresAtMs + shiftMs,
        expiresAtSeconds: Math.floor((record.expiresAtSeconds * 1000 + shiftMs) / 1000),
      },
    }
  }

  /**
   * Completes the owner's claim. When nothing holds the key any more (Redis lost the claim in a
   * restart without persistence, or evicted it), the completion writes the completed record
   * again and returns `true`: the work ran, and a retry should replay it rather than run it again.
   * A record of anyone else, or already completed, is never touched (`false`).
   */
  async complete(id: string, owner: string, result: string, expiresAtSeconds: number): Promise<boolean> {
    const key = this.#keyPrefix + id
    const open = this.#open.get(openKey(id, owner))
    const args = [
      owner,
      String(expiresAtSeconds),
      String(this.#marginMs),
      result,
      open?.header ?? '',
      String(open?.offsetMs ?? 0),
    ]
    const done = await this.#withDeadline(this.#run(completeScript, key, args), 'complete', key)
    this.#open.delete(openKey(id, owner))
    return done === 1
  }

  async release(id: string, owner: string): Promise<boolean> {
    const key = this.#keyPrefix + id
    const done = await this.#withDeadline(this.#run(releaseScript, key, [owner]), 'release', key)
    this.#open.delete(openKey(id, owner))
    return done === 1
  }

  /** Reads a record; its lease and expiry are on the clock of the caller that wrote it. */
  async get(id: string): Promise<StoredRecord | undefined> {
    const key = this.#keyPrefix + id
    const held = text(await this.#withDeadline(this.#client.get(key), 'get', key))
    return held === undefined ? undefined : parse(id, key, held).record
  }

  #remember(id: string, owner: string, open: { header: string; offsetMs: number }): void {
    if (this.#recreate) this.#open.set(openKey(id, owner), open)
    // Claims that never complete nor release (a crash of the protocol itself) must not pile up.
    if (this.#open.size > MAX_OPEN_CLAIMS) this.#open.delete(this.#open.keys().next().value as string)
  }

  // node-redis stops timing a command once it is written: a paused or partitioned server would
  // keep it waiting until the connection dies. The deadline bounds the whole operation.
  async #withDeadline<T>(operation: Promise<T>, name: string, key: string): Promise<T> {
    operation.catch(() => {}) // a failure after the deadline has nobody left to hear it
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `RedisStore: Redis did not answer the ${name} of key "${key}" within ${this.#timeoutMs} ms (timeoutMs)`,
            ),
          ),
        this.#timeoutMs,
      )
    })
    try {
      return await Promise.race([operation, deadline])
    } finally {
      clearTimeout(timer)
    }
  }

  // EVALSHA sends only the script's hash; a server that does not know it yet (new, restarted,
  // SCRIPT FLUSH) answers NOSCRIPT, and EVAL then runs the script and caches it for next time.
  async #run(script: LuaScript, key: string, args: string[]): Promise<unknown> {
    const options = { keys: [key], arguments: args }
    try {
      return await this.#client.evalSha(script.sha1, options)
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw explainVersion(error)
      return this.#client.eval(script.source, options).catch((retried: unknown) => {
        throw explainVersion(retried)
      })
    }
  }
}

const openKey = (id: string, owner: string) => `${id}\n${owner}`

// The completed header a lost claim is written again with; the script adds expiry and offset.
const completedHeader = (owner: string, fingerprint: string | undefined) =>
  JSON.stringify({ status: 'COMPLETED', owner, fingerprint })

/** A Lua script and its SHA-1, the name EVALSHA knows it by. */
interface LuaScript {
  source: string
  sha1: string
}

const lua = (source: string): LuaScript => ({ source, sha1: createHash('sha1').update(source).digest('hex') })

// A record is one string: a JSON header line (status, owner, fingerprint, lease, expiry, and the
// claimant's clock minus Redis's clock at the claim), then, once completed, a newline and the
// encoded result as is. The claim reads it in the same round trip, and the result is never
// escaped a second time. JSON never holds a raw newline.
const COMMON = `
local function header(value)
  local newline = string.find(value, '\\n', 1, true)
  if newline then return string.sub(value, 1, newline - 1) end
  return value
end
-- The record's header, or nil when the value is not an idempotency record.
local function parse(value)
  local ok, record = pcall(cjson.decode, header(value))
  if not ok or type(record) ~= 'table' or type(record.owner) ~= 'string'
    or type(record.expiresAtSeconds) ~= 'number'
    or (record.status ~= 'IN_PROGRESS' and record.status ~= 'COMPLETED') then return nil end
  return record
end
local function servertime()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Appends fields to a JSON object (a header built by JSON.stringify or cjson: it ends with '}').
local function extend(json, fields)
  if json == '{}' then return '{' .. string.sub(fields, 2) .. '}' end
  return string.sub(json, 1, -2) .. fields .. '}'
end
`

// KEYS[1] record key; ARGV: the IN_PROGRESS header, the caller's clock (ms), '1' to keep an
// abandoned claim, whose clock judges ('caller' or 'server'), the expiry margin (ms), and the owner
// whose own IN_PROGRESS record the claim re-enters (a durable replay), or ''.
// Returns { the value that holds the key, or false when claimed; Redis's clock in ms }.
// No script flags on purpose: Redis then checks maxmemory at the first write, so a full Redis
// refuses a new claim (OOM) but still reports the record that holds the key.
const claimScript = lua(`${COMMON}
if (redis.REDIS_VERSION_NUM or 0) < 0x070000 then
  return redis.error_reply('ERR this Redis is older than 7.0')
end
local current = redis.call('GET', KEYS[1])
local servernow = servertime()
local callernow = tonumber(ARGV[2])
local keep = ARGV[3] == '1'
if current then
  local record = parse(current)
  if not record then return { current, string.format('%d', servernow) } end
  local now = callernow
  -- On Redis's clock, the record's times read on the clock of the caller that wrote them.
  if ARGV[4] == 'server' then now = servernow + (tonumber(record.offsetMs) or 0) end
  local free = record.expiresAtSeconds * 1000 <= now
    or (not keep and record.status == 'IN_PROGRESS' and (tonumber(record.leaseExpiresAtMs) or 0) <= now)
    or (ARGV[6] ~= '' and record.status == 'IN_PROGRESS' and record.owner == ARGV[6])
  if not free then return { current, string.format('%d', servernow) } end
end
local offset = callernow - servernow
local value = extend(ARGV[1], string.format(',"offsetMs":%d', offset))
if keep then
  -- A blocking claim has no native expiry: the volatile-* eviction policies never select it.
  redis.call('SET', KEYS[1], value)
else
  local expires = cjson.decode(ARGV[1]).expiresAtSeconds
  redis.call('SET', KEYS[1], value, 'PXAT', string.format('%d', expires * 1000 - offset + tonumber(ARGV[5])))
end
return { false, string.format('%d', servernow) }
`)

// KEYS[1] record key; ARGV: owner, expiresAtSeconds, margin (ms), encoded result, and for a lost
// claim the completed header (or '') and the claim's clock offset (ms).
// allow-oom: a claimed key must be completed even past maxmemory, or its work would run again.
// The native expiry is the result's expiry on the claimant's clock, moved onto Redis's clock by
// the offset measured at the claim, plus the margin: it never comes before the record stops counting.
const completeScript = lua(`#!lua flags=allow-oom
${COMMON}
local current = redis.call('GET', KEYS[1])
local expires = tonumber(ARGV[2])
local completed
local offset
if current then
  local record = parse(current)
  if not record or record.status ~= 'IN_PROGRESS' or record.owner ~= ARGV[1] then return 0 end
  offset = tonumber(record.offsetMs) or 0
  local fingerprint = ''
  if record.fingerprint then fingerprint = ',"fingerprint":' .. cjson.encode(record.fingerprint) end
  completed = '{"status":"COMPLETED","owner":' .. cjson.encode(ARGV[1]) .. fingerprint .. '}'
elseif ARGV[5] ~= '' then
  -- Nothing holds the key: Redis lost the claim. The work ran, so its record is written again;
  -- a live record (anyone's claim, a completed record) is never overwritten.
  completed = ARGV[5]
  offset = tonumber(ARGV[6])
else
  return 0
end
completed = extend(completed, string.format(',"expiresAtSeconds":%s,"offsetMs":%d', cjson.encode(expires), offset))
local at = math.max(expires * 1000 - offset + tonumber(ARGV[3]), servertime() + 1)
redis.call('SET', KEYS[1], completed .. '\\n' .. ARGV[4], 'PXAT', string.format('%d', at))
return 1
`)

// KEYS[1] record key; ARGV: owner. allow-oom: a release frees memory, it must never be refused.
const releaseScript = lua(`#!lua flags=allow-oom
${COMMON}
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local record = parse(current)
if not record or record.status ~= 'IN_PROGRESS' or record.owner ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`)

// A client with a type mapping may answer with Buffers; a missing key is null.
const text = (reply: unknown): string | undefined => {
  if (reply === null || reply === undefined) return undefined
  if (typeof reply === 'string') return reply
  if (Buffer.isBuffer(reply)) return reply.toString('utf8')
  throw new TypeError(`RedisStore: unexpected reply from Redis: ${String(reply)}`)
}

const parse = (id: string, key: string, value: string): { record: StoredRecord; offsetMs: number } => {
  const newline = value.indexOf('\n')
  let header: (Partial<StoredRecord> & { offsetMs?: unknown }) | undefined
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
    record: {
      id,
      status: header.status,
      owner: header.owner,
      fingerprint: header.fingerprint,
      leaseExpiresAtMs: header.leaseExpiresAtMs,
      expiresAtSeconds: header.expiresAtSeconds,
      result: newline < 0 ? undefined : value.slice(newline + 1),
    },
    offsetMs: typeof header.offsetMs === 'number' ? header.offsetMs : 0,
  }
}

// Script flags (the '#!lua' line) need Redis 7.0; older servers cannot compile the scripts, and the
// claim script refuses them itself so that no work runs where its completion would fail.
const explainVersion = (error: unknown): unknown =>
  error instanceof Error && /syntax error|unexpected symbol|older than 7\.0/i.test(error.message)
    ? new Error('RedisStore needs Redis 7.0 or newer, or Valkey: the server refused a Redis 7 script', {
        cause: error,
      })
    : error
