import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { extname } from 'node:path'
import type { Context } from 'aws-lambda'
import type { HttpResponse as ProxyResult } from '../../src/http.js'
import {
  type LocalHttpRequest,
  type LocalRoute,
  type PayloadVersion,
  toHttpApiEvent,
  toRestApiEvent,
} from './api-gateway-events.js'
import { localLambdaContext } from './lambda-context.js'

/** A route of the local API and the Lambda handler behind it. */
export interface LocalApiRoute extends LocalRoute {
  method: string
  path: string
  functionName: string
  // biome-ignore lint/suspicious/noExplicitAny: any Lambda proxy handler, whichever payload it takes
  handler: (event: any, context: Context) => Promise<unknown>
  /** @default 10_000 */
  timeoutMs?: number
}

/** Options of {@link startLocalApi}. */
export interface LocalApiOptions {
  routes: LocalApiRoute[]
  /** `0` picks a free port. @default 3000 */
  port?: number
  /** @default '2.0' (HTTP API, as the stack deploys) */
  payloadVersion?: PayloadVersion
  /** Local-only `GET` routes answered with JSON, e.g. `/_local/state`. */
  inspect?: Record<string, () => Promise<unknown>>
  /**
   * Local-only `GET` routes answered with server-sent events: `read` runs every `intervalMs` while a
   * client listens, and each value that differs from the last one sent goes out as one `data:` line.
   */
  streams?: Record<string, { read: () => Promise<unknown>; intervalMs?: number }>
  /**
   * Local-only `POST` routes: the JSON body in, the returned value out as JSON. A
   * {@link LocalInputError} is a 400 with its message.
   */
  actions?: Record<string, (body: unknown) => Promise<unknown>>
  /** Local-only `GET` routes answered with a file, read at each request: `{ '/': pageUrl }`. */
  files?: Record<string, URL>
  /** @default console.log */
  log?: (line: string) => void
}

/** Thrown by a local action when its input is wrong: answered 400 with the message. */
export class LocalInputError extends Error {
  override name = 'LocalInputError'
}

/** A running local API. */
export interface LocalApi {
  url: string
  stop(): Promise<void>
}

/**
 * Serves the routes on 127.0.0.1 the way API Gateway does: each HTTP request becomes a
 * real-shaped proxy event for the handler, and the handler's `{ statusCode, headers, body }`
 * becomes the HTTP response. A handler that throws, times out or dies is a 500 `Internal Server
 * Error` (HTTP API) or a 502 (REST API), as API Gateway answers for a failed Lambda.
 *
 * @example
 * const api = await startLocalApi({ port: 3000, routes: [{ method: 'POST', path: '/payments', ... }] })
 */
export const startLocalApi = async (options: LocalApiOptions): Promise<LocalApi> => {
  const log = options.log ?? console.log
  const version = options.payloadVersion ?? '2.0'
  const server = createServer((req, res) => {
    handle(req, res).catch((error) => {
      log(`[api] ${req.method} ${req.url} failed in the local server: ${(error as Error).stack}`)
      if (!res.headersSent) res.writeHead(500)
      res.end()
    })
  })

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req)
    const path = new URL(req.url ?? '/', 'http://localhost').pathname
    if (req.method === 'GET') {
      const inspect = options.inspect?.[path]
      if (inspect !== undefined) return sendJson(res, 200, await inspect())
      const stream = options.streams?.[path]
      if (stream !== undefined) return sendEvents(req, res, stream.read, stream.intervalMs ?? 500)
      const file = options.files?.[path]
      if (file !== undefined) return sendFile(res, file)
    }
    const action = req.method === 'POST' ? options.actions?.[path] : undefined
    if (action !== undefined) return runAction(res, action, body)
    const route = options.routes.find(
      (candidate) => candidate.method === req.method && candidate.path === path,
    )
    if (route === undefined) return sendJson(res, 404, { message: 'Not Found' })

    const request: LocalHttpRequest = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      rawHeaders: req.rawHeaders,
      body,
      sourceIp: req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1',
    }
    const event = version === '2.0' ? toHttpApiEvent(request, route) : toRestApiEvent(request, route)
    let result: unknown
    try {
      result = await route.handler(event, localLambdaContext(route.functionName, route.timeoutMs ?? 10_000))
    } catch (error) {
      // A function error (thrown, timed out, or a sandbox that died): an HTTP API answers 500
      // `Internal Server Error`, a REST API 502 `Internal server error`, as API Gateway does.
      const status = version === '2.0' ? 500 : 502
      const detail =
        (error as Error).name === 'LambdaFunctionError' ? (error as Error).message : (error as Error).stack
      log(`[api] ${route.routeKey}${keyOf(req)} -> ${status}: ${route.functionName} failed: ${detail}`)
      // Local only: what ended the invocation (`Sandbox.Timedout`, `Runtime.ExitError`, an error name).
      const errorType = (error as { errorType?: unknown }).errorType
      if (typeof errorType === 'string') res.setHeader('x-local-function-error', errorType)
      return sendJson(res, status, {
        message: version === '2.0' ? 'Internal Server Error' : 'Internal server error',
      })
    }
    const response = toHttpResponse(result, version)
    log(`[api] ${route.routeKey}${keyOf(req)} -> ${describe(response)}`)
    res.writeHead(response.statusCode, response.headers)
    res.end(response.body)
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 3000, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : options.port
  return { url: `http://127.0.0.1:${port}`, stop: () => close(server) }
}

interface HttpResponse {
  statusCode: number
  headers: Record<string, string | string[]>
  body: Buffer
}

/** What API Gateway makes of a Lambda proxy result. */
const toHttpResponse = (result: unknown, version: PayloadVersion): HttpResponse => {
  const proxy = result as ProxyResult
  if (typeof proxy !== 'object' || proxy === null || typeof proxy.statusCode !== 'number') {
    // HTTP APIs infer a 200 JSON response from any other value; REST APIs call it a malformed response.
    if (version === '2.0') {
      return {
        statusCode: 200,
        headers: { 'content-type': 'application/json' },
        body: Buffer.from(JSON.stringify(result) ?? ''),
      }
    }
    return {
      statusCode: 502,
      headers: { 'content-type': 'application/json' },
      body: Buffer.from('{"message": "Internal server error"}'),
    }
  }
  const headers: Record<string, string | string[]> = {}
  for (const [name, values] of Object.entries(proxy.multiValueHeaders ?? {}))
    headers[name.toLowerCase()] = values.map(String)
  for (const [name, value] of Object.entries(proxy.headers ?? {})) headers[name.toLowerCase()] = String(value)
  if (proxy.cookies !== undefined && proxy.cookies.length > 0) headers['set-cookie'] = proxy.cookies
  const body =
    proxy.body === undefined
      ? Buffer.alloc(0)
      : Buffer.from(proxy.body, proxy.isBase64Encoded ? 'base64' : 'utf8')
  return { statusCode: proxy.statusCode, headers, body }
}

// The console line: the status and, for the answers idempotent() gives, what happened.
const describe = (response: HttpResponse): string => {
  if (String(response.headers['idempotent-replayed']).toLowerCase() === 'true') {
    return `${response.statusCode} replayed (the handler did not run)`
  }
  if (String(response.headers['content-type']).startsWith('application/problem+json')) {
    try {
      const { title } = JSON.parse(response.body.toString('utf8')) as { title?: string }
      return `${response.statusCode} ${title ?? ''}`
    } catch {
      // not JSON after all: the status alone says enough
    }
  }
  return String(response.statusCode)
}

const keyOf = (req: IncomingMessage): string => {
  const key = req.headers['idempotency-key']
  return key === undefined ? '' : ` (Idempotency-Key ${key})`
}

const readBody = async (req: IncomingMessage): Promise<Buffer> => {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

const sendJson = (res: ServerResponse, statusCode: number, value: unknown): void => {
  res.writeHead(statusCode, { 'content-type': 'application/json' })
  res.end(`${JSON.stringify(value, null, 2)}\n`)
}

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.png': 'image/png',
}

const sendFile = async (res: ServerResponse, file: URL): Promise<void> => {
  const content = await readFile(file)
  res.writeHead(200, {
    'content-type': contentTypes[extname(file.pathname)] ?? 'application/octet-stream',
    'cache-control': 'no-store',
    // Everything the page needs comes from this server: it works offline and loads no third party.
    'content-security-policy':
      "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'",
    'x-content-type-options': 'nosniff',
  })
  res.end(content)
}

const runAction = async (
  res: ServerResponse,
  action: (body: unknown) => Promise<unknown>,
  body: Buffer,
): Promise<void> => {
  let input: unknown = {}
  if (body.length > 0) {
    try {
      input = JSON.parse(body.toString('utf8'))
    } catch {
      return sendJson(res, 400, { message: 'the body must be JSON' })
    }
  }
  try {
    return sendJson(res, 200, await action(input))
  } catch (error) {
    if (error instanceof LocalInputError) return sendJson(res, 400, { message: error.message })
    throw error
  }
}

// Server-sent events: one `data:` line per change, a comment line as a heartbeat in between.
const sendEvents = async (
  req: IncomingMessage,
  res: ServerResponse,
  read: () => Promise<unknown>,
  intervalMs: number,
): Promise<void> => {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-store',
    connection: 'keep-alive',
  })
  let open = true
  req.socket.once('close', () => {
    open = false
  })
  let last = ''
  while (open && !res.destroyed) {
    let next: string
    try {
      next = JSON.stringify(await read())
    } catch (error) {
      if (!open || res.destroyed) return
      throw error
    }
    res.write(next === last ? ': unchanged\n\n' : `data: ${next}\n\n`)
    last = next
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

const close = (server: Server): Promise<void> =>
  new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()))
    server.closeAllConnections()
  })
