import {
  type AttributeValue,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  type TransactWriteItem,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb'
import { IdempotencyConfigError } from '../errors.js'
import { sha256 } from '../key.js'
import type { DynamoDBSendClient } from '../peer-types.js'
import type {
  ClaimOutcome,
  ClaimRequest,
  IdempotencyStore,
  RecordStatus,
  StoredRecord,
  TransactionalCompletion,
  TransactionalStore,
  TransactionItemForm,
} from './store.js'

/** Names of the table's attributes. Override to fit an existing table. */
export interface DynamoDBAttributeNames {
  /**
   * Partition key (String). Holds the record id, or, on a table with a sort key, the
   * `partitionValue`. @default 'id'
   */
  id: string
  /**
   * Sort key (String) of a table with a composite primary key (single-table design): the record id
   * goes here and the partition key gets `partitionValue`. Leave it out for a table keyed by
   * `id` alone.
   * @default none (the table has no sort key)
   * @example
   * new DynamoDBStore({ client, tableName: 'app', attributeNames: { id: 'pk', sortKey: 'sk' } })
   */
  sortKey?: string
  /** TTL attribute (Number, epoch seconds). @default 'expiration' */
  expiration: string
  /** @default 'status' */
  status: string
  /** @default 'owner' */
  owner: string
  /** @default 'fingerprint' */
  fingerprint: string
  /** Lease end of an `IN_PROGRESS` record, epoch milliseconds. @default 'leaseExpiresAt' */
  leaseExpiresAt: string
  /** @default 'result' */
  result: string
}

/** Options of {@link DynamoDBStore}. */
export interface DynamoDBStoreOptions {
  /** A client you configure and own (region, credentials, retries). A document client works too. */
  client: DynamoDBClient | DynamoDBSendClient
  /** The table: partition key `id` (String), TTL on `expiration`. */
  tableName: string
  /** Attribute names, for a table that already uses others. @default see {@link DynamoDBAttributeNames} */
  attributeNames?: Partial<DynamoDBAttributeNames>
  /**
   * On a table with a sort key (`attributeNames.sortKey`): the partition key value of a record,
   * a string or a function of the record id. A function spreads records over several partitions:
   * one partition key value takes at most 1,000 writes per second, and every call writes twice
   * (claim, then complete), so one static value tops out near 500 new calls per second. It must
   * return the same value for the same id forever (records written under another value are not
   * found), and only values that no other item of the table uses.
   * @default `'idempotency#'` followed by the first hex digit of the SHA-256 of the record id:
   *   16 partition key values, `idempotency#0` to `idempotency#f`
   * @example
   * new DynamoDBStore({ client, tableName: 'app', attributeNames: { id: 'pk', sortKey: 'sk' }, partitionValue: 'IDEMPOTENCY' })
   */
  partitionValue?: string | ((id: string) => string)
}

/**
 * How a record format spells its statuses, and how it reads records that another library wrote
 * (items without an owner attribute). Internal: the Powertools format is its only other user.
 * @internal
 */
export interface RecordDialect {
  inProgress: string
  completed: string
  /** Completes a record that another library wrote; `undefined` for a store that never meets one. */
  foreign?: (item: Record<string, AttributeValue>, record: StoredRecord) => StoredRecord
}

const ownDialect: RecordDialect = { inProgress: 'IN_PROGRESS', completed: 'COMPLETED' }

type ClaimCondition = {
  ConditionExpression: string
  ExpressionAttributeNames: Record<string, string>
  ExpressionAttributeValues: Record<string, AttributeValue>
}
type ItemKey = Record<string, AttributeValue>

/**
 * The default partition key value on a table with a sort key: 16 values, so records spread over
 * 16 partitions (16,000 writes per second) instead of one hot partition; fixed forever, since
 * a record is found by recomputing it.
 */
export const defaultPartitionValue = (id: string): string => `idempotency#${sha256(id).charAt(0)}`

const defaultAttributeNames: Omit<DynamoDBAttributeNames, 'sortKey'> = {
  id: 'id',
  expiration: 'expiration',
  status: 'status',
  owner: 'owner',
  fingerprint: 'fingerprint',
  leaseExpiresAt: 'leaseExpiresAt',
  result: 'result',
}

// A DynamoDB item holds 400 KB, attribute names and the other attributes included.
const MAX_ITEM_BYTES = 400 * 1024
const ITEM_OVERHEAD_BYTES = 2 * 1024

/**
 * Idempotency records in a DynamoDB table. A first call costs two requests (a conditional
 * `PutItem` that claims, an `UpdateItem` that completes), a replay one (the failed conditional
 * put returns the record that holds the key). Needs `dynamodb:GetItem`, `PutItem`, `UpdateItem`
 * and `DeleteItem` on the table.
 *
 * @example
 * const store = new DynamoDBStore({ client: new DynamoDBClient({}), tableName: process.env.IDEMPOTENCY_TABLE! })
 */
export class DynamoDBStore implements IdempotencyStore, TransactionalStore {
  readonly maxResultBytes = MAX_ITEM_BYTES - ITEM_OVERHEAD_BYTES
  /** `TransactWriteItems` holds 100 items; the idempotency record is one of them. */
  readonly maxTransactionItems = 100
  readonly #client: DynamoDBClient
  readonly #tableName: string
  readonly #names: DynamoDBAttributeNames
  readonly #partitionValue: ((id: string) => string) | undefined
  readonly #dialect: RecordDialect
  readonly #completeNames: Record<string, string>

  /** @param dialect internal: the record format (see `PowertoolsDynamoDBStore`) */
  constructor(options: DynamoDBStoreOptions, dialect: RecordDialect = ownDialect) {
    this.#dialect = dialect
    if (typeof options?.client?.send !== 'function') {
      throw new IdempotencyConfigError(
        'client',
        'a DynamoDBClient or DynamoDBDocumentClient',
        options?.client,
      )
    }
    if (typeof options.tableName !== 'string' || options.tableName.length === 0) {
      throw new IdempotencyConfigError('tableName', 'a non-empty string', options.tableName)
    }
    // Low-level commands go through a document client unchanged: it shares the base client's stack.
    this.#client = options.client as DynamoDBClient
    this.#tableName = options.tableName
    this.#names = { ...defaultAttributeNames, ...stripUndefined(options.attributeNames ?? {}) }
    const seen = new Map<string, string>()
    for (const [field, name] of Object.entries(this.#names)) {
      if (typeof name !== 'string' || name.length === 0) {
        throw new IdempotencyConfigError(`attributeNames.${field}`, 'a non-empty string', name)
      }
      const other = seen.get(name)
      if (other !== undefined) {
        throw new IdempotencyConfigError(
          `attributeNames.${field}`,
          `a name that attributeNames.${other} does not use already`,
          name,
        )
      }
      seen.set(name, field)
    }
    this.#partitionValue = resolvePartitionValue(this.#names.sortKey, options.partitionValue)
    const n = this.#names
    this.#completeNames = {
      '#expiration': n.expiration,
      '#status': n.status,
      '#owner': n.owner,
      '#lease': n.leaseExpiresAt,
      '#result': n.result,
    }
  }

  async claim(request: ClaimRequest): Promise<ClaimOutcome> {
    const n = this.#names
    const item: Record<string, AttributeValue> = {
      ...this.#key(request.id),
      [n.status]: { S: this.#dialect.inProgress },
      [n.owner]: { S: request.owner },
      [n.leaseExpiresAt]: { N: String(request.leaseExpiresAtMs) },
      [n.expiration]: { N: String(request.expiresAtSeconds) },
    }
    if (request.fingerprint !== undefined) item[n.fingerprint] = { S: request.fingerprint }
    try {
      await this.#client.send(
        new PutItemCommand({
          TableName: this.#tableName,
          Item: item,
          ...this.#claimCondition(request),
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      )
      return { claimed: true }
    } catch (error) {
      if (!isConditionalCheckFailure(error)) throw error
      const old = (error as { Item?: Record<string, AttributeValue> }).Item
      if (old !== undefined) return { claimed: false, existing: this.#existing(old, request) }
      // A DynamoDB-compatible service that does not return the old item: read it instead.
      const { Item } = await this.#client.send(
        new GetItemCommand({ TableName: this.#tableName, Key: this.#key(request.id), ConsistentRead: true }),
      )
      if (Item === undefined) return this.claim(request) // deleted in between: try again
      return { claimed: false, existing: this.#existing(Item, request) }
    }
  }

  // The key is free when no record holds it, when its record has expired (DynamoDB's TTL deletes
  // items up to 48 hours late, so expiry is checked here, not left to TTL), or when the record is
  // an abandoned claim whose owner's lease has ended, unless the caller keeps abandoned claims. A
  // durable execution's replay (`reentrant`) also re-enters its own claim: the same owner's
  // IN_PROGRESS record, whatever its lease.
  #claimCondition(request: ClaimRequest): ClaimCondition {
    const n = this.#names
    let expression = 'attribute_not_exists(#id) OR #expiration <= :nowSeconds'
    const names: Record<string, string> = { '#id': n.id, '#expiration': n.expiration }
    const values: Record<string, AttributeValue> = {
      ':nowSeconds': { N: String(Math.floor(request.nowMs / 1000)) },
    }
    if (request.keepAbandoned !== true) {
      expression += ' OR (#status = :inProgress AND #lease <= :nowMs)'
      names['#lease'] = n.leaseExpiresAt
      values[':nowMs'] = { N: String(request.nowMs) }
    }
    if (request.reentrant === true) {
      expression += ' OR (#status = :inProgress AND #owner = :owner)'
      names['#owner'] = n.owner
      values[':owner'] = { S: request.owner }
    }
    if (expression.includes('#status')) {
      names['#status'] = n.status
      values[':inProgress'] = { S: this.#dialect.inProgress }
    }
    return {
      ConditionExpression: expression,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    }
  }

  async complete(id: string, owner: string, result: string, expiresAtSeconds: number): Promise<boolean> {
    return this.#ifOwner(new UpdateItemCommand(this.#completeInput(id, owner, result, expiresAtSeconds)))
  }

  /**
   * The completion as a `TransactWriteItems` item (an `Update` of the record, conditioned on the
   * owner and `IN_PROGRESS`), with attribute values (`'low-level'`) or plain values (`'document'`).
   */
  transactionItem(
    completion: TransactionalCompletion,
    form: TransactionItemForm,
  ): TransactWriteItem | object {
    const { id, owner, result, expiresAtSeconds } = completion
    const update = this.#completeInput(id, owner, result, expiresAtSeconds)
    if (form === 'low-level') return { Update: update }
    return {
      Update: {
        ...update,
        Key: plainValues(update.Key),
        ExpressionAttributeValues: plainValues(update.ExpressionAttributeValues),
      },
    }
  }

  /**
   * Sends the caller's items and the completion as one `TransactWriteItems` through `client`, with
   * the low-level command or, when the items hold plain values, the document client's command.
   * `false` when the completion's owner condition cancelled the transaction.
   */
  async transactWrite(
    client: unknown,
    items: readonly unknown[],
    completion: TransactionalCompletion,
  ): Promise<boolean> {
    const sender = client as { send?: (command: unknown) => Promise<unknown> }
    if (typeof sender?.send !== 'function') {
      throw new IdempotencyConfigError('client', 'a DynamoDBClient or DynamoDBDocumentClient', client)
    }
    const form = items.some(holdsPlainValues) ? 'document' : 'low-level'
    const TransactItems = [...items, this.transactionItem(completion, form)]
    try {
      if (form === 'low-level') {
        await sender.send(
          new TransactWriteItemsCommand({ TransactItems: TransactItems as TransactWriteItem[] }),
        )
      } else {
        // Loaded only here, and named through a variable so that bundlers of apps without the
        // optional peer leave it alone: whoever writes document items has the document client.
        const { TransactWriteCommand } = (await import(
          LIB_DYNAMODB
        )) as typeof import('@aws-sdk/lib-dynamodb')
        await sender.send(new TransactWriteCommand({ TransactItems: TransactItems as never }))
      }
      return true
    } catch (error) {
      const reasons = (error as { name?: unknown; CancellationReasons?: { Code?: string }[] })
        .CancellationReasons
      if ((error as { name?: unknown }).name !== 'TransactionCanceledException') throw error
      if (reasons?.[items.length]?.Code === 'ConditionalCheckFailed') return false
      throw error
    }
  }

  /**
   * The conditional update that completes the owner's claim: key, condition and values, in the
   * shape both `UpdateItem` and a `TransactWriteItems` `Update` take.
   */
  #completeInput(id: string, owner: string, result: string, expiresAtSeconds: number) {
    return {
      TableName: this.#tableName,
      Key: this.#key(id),
      UpdateExpression:
        'SET #status = :completed, #result = :result, #expiration = :expiration REMOVE #lease',
      ConditionExpression: '#owner = :owner AND #status = :inProgress',
      ExpressionAttributeNames: this.#completeNames,
      ExpressionAttributeValues: {
        ':completed': { S: this.#dialect.completed },
        ':result': { S: result },
        ':expiration': { N: String(expiresAtSeconds) },
        ':owner': { S: owner },
        ':inProgress': { S: this.#dialect.inProgress },
      } satisfies Record<string, AttributeValue>,
    }
  }

  async release(id: string, owner: string): Promise<boolean> {
    return this.#ifOwner(
      new DeleteItemCommand({
        TableName: this.#tableName,
        Key: this.#key(id),
        ConditionExpression: '#owner = :owner AND #status = :inProgress',
        ExpressionAttributeNames: { '#owner': this.#names.owner, '#status': this.#names.status },
        ExpressionAttributeValues: { ':owner': { S: owner }, ':inProgress': { S: this.#dialect.inProgress } },
      }),
    )
  }

  async get(id: string): Promise<StoredRecord | undefined> {
    const { Item } = await this.#client.send(
      new GetItemCommand({
        TableName: this.#tableName,
        Key: this.#key(id),
        ConsistentRead: true,
      }),
    )
    return Item === undefined ? undefined : this.#toRecord(Item, id)
  }

  /**
   * The primary key of a record: the id alone, or, on a table with a sort key, the partition value
   * and the id. Every request builds its key here, so no request can reach another item.
   */
  #key(id: string): ItemKey {
    const n = this.#names
    if (n.sortKey === undefined || this.#partitionValue === undefined) return { [n.id]: { S: id } }
    const partition = this.#partitionValue(id)
    if (typeof partition !== 'string' || partition.length === 0) {
      throw new IdempotencyConfigError('partitionValue', 'a function returning a non-empty string', partition)
    }
    return { [n.id]: { S: partition }, [n.sortKey]: { S: id } }
  }

  async #ifOwner(command: UpdateItemCommand | DeleteItemCommand): Promise<boolean> {
    try {
      // biome-ignore lint/suspicious/noExplicitAny: both commands go through the same client.send
      await this.#client.send(command as any)
      return true
    } catch (error) {
      if (isConditionalCheckFailure(error)) return false
      throw error
    }
  }

  // The record that holds a claimed id. One that another library wrote carries no fingerprint of
  // ours: it is honoured by its key alone.
  #existing(item: Record<string, AttributeValue>, request: ClaimRequest): StoredRecord {
    const record = this.#toRecord(item, request.id)
    if (this.#dialect.foreign !== undefined && item[this.#names.owner] === undefined) {
      record.fingerprint = request.fingerprint
    }
    return record
  }

  // The id is the one the item was read by: its key attribute holds nothing else.
  #toRecord(item: Record<string, AttributeValue>, id: string): StoredRecord {
    const n = this.#names
    const lease = item[n.leaseExpiresAt]?.N
    const record: StoredRecord = {
      id,
      status: (item[n.status]?.S === this.#dialect.completed ? 'COMPLETED' : 'IN_PROGRESS') as RecordStatus,
      owner: item[n.owner]?.S ?? '',
      fingerprint: item[n.fingerprint]?.S,
      leaseExpiresAtMs: lease === undefined ? undefined : Number(lease),
      expiresAtSeconds: Number(item[n.expiration]?.N ?? 0),
      result: item[n.result]?.S,
    }
    const { foreign } = this.#dialect
    return foreign !== undefined && item[n.owner] === undefined ? foreign(item, record) : record
  }
}

// By name, not instanceof: two copies of the SDK in one bundle make `instanceof` fail.
const isConditionalCheckFailure = (error: unknown): boolean =>
  (error as { name?: unknown } | undefined)?.name === 'ConditionalCheckFailedException'

const LIB_DYNAMODB: string = '@aws-sdk/lib-dynamodb'

// The document form of low-level attribute values (`{ S: 'x' }` -> 'x', `{ N: '1' }` -> 1).
const plainValues = (values: Record<string, AttributeValue>): Record<string, unknown> =>
  Object.fromEntries(
    Object.entries(values).map(([name, value]) => [name, value.N !== undefined ? Number(value.N) : value.S]),
  )

const ATTRIBUTE_TYPES = new Set(['S', 'N', 'B', 'BOOL', 'NULL', 'M', 'L', 'SS', 'NS', 'BS'])

// A key attribute of a low-level item is `{ S: 'x' }` (or N, B); of a document item a plain string,
// number or binary. The first key attribute of any item tells which form the caller wrote.
const holdsPlainValues = (item: unknown): boolean => {
  const operation = Object.values((item ?? {}) as Record<string, { Key?: unknown; Item?: unknown }>)[0]
  const attributes = (operation?.Key ?? operation?.Item) as Record<string, unknown> | undefined
  const first = attributes === undefined ? undefined : Object.values(attributes)[0]
  if (first === undefined) return false
  if (typeof first !== 'object' || first === null || first instanceof Uint8Array) return true
  const keys = Object.keys(first)
  return !(keys.length === 1 && ATTRIBUTE_TYPES.has(keys[0] as string))
}

const resolvePartitionValue = (
  sortKey: string | undefined,
  value: DynamoDBStoreOptions['partitionValue'],
): ((id: string) => string) | undefined => {
  if (sortKey === undefined) {
    if (value !== undefined) {
      throw new IdempotencyConfigError(
        'partitionValue',
        'left out unless attributeNames.sortKey names the sort key',
        value,
      )
    }
    return undefined
  }
  if (value === undefined) return defaultPartitionValue
  if (typeof value === 'function') return value
  if (typeof value === 'string' && value.length > 0) return () => value
  throw new IdempotencyConfigError(
    'partitionValue',
    'a non-empty string or a function of the record id',
    value,
  )
}

const stripUndefined = <T extends object>(value: T): T =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
