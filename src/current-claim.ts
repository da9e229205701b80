import { AsyncLocalStorage } from 'node:async_hooks'
import { IdempotencyConfigError, IdempotencyFencedError, IdempotencyResultError } from './errors.js'
import { sha256 } from './key.js'
import {
  type IdempotencyStore,
  isTransactional,
  type TransactionalCompletion,
  type TransactionItemForm,
} from './stores/store.js'

/**
 * The claim the running work holds, from {@link currentClaim}: what it needs to make its own
 * effects exactly-once.
 */
export interface CurrentClaim {
  /** The hashed record id of the claim (never the raw key). */
  readonly id: string
  /**
   * A key for a named downstream call (a payment provider, another idempotent API): the same on
   * every run of this claim's key, different per `name` and per scope, and never the raw key.
   *
   * @example
   * await provider.charge({ amount, idempotencyKey: currentClaim(context).downstreamKey('provider') })
   */
  downstreamKey(name: string): string
  /**
   * Commits `items` (your `TransactWriteItems` items, in the low-level or the document-client form)
   * and the completion of this claim with `result` in one DynamoDB transaction through `client`:
   * the business writes and the idempotency record commit together or not at all, and the library
   * does not write the completion again. Return the same `result` from the work; retries replay it.
   *
   * @throws IdempotencyResultError before anything is sent when `result` cannot be stored.
   * @throws IdempotencyFencedError when another invocation took the key over: nothing was written.
   * @throws IdempotencyConfigError when the store is not a `DynamoDBStore`, when this claim already
   *   has a transactional completion, or when the transaction would exceed 100 items.
   * @example
   * await currentClaim(context).transactWrite(dynamodb, [putOrder, takeStock], result)
   */
  transactWrite(client: unknown, items: readonly unknown[], result: unknown): Promise<void>
  /**
   * The completion of this claim with `result` as one item for a transaction you send yourself.
   * When the work returns, one consistent read checks that it was committed; a completion that
   * was never committed is a loud `IdempotencyResultError` and the key is released.
   *
   * @example
   * await dynamodb.send(new TransactWriteCommand({ TransactItems: [putOrder, currentClaim(context).completionItem(result, 'document')] }))
   */
  completionItem(result: unknown, form?: TransactionItemForm): unknown
}

/** What the protocol keeps of a claim's transactional completion, to finish it when the work returns. */
export interface TransactionState {
  /** `issued`: the item was handed out; `committed`: `transactWrite` committed it. */
  status: 'issued' | 'committed'
  /** The encoded result, as stored. */
  stored: string
  expiresAtSeconds: number
}

/** What a claim handle needs from the protocol. */
export interface ClaimContext {
  id: string
  owner: string
  store: IdempotencyStore
  /** Encodes a result as the store holds it, or throws the `IdempotencyResultError` that refuses it. */
  encode: (result: unknown) => string
  /** The expiry of a completion made now, epoch seconds. */
  expiresAtSeconds: () => number
  /** Where the transactional completion is recorded for the protocol. */
  transaction: { state?: TransactionState }
}

const scope = new AsyncLocalStorage<CurrentClaim>()
const onContext = Symbol.for('lambda-idempotency.claim')

/**
 * The claim of the idempotent work that is running: inside a function wrapped by `makeIdempotent`,
 * a record handler of `idempotentSqsHandler`, or a Middy handler behind `idempotent()` (pass the
 * handler's `context` there). Concurrent records of one batch each see their own claim.
 *
 * @throws IdempotencyConfigError when no idempotent work is running.
 * @example
 * const handler = middy(async (event, context) => {
 *   const claim = currentClaim(context)
 *   await provider.charge({ ...payment, idempotencyKey: claim.downstreamKey('provider') })
 * }).use(idempotent({ store }))
 */
export const currentClaim = (context?: unknown): CurrentClaim => {
  const claim =
    scope.getStore() ??
    (typeof context === 'object' && context !== null
      ? (context as Record<symbol, CurrentClaim | undefined>)[onContext]
      : undefined)
  if (claim === undefined) {
    throw new IdempotencyConfigError(
      'currentClaim()',
      'called inside the work of idempotent() (with the handler context), makeIdempotent or a batch handler',
      context === undefined ? undefined : 'a context without a claim',
    )
  }
  return claim
}

/** Runs `work` with `claim` as its current claim. */
export const runWithClaim = <T>(claim: CurrentClaim, work: () => T): T => scope.run(claim, work)

/** Makes `claim` the current claim of a Middy handler, through its Lambda context. */
export const attachClaim = (context: unknown, claim: CurrentClaim | undefined): void => {
  if (typeof context === 'object' && context !== null) {
    ;(context as Record<symbol, CurrentClaim | undefined>)[onContext] = claim
  }
}

/** The handle of one claim. */
export const claimHandle = (claim: ClaimContext): CurrentClaim => {
  const { id, owner, store, transaction } = claim

  const prepare = (result: unknown): TransactionalCompletion => {
    if (!isTransactional(store)) {
      throw new IdempotencyConfigError(
        'store',
        'a store that joins a DynamoDB transaction (DynamoDBStore) for transactional completion',
        store.constructor?.name,
      )
    }
    if (transaction.state !== undefined) {
      throw new IdempotencyConfigError(
        'transactWrite()',
        'used once per claim: this claim already has a transactional completion',
        transaction.state.status,
      )
    }
    // Encoded before anything is sent: a result that cannot be stored never commits the writes.
    return { id, owner, result: claim.encode(result), expiresAtSeconds: claim.expiresAtSeconds() }
  }

  return {
    id,
    downstreamKey: (name) => {
      if (typeof name !== 'string' || name === '') {
        throw new IdempotencyConfigError('name', 'a non-empty string naming the downstream call', name)
      }
      return sha256(JSON.stringify(['downstream', id, name]))
    },
    transactWrite: async (client, items, result) => {
      const completion = prepare(result)
      const maxItems = (store as { maxTransactionItems?: number }).maxTransactionItems ?? 100
      if (!Array.isArray(items) || items.length + 1 > maxItems) {
        throw new IdempotencyConfigError(
          'items',
          `an array of at most ${maxItems - 1} items (the idempotency record is one of the ${maxItems} a transaction holds)`,
          Array.isArray(items) ? `${items.length} items` : items,
        )
      }
      if (!isTransactional(store)) return
      if (!(await store.transactWrite(client, items, completion))) throw new IdempotencyFencedError(id)
      transaction.state = {
        status: 'committed',
        stored: completion.result,
        expiresAtSeconds: completion.expiresAtSeconds,
      }
    },
    completionItem: (result, form = 'low-level') => {
      const completion = prepare(result)
      if (!isTransactional(store)) return undefined
      const item = store.transactionItem(completion, form)
      transaction.state = {
        status: 'issued',
        stored: completion.result,
        expiresAtSeconds: completion.expiresAtSeconds,
      }
      return item
    },
  }
}

/** Thrown when the work's result is not the one it committed. */
export const committedOtherResult = (): IdempotencyResultError =>
  new IdempotencyResultError(
    'the work returned a value other than the one it committed in its transaction; retries replay the committed one',
  )
