import { canonicalJsonBytes, parseJsonExactly } from './canonical-json.js'
import {
  IdempotencyConfigError,
  type IdempotencyError,
  IdempotencyInProgressError,
  IdempotencyKeyInvalidError,
} from './errors.js'
import {
  CanonicalValue,
  canonicalParts,
  MAX_KEY_LENGTH,
  type Part,
  sha256,
  withCanonicalJson,
} from './key.js'

/**
 * How `idempotent()` treats API Gateway and function URL events.
 *
 * @example
 * idempotent({ store, http: { methods: ['POST', 'PUT'], documentation: 'https://api.example.com/docs/idempotency' } })
 */
export interface HttpIdempotencyOptions {
  /** The request header that carries the key, matched case-insensitively. @default 'Idempotency-Key' */
  header?: string
  /**
   * Methods made idempotent. Requests with other methods pass through untouched, key or not.
   * @default ['POST', 'PATCH']
   */
  methods?: string[]
  /**
   * Which responses are stored and replayed. The others release the key so the client's retry runs
   * the handler again. @default statusCode < 500 (2xx, 3xx and 4xx are outcomes; 5xx are failures)
   */
  storeResponse?: (response: HttpResponse) => boolean
  /** The documentation the problem `type` URIs point into. @default the IETF draft */
  documentation?: string
}

/** An API Gateway / function URL response, as a handler returns it. */
export interface HttpResponse {
  statusCode?: number
  headers?: Record<string, string | number | boolean>
  multiValueHeaders?: Record<string, (string | number | boolean)[]>
  cookies?: string[]
  body?: string
  isBase64Encoded?: boolean
}

/** What the library needs from an HTTP event, whatever its payload version. */
export interface HttpRequest {
  shape: 'rest' | 'http' | 'function-url'
  method: string
  path: string
  headers: Record<string, string | undefined>
  multiValueHeaders: Record<string, string[] | undefined> | undefined
  /** The query string as decoded name / value pairs, in the order the client sent them. */
  query: [string, string][]
  body: unknown
  isBase64Encoded: boolean
  requestContext: Record<string, unknown>
}

type Fields = Record<string, unknown>
const isObject = (value: unknown): value is Fields => typeof value === 'object' && value !== null

/**
 * Recognises API Gateway REST (payload v1), HTTP API (payload v2) and Lambda function URL events.
 * `undefined` for any other input.
 *
 * @example
 * httpRequest(event)?.method // 'POST' for a REST, HTTP API or function URL POST; undefined for an SQS event
 */
export const httpRequest = (event: unknown): HttpRequest | undefined => {
  if (!isObject(event) || !isObject(event.requestContext)) return undefined
  const requestContext = event.requestContext
  const headers = (isObject(event.headers) ? event.headers : {}) as HttpRequest['headers']
  const common = {
    headers,
    body: event.body,
    isBase64Encoded: event.isBase64Encoded === true,
    requestContext,
  }
  if (typeof event.httpMethod === 'string') {
    const multiValueHeaders = isObject(event.multiValueHeaders)
      ? (event.multiValueHeaders as HttpRequest['multiValueHeaders'])
      : undefined
    const path = typeof event.path === 'string' ? event.path : ''
    const query = restQuery(event.multiValueQueryStringParameters, event.queryStringParameters)
    return {
      shape: 'rest',
      method: event.httpMethod.toUpperCase(),
      path,
      multiValueHeaders,
      query,
      ...common,
    }
  }
  if (
    event.version === '2.0' &&
    isObject(requestContext.http) &&
    typeof requestContext.http.method === 'string'
  ) {
    const domain = typeof requestContext.domainName === 'string' ? requestContext.domainName : ''
    return {
      shape: domain.includes('.lambda-url.') ? 'function-url' : 'http',
      method: requestContext.http.method.toUpperCase(),
      path: typeof event.rawPath === 'string' ? event.rawPath : '',
      multiValueHeaders: undefined,
      query: rawQuery(event.rawQueryString, event.queryStringParameters),
      ...common,
    }
  }
  return undefined
}

// REST APIs (payload v1) give the decoded query twice: every value of a repeated parameter in
// `multiValueQueryStringParameters`, only the last one in `queryStringParameters`.
const restQuery = (multi: unknown, single: unknown): [string, string][] => {
  const pairs: [string, string][] = []
  if (isObject(multi)) {
    for (const [name, values] of Object.entries(multi)) {
      if (Array.isArray(values)) for (const value of values) pairs.push([name, String(value)])
    }
  } else if (isObject(single)) {
    for (const [name, value] of Object.entries(single)) if (value != null) pairs.push([name, String(value)])
  }
  return pairs
}

// HTTP APIs and function URLs (payload v2) keep the raw query string; their
// `queryStringParameters` join repeated values with commas, so the raw string is what counts.
const rawQuery = (raw: unknown, parsed: unknown): [string, string][] => {
  if (typeof raw === 'string') return raw === '' ? [] : [...new URLSearchParams(raw)]
  return restQuery(undefined, parsed)
}

// RFC 9110 visible characters: what the IETF draft and Stripe accept in a key.
const VISIBLE_ASCII = /^[\x21-\x7e]+$/

/**
 * Reads the idempotency key header: an RFC 8941 string (`"abc"`) or a bare token (`abc`, as Stripe
 * clients send it). `undefined` when the header is absent.
 *
 * @throws IdempotencyKeyInvalidError when the header is repeated (also as the comma-joined list that
 *   HTTP APIs make of a repeated header), empty, malformed, longer than 255 characters, or holds
 *   anything but visible ASCII.
 */
export const readKeyHeader = (request: HttpRequest, header: string): string | undefined => {
  const wanted = header.toLowerCase()
  const repeated = findHeader(request.multiValueHeaders, wanted)
  if (repeated !== undefined && repeated.length > 1) {
    throw invalidKey(`the ${header} header must appear once; it appeared ${repeated.length} times`)
  }
  const raw = findHeader(request.headers, wanted)
  if (raw === undefined) return undefined
  const value = String(raw).trim()
  // HTTP APIs and function URLs join a repeated header with commas; a bare token has none, so a
  // comma outside a quoted string means the client sent the header more than once.
  if (!value.startsWith('"') && value.includes(',')) {
    throw invalidKey(
      `the ${header} header must appear once; it holds a comma-separated list (send a key with a comma as a quoted string)`,
    )
  }
  const key = value.startsWith('"') ? parseQuotedString(value, header) : value
  if (key.length === 0) throw invalidKey(`the ${header} header is empty`)
  if (key.length > MAX_KEY_LENGTH) {
    throw invalidKey(`the ${header} header is ${key.length} characters long; the limit is ${MAX_KEY_LENGTH}`)
  }
  if (!VISIBLE_ASCII.test(key)) {
    throw invalidKey(
      `the ${header} header must hold only visible ASCII characters (no spaces or control characters)`,
    )
  }
  return key
}

const findHeader = <T>(
  headers: Record<string, T | undefined> | undefined,
  lowerName: string,
): T | undefined => {
  if (headers === undefined) return undefined
  const exact = headers[lowerName]
  if (exact !== undefined) return exact
  for (const name in headers) if (name.toLowerCase() === lowerName) return headers[name]
  return undefined
}

// RFC 8941 sf-string: DQUOTE *( unescaped / "\" ( DQUOTE / "\" ) ) DQUOTE, nothing after it.
const parseQuotedString = (value: string, header: string): string => {
  let key = ''
  for (let i = 1; i < value.length; i++) {
    const char = value[i]
    if (char === '\\') {
      const next = value[i + 1]
      if (next !== '"' && next !== '\\')
        throw invalidKey(`the ${header} header has an invalid escape in its quoted string`)
      key += next
      i++
    } else if (char === '"') {
      if (i !== value.length - 1)
        throw invalidKey(`the ${header} header has characters after its quoted string`)
      return key
    } else {
      key += char
    }
  }
  throw invalidKey(`the ${header} header opens a quoted string it never closes`)
}

const invalidKey = (message: string) => new IdempotencyKeyInvalidError('IDEMPOTENCY_KEY_INVALID', message)

/**
 * What must match when a key comes again: method, path, query and body. The query counts as its
 * decoded name / value pairs sorted by name (the values of a repeated name keep their order), the
 * same for REST APIs, HTTP APIs and function URLs. A JSON body counts by its
 * canonical JSON (key order and whitespace do not matter), any other body by its bytes (base64
 * bodies decoded first). A body already parsed by a body parser counts like the JSON it came from.
 *
 * @example
 * idempotent({ store, fingerprint: (event) => ({ ...(httpFingerprint(httpRequest(event)!) as object), tenant: 't1' }) })
 */
export const httpFingerprint = (request: HttpRequest): unknown => fingerprintOf(request, readBody(request))

/**
 * `httpFingerprint`, for a caller that hashes it at once (the default fingerprint of
 * `idempotent()`): its canonical JSON written out in parts, with the body's canonical bytes where
 * the reader left them, instead of an object to sort and copy again.
 */
export const hashedNowFingerprint = (request: HttpRequest): unknown => {
  const body = readBody(request)
  let parts: Part[]
  let depth = 0
  if (body.kind === 'null') parts = ['{"body":null']
  else if (body.kind === 'bytes') parts = [`{"body":{"sha256":"${body.sha256}"}`]
  else if (body.kind === 'value') {
    // One level down, as in httpFingerprint's object (the nesting limit counts from the root).
    const canonical = canonicalParts({ json: body.value }, 1)
    parts = typeof canonical === 'string' ? [`{"body":${canonical}`] : ['{"body":', ...canonical]
  } else {
    parts = ['{"body":{"json":', body.canonical.same ? body.text : body.canonical.bytes, '}']
    // The body's objects nest below `json`, two levels down, as in httpFingerprint's object.
    depth = body.canonical.depth + 2
  }
  parts.push(`,"method":${JSON.stringify(request.method)},"path":${JSON.stringify(request.path)}`)
  if (request.query.length > 0) parts.push(`,"query":${JSON.stringify(sortedQuery(request.query))}`)
  parts.push('}')
  return new CanonicalValue(parts, depth)
}

const fingerprintOf = (request: HttpRequest, body: Body): unknown => {
  const fingerprint: Record<string, unknown> = {
    method: request.method,
    path: request.path,
    body: bodyFingerprint(body),
  }
  // Left out when empty, so requests without a query keep the fingerprint they always had.
  if (request.query.length > 0) fingerprint.query = sortedQuery(request.query)
  return fingerprint
}

const sortedQuery = (query: [string, string][]) => [...query].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))

// What a body counts as: nothing, a value (one a body parser left, or the value of its JSON text
// on the plain path), the canonical JSON of its text (from the reader), or the SHA-256 of its bytes.
type Body =
  | { kind: 'null' }
  | { kind: 'value'; value: unknown }
  | { kind: 'canonical'; text: string; canonical: NonNullable<ReturnType<typeof canonicalJsonBytes>> }
  | { kind: 'bytes'; sha256: string }

const readBody = (request: HttpRequest): Body => {
  const { body } = request
  if (body === undefined || body === null || body === '') return { kind: 'null' }
  if (typeof body !== 'string') return { kind: 'value', value: body }
  const bytes = request.isBase64Encoded ? Buffer.from(body, 'base64') : undefined
  const text = bytes === undefined ? body : bytes.toString('utf8')
  const first = text.trimStart()[0]
  if (first === '{' || first === '[' || first === '"') {
    const canonical = canonicalJsonBytes(text)
    if (canonical !== undefined) return { kind: 'canonical', text, canonical }
    try {
      return { kind: 'value', value: parseJsonExactly(text) }
    } catch {
      // Not JSON after all: fall through to the bytes.
    }
  }
  return { kind: 'bytes', sha256: sha256(bytes ?? body) }
}

const bodyFingerprint = (body: Body): unknown => {
  if (body.kind === 'null') return null
  if (body.kind === 'value') return { json: body.value }
  if (body.kind === 'bytes') return { sha256: body.sha256 }
  // Canonicalized from the text, never parsed, unless someone reads `json`; hashed from its UTF-8
  // bytes, copied since the reader reuses its memory on the next call and this object may be kept.
  const { text, canonical } = body
  let parsed: unknown
  const json = {
    get json() {
      if (parsed === undefined) parsed = parseJsonExactly(text)
      return parsed
    },
  }
  const bytes = canonical.same ? text : Buffer.from(canonical.bytes)
  return withCanonicalJson(json, ['{"json":', bytes, '}'], canonical.depth + 1)
}

/**
 * The authenticated caller, the default scope, so two callers who send the same key never see each
 * other's responses:
 *
 * | authorizer | scope |
 * | --- | --- |
 * | JWT (HTTP API) or Cognito user pool (REST API) | `jwt:<iss>:<sub>`; a token without `sub` (client credentials): `client:<iss>:<client_id, azp or appid>` |
 * | Lambda authorizer that names a `principalId` | `principal:<principalId>` |
 * | IAM with a Cognito identity pool | `cognito:<identityPoolId>:<identityId>` (the pool's role ARN is shared by all its identities) |
 * | IAM user or role (REST, HTTP API, function URL) | `iam:<userArn>` |
 * | none | `undefined`: anonymous callers share one scope per function |
 *
 * @throws IdempotencyConfigError when the request is authenticated but names nobody this table
 *   knows (an HTTP API Lambda authorizer that returns only its `context`, a JWT without a subject
 *   or client id): falling back to the shared scope would let one caller replay another's response,
 *   so pass `scope` and say which field names the caller.
 * @example
 * httpCaller(httpRequest(event)!) // 'jwt:https://cognito-idp.../us-east-1_X:7d8c...' or 'iam:arn:aws:iam::...'
 */
export const httpCaller = (request: HttpRequest): string | undefined => {
  const { authorizer, identity } = request.requestContext
  if (isObject(authorizer)) {
    const jwt = isObject(authorizer.jwt) ? authorizer.jwt : undefined
    const claims = jwt !== undefined ? jwt.claims : authorizer.claims
    if (isObject(claims)) {
      const iss = typeof claims.iss === 'string' ? claims.iss : ''
      if (typeof claims.sub === 'string' && claims.sub !== '') return `jwt:${iss}:${claims.sub}`
      // Machine-to-machine tokens (client credentials) name the client instead of a subject.
      const client = firstString(claims, ['client_id', 'azp', 'appid'])
      if (client !== undefined) return `client:${iss}:${client}`
      throw unknownCaller('a JWT without sub, client_id, azp or appid claims')
    }
    if (jwt !== undefined) throw unknownCaller('a JWT authorizer without claims')
    const lambda = isObject(authorizer.lambda) ? authorizer.lambda : undefined
    const principalId = (lambda ?? authorizer).principalId ?? authorizer.principalId
    if (typeof principalId === 'string' && principalId !== '') return `principal:${principalId}`
    if (isObject(authorizer.iam)) {
      const caller = iamCaller(authorizer.iam, authorizer.iam.cognitoIdentity)
      if (caller !== undefined) return caller
      throw unknownCaller('an IAM authorizer without userArn or Cognito identity')
    }
    if (lambda !== undefined)
      throw unknownCaller('a Lambda authorizer that returns a context without principalId')
    // REST APIs put a Lambda authorizer's context next to its principalId; an object with
    // anything but the latency API Gateway adds means an authorizer ran and named nobody.
    if (Object.keys(authorizer).some((name) => name !== 'integrationLatency')) {
      throw unknownCaller('a Lambda authorizer without principalId')
    }
  }
  if (isObject(identity)) {
    return iamCaller(identity, {
      identityId: identity.cognitoIdentityId,
      identityPoolId: identity.cognitoIdentityPoolId,
    })
  }
  return undefined
}

const iamCaller = (iam: Fields, cognito: unknown): string | undefined => {
  if (isObject(cognito) && typeof cognito.identityId === 'string' && cognito.identityId !== '') {
    const pool = typeof cognito.identityPoolId === 'string' ? cognito.identityPoolId : ''
    return `cognito:${pool}:${cognito.identityId}`
  }
  return typeof iam.userArn === 'string' && iam.userArn !== '' ? `iam:${iam.userArn}` : undefined
}

const firstString = (fields: Fields, names: string[]): string | undefined => {
  for (const name of names) {
    const value = fields[name]
    if (typeof value === 'string' && value !== '') return value
  }
  return undefined
}

const unknownCaller = (what: string) =>
  new IdempotencyConfigError(
    'scope',
    `set for this API: the request is authenticated by ${what}, and idempotent() cannot tell its callers apart; pass scope: (event) => <the field that names the caller>`,
    undefined,
  )

const problems: Record<string, { title: string; detail: string }> = {
  IDEMPOTENCY_KEY_MISSING: {
    title: 'Idempotency-Key is missing',
    detail:
      'This operation is idempotent and requires an Idempotency-Key header: send a unique key per request and reuse it on retries.',
  },
  IDEMPOTENCY_KEY_INVALID: {
    title: 'Idempotency-Key is invalid',
    detail: 'Send 1 to 255 visible ASCII characters, for example a UUID.',
  },
  IDEMPOTENCY_INPUT_INVALID: {
    title: 'Idempotency-Key could not be read',
    detail: 'The request could not be read to find its idempotency key.',
  },
  IDEMPOTENCY_KEY_REUSED: {
    title: 'Idempotency-Key is already used',
    detail:
      'This key was already used with a different request. Send a new key for a new request; reuse a key only to retry the identical request.',
  },
  IDEMPOTENCY_IN_PROGRESS: {
    title: 'A request is outstanding for this Idempotency-Key',
    detail:
      'A request with the same key is still being processed. Retry after the time in Retry-After to get its result.',
  },
  IDEMPOTENCY_ABANDONED: {
    title: 'An earlier request with this Idempotency-Key did not finish',
    detail:
      'It may or may not have taken effect, so this key is blocked until the operation is reviewed. Do not retry with a new key before you know the outcome.',
  },
  IDEMPOTENCY_STORE_UNAVAILABLE: {
    title: 'Idempotency check unavailable',
    detail: 'The request was not processed. Retry it with the same key after the time in Retry-After.',
  },
  IDEMPOTENCY_RESULT_NOT_STORED: {
    title: 'Response could not be stored',
    detail:
      'The request was processed once, but its response could not be stored for replay. Do not retry blindly: check the outcome.',
  },
}

/** An `application/problem+json` (RFC 9457) answer for an idempotency error. */
export const problemResponse = (error: IdempotencyError, documentation: string): HttpResponse => {
  const problem = problems[error.code] ?? {
    title: 'Idempotency error',
    detail: 'The request could not be processed.',
  }
  const headers: Record<string, string> = { 'Content-Type': 'application/problem+json' }
  if (error instanceof IdempotencyInProgressError) headers['Retry-After'] = String(error.retryAfterSeconds)
  if (error.statusCode === 503) headers['Retry-After'] = '1'
  // A client-side problem may explain itself; a server-side one never leaks its internals.
  const detail = error.expose ? `${problem.detail} (${error.message})` : problem.detail
  const type = `${documentation}#${error.code.toLowerCase().replaceAll('_', '-')}`
  return {
    statusCode: error.statusCode,
    headers,
    body: JSON.stringify({ type, title: problem.title, status: error.statusCode, detail }),
  }
}

/**
 * The stored response with the replay marker `Idempotent-Replayed: true`. An HTTP API result that
 * is not a response object (a plain object or string, which API Gateway turns into a 200 JSON
 * response) is turned into that same response, so the marker can ride on it.
 */
export const replayResponse = (stored: unknown, request: HttpRequest): unknown => {
  if (isObject(stored) && typeof stored.statusCode === 'number') {
    const response = stored as HttpResponse
    return { ...response, headers: { ...response.headers, 'Idempotent-Replayed': 'true' } }
  }
  if (request.shape === 'rest') return stored // REST APIs accept only response objects: nothing to mark
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json', 'Idempotent-Replayed': 'true' },
    body: JSON.stringify(stored),
  }
}
