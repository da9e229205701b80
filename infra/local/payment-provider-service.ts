import { createServer, type IncomingMessage, type Server } from 'node:http'
import {
  type ChargeRequest,
  PaymentProviderKeyConflictError,
  type SimulatedPaymentProvider,
} from '../functions/payment-provider.js'

/** Options of {@link startPaymentProviderService}. */
export interface PaymentProviderServiceOptions {
  provider: SimulatedPaymentProvider
  /**
   * Called once a charge is made, before its answer goes out, with the calling sandbox's thread
   * id: the chaos run ends that sandbox here (the charge exists, its answer is lost).
   */
  afterCharge?: (threadId: number) => Promise<void>
}

/** A running provider service. */
export interface PaymentProviderService {
  /** What the payment function's `PAYMENT_PROVIDER_URL` is set to. */
  url: string
  stop(): Promise<void>
}

/**
 * Serves the simulated payment provider on 127.0.0.1 for the sample functions in their sandboxes:
 * `POST /charges` with the `Idempotency-Key` header and a {@link ChargeRequest} body answers the
 * charge (200), or `{ message }`: 409 when the key was used for another charge, 502 when the
 * provider fails.
 *
 * @example
 * const service = await startPaymentProviderService({ provider: new SimulatedPaymentProvider() })
 */
export const startPaymentProviderService = async (
  options: PaymentProviderServiceOptions,
): Promise<PaymentProviderService> => {
  const server = createServer((req, res) => {
    const answer = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    void (async () => {
      if (req.method !== 'POST' || req.url !== '/charges') return answer(404, { message: 'Not Found' })
      const key = req.headers['idempotency-key']
      let request: ChargeRequest
      try {
        request = JSON.parse(await readBody(req)) as ChargeRequest
      } catch {
        return answer(400, { message: 'payment provider: the body must be JSON' })
      }
      if (typeof key !== 'string' || key === '') {
        return answer(400, { message: 'payment provider: the Idempotency-Key header is required' })
      }
      try {
        const charge = await options.provider.charge(request, key)
        await options.afterCharge?.(Number(req.headers['x-local-thread']))
        answer(200, charge)
      } catch (error) {
        answer(error instanceof PaymentProviderKeyConflictError ? 409 : 502, {
          message: (error as Error).message,
        })
      }
    })().catch((error) => {
      if (!res.headersSent) answer(500, { message: String(error) })
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return { url: `http://127.0.0.1:${port}`, stop: () => close(server) }
}

const readBody = async (req: IncomingMessage): Promise<string> => {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

const close = (server: Server): Promise<void> =>
  new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()))
    server.closeAllConnections()
  })
