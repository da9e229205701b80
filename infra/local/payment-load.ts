import autocannon from 'autocannon'

/** Options of {@link runPaymentLoad}. */
export interface PaymentLoadOptions {
  /** The API, e.g. `http://127.0.0.1:3000`: requests go to `POST {url}/payments`. */
  url: string
  /** Requests in all. */
  requests: number
  /** Distinct Idempotency-Keys; each key always comes with the same body. */
  keys: number
  /** Concurrent connections, each with one request in flight. */
  connections: number
  /** Makes the keys and customers of this run unique. */
  runId: string
  /** The sku every payment orders (one unit). */
  sku: string
  /** Picks the key of each request (uniformly, so the same key is often in flight twice). */
  random: () => number
  /** Stops the run after this long; what is missing then counts as unanswered. @default 600_000 */
  timeoutMs?: number
}

/** What the clients saw. */
export interface PaymentLoadResult {
  requests: number
  /** Responses received, whatever their status. */
  responses: number
  /** Connection errors and timeouts, as autocannon counts them. */
  errors: number
  timeouts: number
  byStatus: Record<number, number>
  /** 201 without `Idempotent-Replayed`: the payment ran. */
  first: number
  /** 201 with `Idempotent-Replayed: true`. */
  replayed: number
  /** 409: the same key was still in progress. */
  inProgress: number
  /** Any other status. */
  other: number
  serverErrors: number
  /** Replays whose status and body equal those of the first response for their key. */
  replaysIdentical: number
  /** Keys that got a first 201 more than once: the payment ran twice. */
  keysRunTwice: number
  /** Keys that got at least one first 201. */
  keysPaid: number
  durationMs: number
  requestsPerSecond: number
  latencyMs: { average: number; p50: number; p90: number; p99: number; max: number }
  /** The customer of key `i` is `${customerPrefix}${i}`: finds this run's payments in the table. */
  customerPrefix: string
}

/** The body sent with key number `index`: the same every time. */
export const paymentBody = (customerPrefix: string, sku: string, index: number): string =>
  JSON.stringify({
    amount: 1000 + index,
    currency: 'EUR',
    customer: `${customerPrefix}${index}`,
    sku,
    quantity: 1,
  })

/**
 * Drives `POST /payments` with autocannon: `connections` keep-alive connections, one request in
 * flight on each, `requests` in all, each with an `Idempotency-Key` drawn from `keys` and that key's
 * body. Every response is checked: the first 201 per key is kept, and every replay is compared with
 * it.
 *
 * @example
 * const result = await runPaymentLoad({ url, requests: 10_000, keys: 100, connections: 20, runId, sku, random })
 */
export const runPaymentLoad = async (options: PaymentLoadOptions): Promise<PaymentLoadResult> => {
  const { requests, keys, connections } = options
  const customerPrefix = `cus_${options.runId}_`
  const keyOf = (index: number) => `load-${options.runId}-${index}`
  const bodies = Array.from({ length: keys }, (_, index) => paymentBody(customerPrefix, options.sku, index))

  const byStatus: Record<number, number> = {}
  // The first 201 per key, and the replays seen for it, tallied by their status and body.
  const originals = new Map<number, string>()
  const firsts = new Map<number, number>()
  const replays = new Map<number, Map<string, number>>()
  let responses = 0
  let replayed = 0

  const started = performance.now()
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections,
        amount: requests,
        // A request that gets no answer within 30 s is counted as a timeout, never waited for.
        timeout: 30,
        requests: [
          {
            method: 'POST',
            path: '/payments',
            setupRequest: (request, context) => {
              const index = Math.floor(options.random() * keys)
              ;(context as { index: number }).index = index
              return {
                ...request,
                headers: { 'content-type': 'application/json', 'idempotency-key': keyOf(index) },
                body: bodies[index],
              }
            },
            // One request in flight per connection: the context still holds this response's key.
            onResponse: (status, body, context, headers) => {
              const { index } = context as { index: number }
              responses++
              byStatus[status] = (byStatus[status] ?? 0) + 1
              if (status !== 201) return
              const answer = `${status} ${body}`
              if (String(header(headers, 'idempotent-replayed')).toLowerCase() === 'true') {
                replayed++
                const seen = replays.get(index) ?? new Map<string, number>()
                seen.set(answer, (seen.get(answer) ?? 0) + 1)
                replays.set(index, seen)
                return
              }
              firsts.set(index, (firsts.get(index) ?? 0) + 1)
              if (!originals.has(index)) originals.set(index, answer)
            },
          },
        ],
      },
      (error, result) => {
        clearTimeout(deadline)
        if (error) reject(error)
        else resolve(result)
      },
    )
    const deadline = setTimeout(() => instance.stop(), options.timeoutMs ?? 600_000)
  })
  const durationMs = performance.now() - started

  // A replay may reach its connection before the original reaches another: compare at the end.
  let replaysIdentical = 0
  for (const [index, seen] of replays) {
    replaysIdentical += seen.get(originals.get(index) ?? '') ?? 0
  }
  const count = (status: number) => byStatus[status] ?? 0
  const serverErrors = Object.entries(byStatus)
    .filter(([status]) => Number(status) >= 500)
    .reduce((sum, [, n]) => sum + n, 0)
  return {
    requests,
    responses,
    errors: result.errors,
    timeouts: result.timeouts,
    byStatus,
    first: count(201) - replayed,
    replayed,
    inProgress: count(409),
    other: responses - count(201) - count(409),
    serverErrors,
    replaysIdentical,
    keysRunTwice: [...firsts.values()].filter((n) => n > 1).length,
    keysPaid: firsts.size,
    durationMs,
    requestsPerSecond: responses / (durationMs / 1000),
    latencyMs: {
      average: result.latency.average,
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
    },
    customerPrefix,
  }
}

const header = (headers: Record<string, unknown> | undefined, name: string): unknown =>
  Object.entries(headers ?? {}).find(([key]) => key.toLowerCase() === name)?.[1]
