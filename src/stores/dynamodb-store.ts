import {
  type AttributeValue,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb'
import { IdempotencyConfigError } from '../errors.js'
import type { DynamoDBSendClient } from '../peer-types.js'
import type { ClaimOutcome, ClaimRequest, IdempotencyStore, RecordStatus, StoredRecord } from './store.js'

/** Names of the table's attributes. Override to fit an existing table. */
export interface DynamoDBAttributeNames {
  /** Partition key (String). @default 'id' */
  id: string
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
}

type ClaimCondition = { ConditionExpression: string; ExpressionAttributeNames: Record<string, string> }

const defaultAttributeNames: DynamoDBAttributeNames = {
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
export class DynamoDBStore implements IdempotencyStore {
  readonly maxResultBytes = MAX_ITEM_BYTES - ITEM_OVERHEAD_BYTES
  readonly #client: DynamoDBClient
  readonly #tableName: string
  readonly #names: DynamoDBAttributeNames
  readonly #completeNames: Record<string, string>
  readonly #claimKeeping: ClaimCondition
  readonly #claimTakingOver: ClaimCondition

  constructor(options: DynamoDBStoreOptions) {
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
    this.#names = { ...defaultAttributeNames, ...options.attributeNames }
    for (const [field, name] of Object.entries(this.#names)) {
      if (typeof name !== 'string' || name.length === 0) {
        throw new IdempotencyConfigError(`attributeNames.${field}`, 'a non-empty string', name)
      }
    }
    const n = this.#names
    // The key is free when no record holds it, when its record has expired (DynamoDB's TTL deletes
    // items up to 48 hours late, so expiry is checked here, not left to TTL), or when the record is
    // an abandoned claim whose owner's lease has ended, unless the caller keeps abandoned claims.
    this.#claimKeeping = {
      ConditionExpression: 'attribute_not_exists(#id) OR #expiration <= :nowSeconds',
      ExpressionAttributeNames: { '#id': n.id, '#expiration': n.expiration },
    }
    this.#claimTakingOver = {
      ConditionExpression: `${this.#claimKeeping.ConditionExpression} OR (#status = :inProgress AND #lease <= :nowMs)`,
      ExpressionAttributeNames: {
        ...this.#claimKeeping.ExpressionAttributeNames,
        '#status': n.status,
        '#lease': n.leaseExpiresAt,
      },
    }
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
      [n.id]: { S: request.id },
      [n.status]: { S: 'IN_PROGRESS' },
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
          ...(request.keepAbandoned ? this.#claimKeeping : this.#claimTakingOver),
          ExpressionAttributeValues: {
            ':nowSeconds': { N: String(Math.floor(request.nowMs / 1000)) },
            ...(request.keepAbandoned
              ? {}
              : { ':nowMs': { N: String(request.nowMs) }, ':inProgress': { S: 'IN_PROGRESS' } }),
          },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      )
      return { claimed: true }
    } catch (error) {
      if (!isConditionalCheckFailure(error)) throw error
      const old = (error as { Item?: Record<string, AttributeValue> }).Item
      if (old !== undefined) return { claimed: false, existing: this.#toRecord(old) }
      // A DynamoDB-compatible service that does not return the old item: read it instead.
      const existing = await this.get(request.id)
      if (existing === undefined) return this.claim(request) // deleted in between: try again
      return { claimed: false, existing }
    }
  }

  async complete(id: string, owner: string, result: string, expiresAtSeconds: number): Promise<boolean> {
    return this.#ifOwner(
      new UpdateItemCommand({
        TableName: this.#tableName,
        Key: { [this.#names.id]: { S: id } },
        UpdateExpression:
          'SET #status = :completed, #result = :result, #expiration = :expiration REMOVE #lease',
        ConditionExpression: '#owner = :owner AND #status = :inProgress',
        ExpressionAttributeNames: this.#completeNames,
        ExpressionAttributeValues: {
          ':completed': { S: 'COMPLETED' },
          ':result': { S: result },
          ':expiration': { N: String(expiresAtSeconds) },
          ':owner': { S: owner },
          ':inProgress': { S: 'IN_PROGRESS' },
        },
      }),
    )
  }

  async release(id: string, owner: string): Promise<boolean> {
    return this.#ifOwner(
      new DeleteItemCommand({
        TableName: this.#tableName,
        Key: { [this.#names.id]: { S: id } },
        ConditionExpression: '#owner = :owner AND #status = :inProgress',
        ExpressionAttributeNames: { '#owner': this.#names.owner, '#status': this.#names.status },
        ExpressionAttributeValues: { ':owner': { S: owner }, ':inProgress': { S: 'IN_PROGRESS' } },
      }),
    )
  }

  async get(id: string): Promise<StoredRecord | undefined> {
    const { Item } = await this.#client.send(
      new GetItemCommand({
        TableName: this.#tableName,
        Key: { [this.#names.id]: { S: id } },
        ConsistentRead: true,
      }),
    )
    return Item === undefined ? undefined : this.#toRecord(Item)
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

  #toRecord(item: Record<string, AttributeValue>): StoredRecord {
    const n = this.#names
    const lease = item[n.leaseExpiresAt]?.N
    return {
      id: item[n.id]?.S ?? '',
      status: (item[n.status]?.S ?? 'IN_PROGRESS') as RecordStatus,
      owner: item[n.owner]?.S ?? '',
      fingerprint: item[n.fingerprint]?.S,
      leaseExpiresAtMs: lease === undefined ? undefined : Number(lease),
      expiresAtSeconds: Number(item[n.expiration]?.N ?? 0),
      result: item[n.result]?.S,
    }
  }
}

// By name, not instanceof: two copies of the SDK in one bundle make `instanceof` fail.
const isConditionalCheckFailure = (error: unknown): boolean =>
  (error as { name?: unknown } | undefined)?.name === 'ConditionalCheckFailedException'
