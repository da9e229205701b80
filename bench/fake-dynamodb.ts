import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DeleteItemCommandInput,
  DynamoDBClient,
  type GetItemCommandInput,
  type PutItemCommandInput,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb'

type Item = Record<string, AttributeValue>

/**
 * How the fake answers:
 * - `send`: `client.send` itself is replaced; a command costs what the library spends building it
 *   and reading the answer, nothing of the SDK (library CPU only).
 * - `stack`: a middleware at the end of the `initialize` step answers, so every command also runs
 *   the SDK's per-command work up to that point (building the middleware stack, resolving it), but
 *   nothing is serialized, signed or sent.
 */
export type FakeMode = 'send' | 'stack'

/**
 * A real `DynamoDBClient` answered in process from an in-memory table (no socket). Both libraries
 * build and send their real commands through it.
 *
 * What the table understands is what the benchmarks need, no more:
 * - `PutItem` with a condition succeeds only when no item has the key (records never expire during
 *   a run, so that is what both libraries' claim conditions come to); on failure it throws the SDK's
 *   own `ConditionalCheckFailedException`, with the old item when `ALL_OLD` is asked for.
 * - `UpdateItem` applies `SET #a = :v, ...` and `REMOVE #a, ...`; `UpdateItem` and `DeleteItem`
 *   check `#a = :v AND ...` conditions.
 * - `GetItem` returns the item.
 */
export const fakeDynamoDBClient = (mode: FakeMode = 'send') => {
  const client = new DynamoDBClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'fake', secretAccessKey: 'fake' },
    endpoint: 'http://127.0.0.1:9', // never contacted
  })
  const items = new Map<string, Item>()
  const metadata = { httpStatusCode: 200, attempts: 1, totalRetryDelay: 0 }

  const keyOf = (key: Item | undefined): string => {
    const id = key?.id?.S
    if (id === undefined) throw new Error('the fake table has a String partition key named id')
    return id
  }

  // Expressions are parsed once each: the fake's own work is not either library's, so it is kept
  // to a map lookup per request.
  const parsedConditions = new Map<string, [string, string][]>()
  const clausesOf = (expression: string): [string, string][] => {
    let clauses = parsedConditions.get(expression)
    if (clauses === undefined) {
      clauses = expression.split(' AND ').map((clause) => {
        const match = /^\s*(#\w+) = (:\w+)\s*$/.exec(clause)
        if (match === null) throw new Error(`the fake table cannot evaluate ${JSON.stringify(clause)}`)
        return [match[1] as string, match[2] as string]
      })
      parsedConditions.set(expression, clauses)
    }
    return clauses
  }
  const sameValue = (a: AttributeValue | undefined, b: AttributeValue | undefined): boolean =>
    a === b ||
    (a !== undefined &&
      b !== undefined &&
      (a.S !== undefined
        ? a.S === b.S
        : a.N !== undefined
          ? a.N === b.N
          : JSON.stringify(a) === JSON.stringify(b)))

  const conditionHolds = (
    item: Item | undefined,
    expression: string | undefined,
    names: Record<string, string> | undefined,
    values: Item | undefined,
  ): boolean => {
    if (expression === undefined) return true
    if (item === undefined) return false
    for (const [name, value] of clausesOf(expression)) {
      if (!sameValue(item[names?.[name] ?? ''], values?.[value])) return false
    }
    return true
  }

  // The SDK's own exception class, so `instanceof` checks (Powertools) and `name` checks (ours) both
  // see what the real client throws; made without a stack trace, because capturing one is the SDK's
  // cost, not the library's, and would blur the comparison.
  const conditionFailed = (item?: Item): ConditionalCheckFailedException =>
    Object.assign(Object.create(ConditionalCheckFailedException.prototype), {
      name: 'ConditionalCheckFailedException',
      $fault: 'client',
      $metadata: metadata,
      message: 'The conditional request failed',
      ...(item === undefined ? {} : { Item: item }),
    })

  const putItem = (input: PutItemCommandInput) => {
    const item = input.Item as Item
    const id = keyOf(item)
    const old = items.get(id)
    if (input.ConditionExpression !== undefined && old !== undefined) {
      throw conditionFailed(input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' ? old : undefined)
    }
    items.set(id, { ...item })
    return { $metadata: metadata }
  }

  const parsedUpdates = new Map<string, { assignments: [string, string][]; removals: string[] }>()
  const updateOf = (expression: string) => {
    let update = parsedUpdates.get(expression)
    if (update === undefined) {
      const [, set = '', remove = ''] = /^SET (.*?)(?: REMOVE (.*))?$/.exec(expression) ?? []
      update = {
        assignments: set.split(',').map((assignment) => {
          const [name = '', value = ''] = assignment.split('=').map((part) => part.trim())
          return [name, value]
        }),
        removals: remove
          .split(',')
          .map((part) => part.trim())
          .filter((name) => name !== ''),
      }
      parsedUpdates.set(expression, update)
    }
    return update
  }

  const updateItem = (input: UpdateItemCommandInput) => {
    const id = keyOf(input.Key)
    const old = items.get(id)
    const names = input.ExpressionAttributeNames ?? {}
    const values = input.ExpressionAttributeValues ?? {}
    if (!conditionHolds(old, input.ConditionExpression, names, values)) throw conditionFailed()
    const item: Item = { ...(old ?? input.Key) }
    const { assignments, removals } = updateOf(input.UpdateExpression ?? '')
    for (const [name, value] of assignments) item[names[name] ?? name] = values[value] as AttributeValue
    for (const name of removals) delete item[names[name] ?? name]
    items.set(id, item)
    return { $metadata: metadata }
  }

  const deleteItem = (input: DeleteItemCommandInput) => {
    const id = keyOf(input.Key)
    if (
      !conditionHolds(
        items.get(id),
        input.ConditionExpression,
        input.ExpressionAttributeNames,
        input.ExpressionAttributeValues,
      )
    ) {
      throw conditionFailed()
    }
    items.delete(id)
    return { $metadata: metadata }
  }

  const getItem = (input: GetItemCommandInput) => {
    const item = items.get(keyOf(input.Key))
    return item === undefined ? { $metadata: metadata } : { Item: { ...item }, $metadata: metadata }
  }

  const answer = (commandName: string, input: never) => {
    switch (commandName) {
      case 'PutItemCommand':
        return putItem(input)
      case 'UpdateItemCommand':
        return updateItem(input)
      case 'DeleteItemCommand':
        return deleteItem(input)
      case 'GetItemCommand':
        return getItem(input)
      default:
        throw new Error(`the fake table does not answer ${commandName}`)
    }
  }

  const counter = { requests: 0 }
  // Answer after one microtask, as a real client answers after its I/O: a promise rejected before
  // its caller awaits it costs Node an unhandled-then-handled rejection, which no real request pays.
  const settled = Promise.resolve()
  if (mode === 'send') {
    const send = async (command: { constructor: { name: string }; input: unknown }) => {
      counter.requests++
      await settled
      return answer(command.constructor.name, command.input as never)
    }
    Object.defineProperty(client, 'send', { value: send })
  } else {
    client.middlewareStack.add(
      (_next, context) => async (args) => {
        counter.requests++
        await settled
        return { output: answer(String(context.commandName), args.input as never), response: {} }
      },
      { step: 'initialize', name: 'benchFakeDynamoDB', priority: 'low' },
    )
  }
  return { client, items, counter }
}
