import type { Context } from 'aws-lambda'

// The shapes of optional peers that the main entry's declarations name. Importing their types from
// the peers (`@middy/core`, `@aws-sdk/lib-dynamodb`) would make `dist/*.d.ts` fail to compile
// (TS2307, with `skipLibCheck: false`) in a project that does not install them; these structural
// types need nothing, and the peers' own types are assignable to them.

/**
 * The request Middy hands to a middleware: the fields of `Request` from `@middy/core` 6 and 7 that
 * `idempotent()` reads and writes.
 *
 * @example
 * const before = async (request: MiddyRequest<{ orderId: string }>) => console.log(request.event.orderId)
 */
export interface MiddyRequest<TEvent = unknown, TResult = unknown> {
  event: TEvent
  context: Context
  response: TResult | null | undefined
  /** Set by a `before` to answer without running the handler (Middy 6 and later). */
  earlyResponse?: TResult | null | undefined
  error: Error | null | undefined
  // Middy's own default for its `TInternal`: `{}`, so `.use()` infers nothing extra from it.
  // biome-ignore lint/complexity/noBannedTypes: the exact type of Middy's default internal state
  internal: {}
}

/**
 * A Middy middleware object, what `idempotent()` returns. It has the shape of `MiddlewareObj` of
 * `@middy/core` 6 and 7, so `middy(handler).use(idempotent(options))` type-checks, and it names
 * no type of `@middy/core`: a project that only uses `makeIdempotent` or the SQS handler compiles
 * without Middy installed.
 *
 * @example
 * const middleware: MiddyMiddleware<{ orderId: string }, { ok: boolean }> = idempotent({ store, key: (event) => event.orderId })
 */
export interface MiddyMiddleware<TEvent = unknown, TResult = unknown> {
  before?: (request: MiddyRequest<TEvent, TResult>) => Promise<void>
  after?: (request: MiddyRequest<TEvent, TResult>) => Promise<void>
  onError?: (request: MiddyRequest<TEvent, TResult>) => Promise<void>
}

/**
 * A DynamoDB client that `DynamoDBStore` sends its low-level commands through: a
 * `DynamoDBDocumentClient` of `@aws-sdk/lib-dynamodb` (it shares the base client's middleware
 * stack, so `PutItemCommand` and the others pass through unchanged) or any client with the same
 * `send`. Named structurally so that the store's declarations compile without `@aws-sdk/lib-dynamodb`.
 *
 * @example
 * const client: DynamoDBSendClient = DynamoDBDocumentClient.from(new DynamoDBClient({}))
 */
export interface DynamoDBSendClient {
  send(command: never, options?: never): Promise<unknown>
}
