import { createHash } from 'node:crypto'
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { IdempotencyConfigError } from '../errors.js'
import type { KeyNamespace } from '../key.js'
import type { DynamoDBSendClient } from '../peer-types.js'
import { encodeResult } from '../result-codec.js'
import { DynamoDBStore } from './dynamodb-store.js'
import type { ClaimOutcome, ClaimRequest, IdempotencyStore, StoredRecord } from './store.js'

/** The attribute names of a Powertools `DynamoDBPersistenceLayer`, under its own option names. */
export interface PowertoolsAttributeNames {
  /** @default 'id' */
  keyAttr: string
  /** Set when the Powertools table has a sort key. @default none */
  sortKeyAttr?: string
  /** @default 'status' */
  statusAttr: string
  /** @default 'expiration' */
  expiryAttr: string
  /** @default 'in_progress_expiration' */
  inProgressExpiryAttr: string
  /** @default 'data' */
  dataAttr: string
}

/** Options of {@link PowertoolsDynamoDBStore}. */
export interface PowertoolsDynamoDBStoreOptions {
  /** A client you configure and own. A document client works too. */
  client: DynamoDBClient | DynamoDBSendClient
  /** The table the Powertools deployment used. */
  tableName: string
  /**
   * The attribute names the Powertools `DynamoDBPersistenceLayer` was given (`keyAttr`,
   * `sortKeyAttr`, `statusAttr`...). @default the Powertools defaults
   */
  attributeNames?: Partial<PowertoolsAttributeNames>
  /**
   * The Powertools `staticPkValue`, on a table with `sortKeyAttr`.
   * @default `idempotency#<key prefix>`, as Powertools builds it
   */
  staticPkValue?: string
  /**
   * The Powertools `keyPrefix`. Records of this store are named by it instead of by the wrapped
   * function's `name`, as Powertools names them: two functions wrapped in one Lambda function
   * that take the same keys need a store each, with a `keyPrefix` each.
   * @default the Lambda function's name (`context.functionName`), as Powertools 2 uses
   *   `AWS_LAMBDA_FUNCTION_NAME` for `makeIdempotent` and `makeHandlerIdempotent`
   */
  keyPrefix?: string
  /** The Powertools `hashFunction`. @default 'md5' */
  hashFunction?: string
  /**
   * What your `key` selector returns: `'string'`, the string value that the Powertools
   * `eventKeyJmesPath` selected (an id, a header); `'json'`, the JSON text of a selection that is
   * not a string (`JSON.stringify` of it, object keys sorted), which Powertools hashed as such.
   * @default 'string'
   */
  selection?: 'string' | 'json'
}

const powertoolsNames: PowertoolsAttributeNames = {
  keyAttr: 'id',
  statusAttr: 'status',
  expiryAttr: 'expiration',
  inProgressExpiryAttr: 'in_progress_expiration',
  dataAttr: 'data',
}

/**
 * Runs on the table and record format of Powertools for AWS Lambda idempotency
 * (`@aws-lambda-powertools/idempotency` and its Python, Java and .NET siblings, which share it), so
 * that a function moving over keeps its records: a Powertools `COMPLETED` record replays its
 * `data`, an `INPROGRESS` one answers 409 until its `in_progress_expiration` (or, without one, its
 * `expiration`) passes, and a Powertools invocation still running during the deploy and this store
 * claim the same item, so they never both run. Record ids are the Powertools ones,
 * `<key prefix>#<base64 md5 of the selected key>`, and records it writes are Powertools records
 * with two more attributes (`owner`, `fingerprint`). A Powertools record carries no fingerprint of
 * ours: its key alone decides.
 *
 * @example
 * const store = new PowertoolsDynamoDBStore({ client, tableName: process.env.IDEMPOTENCY_TABLE! })
 * export const handler = middy(charge).use(idempotent({ store, key: (event) => event.paymentId }))
 */
export class PowertoolsDynamoDBStore implements IdempotencyStore {
  readonly maxResultBytes: number
  readonly #store: DynamoDBStore
  readonly #keyPrefix: string | undefined
  readonly #hashFunction: string
  readonly #selection: 'string' | 'json'

  constructor(options: PowertoolsDynamoDBStoreOptions) {
    const names = { ...powertoolsNames, ...options?.attributeNames }
    this.#keyPrefix = optionalString('keyPrefix', options?.keyPrefix)
    this.#hashFunction = optionalString('hashFunction', options?.hashFunction) ?? 'md5'
    try {
      createHash(this.#hashFunction)
    } catch {
      throw new IdempotencyConfigError('hashFunction', 'a hash Node.js supports', this.#hashFunction)
    }
    this.#selection = options?.selection ?? 'string'
    if (this.#selection !== 'string' && this.#selection !== 'json') {
      throw new IdempotencyConfigError('selection', "'string' or 'json'", this.#selection)
    }
    const staticPkValue = optionalString('staticPkValue', options?.staticPkValue)
    this.#store = new DynamoDBStore(
      {
        client: options?.client,
        tableName: options?.tableName,
        attributeNames: {
          id: names.keyAttr,
          sortKey: names.sortKeyAttr,
          status: names.statusAttr,
          expiration: names.expiryAttr,
          leaseExpiresAt: names.inProgressExpiryAttr,
          result: names.dataAttr,
        },
        // Powertools puts every record of a table with a sort key under one partition value,
        // `idempotency#<key prefix>`; the id starts with that prefix, up to its last '#'.
        partitionValue:
          names.sortKeyAttr === undefined
            ? undefined
            : (staticPkValue ?? ((id) => `idempotency#${id.slice(0, id.lastIndexOf('#'))}`)),
      },
      { inProgress: 'INPROGRESS', completed: 'COMPLETED', foreign: powertoolsRecord(names.dataAttr) },
    )
    this.maxResultBytes = this.#store.maxResultBytes
  }

  /** `<key prefix>#<hash>`, as Powertools names the record of the same key. */
  recordId(namespace: KeyNamespace, key: string): string {
    const prefix = this.#keyPrefix ?? namespace.functionName
    const selected = this.#selection === 'string' ? JSON.stringify(key) : key
    // Powertools has no scope: a scoped key gets a record of its own, which Powertools never wrote.
    const hashed = namespace.scope === '' ? selected : JSON.stringify([namespace.scope, selected])
    return `${prefix}#${createHash(this.#hashFunction).update(hashed).digest('base64')}`
  }

  claim(request: ClaimRequest): Promise<ClaimOutcome> {
    return this.#store.claim(request)
  }

  complete(id: string, owner: string, result: string, expiresAtSeconds: number): Promise<boolean> {
    return this.#store.complete(id, owner, result, expiresAtSeconds)
  }

  release(id: string, owner: string): Promise<boolean> {
    return this.#store.release(id, owner)
  }

  get(id: string): Promise<StoredRecord | undefined> {
    return this.#store.get(id)
  }
}

// A record Powertools wrote: its `data` is the response as a DynamoDB value (a map, a string...),
// not our encoded text; an INPROGRESS record without `in_progress_expiration` (no Lambda context
// was registered) holds the key until it expires, as Powertools itself treats it.
const powertoolsRecord =
  (dataAttr: string) =>
  (item: Record<string, AttributeValue>, record: StoredRecord): StoredRecord => {
    const data = item[dataAttr]
    return {
      ...record,
      owner: '',
      leaseExpiresAtMs:
        record.status === 'IN_PROGRESS'
          ? (record.leaseExpiresAtMs ?? record.expiresAtSeconds * 1000)
          : undefined,
      result:
        record.status === 'COMPLETED'
          ? encodeResult(data === undefined ? undefined : plain(data))
          : undefined,
    }
  }

// A DynamoDB attribute value as the JavaScript value the SDK's `unmarshall` gives (numbers as
// numbers, sets as arrays).
const plain = (value: AttributeValue): unknown => {
  if (value.S !== undefined) return value.S
  if (value.N !== undefined) return Number(value.N)
  if (value.BOOL !== undefined) return value.BOOL
  if (value.NULL !== undefined) return null
  if (value.L !== undefined) return value.L.map(plain)
  if (value.M !== undefined) return Object.fromEntries(Object.entries(value.M).map(([k, v]) => [k, plain(v)]))
  if (value.SS !== undefined) return value.SS
  if (value.NS !== undefined) return value.NS.map(Number)
  if (value.B !== undefined) return Buffer.from(value.B).toString('base64')
  // The last of DynamoDB's ten types: BS, a set of binaries.
  return (value.BS as Uint8Array[]).map((binary) => Buffer.from(binary).toString('base64'))
}

const optionalString = (option: string, value: unknown): string | undefined => {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value.length === 0) {
    throw new IdempotencyConfigError(option, 'a non-empty string', value)
  }
  return value
}
