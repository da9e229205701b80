import { randomUUID } from 'node:crypto'
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda'

/** An HTTP request as the local server read it. */
export interface LocalHttpRequest {
  method: string
  /** Path and query string, as on the request line. */
  url: string
  /** Header names and values in the order they came, names as the client spelled them. */
  rawHeaders: string[]
  body: Buffer
  sourceIp: string
}

/** The route a request matched, in API Gateway's words. */
export interface LocalRoute {
  /** `POST /payments` */
  routeKey: string
  /** `/payments` (REST API resource path) */
  resource: string
  pathParameters?: Record<string, string>
}

/** Which API Gateway payload the local server produces: HTTP API (2.0, the stack's) or REST API (1.0). */
export type PayloadVersion = '2.0' | '1.0'

// HTTP APIs serve the `$default` stage at the root; a REST API always has a named stage.
const httpApiStage = '$default'
const restApiStage = 'local'
const apiId = 'local'
const accountId = '000000000000'

/**
 * The event an HTTP API (payload format 2.0) hands to its Lambda integration for this request:
 * header names in lower case, repeated headers joined with commas, cookies apart, a body that is
 * not text base64-encoded.
 *
 * @example
 * const event = toHttpApiEvent(request, { routeKey: 'POST /payments', resource: '/payments' })
 */
export const toHttpApiEvent = (request: LocalHttpRequest, route: LocalRoute): APIGatewayProxyEventV2 => {
  const url = new URL(request.url, 'http://localhost')
  const headers: Record<string, string> = {}
  const cookies: string[] = []
  for (const [name, value] of headerPairs(request.rawHeaders)) {
    const lower = name.toLowerCase()
    if (lower === 'cookie') cookies.push(...value.split(/;\s*/).filter(Boolean))
    else headers[lower] = lower in headers ? `${headers[lower]},${value}` : value
  }
  const now = new Date()
  const body = encodeBody(request.body, headers['content-type'])
  const query = queryParameters(url, (values) => values.join(','))
  return {
    version: '2.0',
    routeKey: route.routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    ...(cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(query === undefined ? {} : { queryStringParameters: query }),
    ...(route.pathParameters === undefined ? {} : { pathParameters: route.pathParameters }),
    requestContext: {
      accountId,
      apiId,
      domainName: headers.host ?? '127.0.0.1',
      domainPrefix: (headers.host ?? '127').split('.')[0] as string,
      http: {
        method: request.method,
        path: url.pathname,
        protocol: 'HTTP/1.1',
        sourceIp: request.sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: requestId(),
      routeKey: route.routeKey,
      stage: httpApiStage,
      time: apiGatewayTime(now),
      timeEpoch: now.getTime(),
    },
    ...body,
  }
}

/**
 * The event a REST API (payload format 1.0, Lambda proxy integration) hands to its Lambda for
 * this request: headers as the client spelled them, with `multiValueHeaders` and
 * `multiValueQueryStringParameters` beside them.
 *
 * @example
 * const event = toRestApiEvent(request, { routeKey: 'POST /payments', resource: '/payments' })
 */
export const toRestApiEvent = (request: LocalHttpRequest, route: LocalRoute): APIGatewayProxyEvent => {
  const url = new URL(request.url, 'http://localhost')
  const headers: Record<string, string> = {}
  const multiValueHeaders: Record<string, string[]> = {}
  for (const [name, value] of headerPairs(request.rawHeaders)) {
    headers[name] = value // REST APIs keep the last value of a repeated header here
    multiValueHeaders[name] = [...(multiValueHeaders[name] ?? []), value]
  }
  const contentType = Object.entries(headers).find(([name]) => name.toLowerCase() === 'content-type')?.[1]
  const now = new Date()
  const host = Object.entries(headers).find(([name]) => name.toLowerCase() === 'host')?.[1] ?? '127.0.0.1'
  const userAgent = Object.entries(headers).find(([name]) => name.toLowerCase() === 'user-agent')?.[1] ?? null
  const { body, isBase64Encoded } = encodeBody(request.body, contentType)
  return {
    resource: route.resource,
    path: url.pathname,
    httpMethod: request.method,
    headers,
    multiValueHeaders,
    queryStringParameters: queryParameters(url, (values) => values.at(-1) as string) ?? null,
    multiValueQueryStringParameters: queryParameters(url, (values) => values) ?? null,
    pathParameters: route.pathParameters ?? null,
    stageVariables: null,
    requestContext: {
      accountId,
      apiId,
      authorizer: undefined,
      domainName: host,
      domainPrefix: host.split('.')[0] as string,
      httpMethod: request.method,
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: request.sourceIp,
        user: null,
        userAgent,
        userArn: null,
      },
      path: `/${restApiStage}${url.pathname}`,
      protocol: 'HTTP/1.1',
      requestId: requestId(),
      requestTime: apiGatewayTime(now),
      requestTimeEpoch: now.getTime(),
      resourceId: 'local',
      resourcePath: route.resource,
      stage: restApiStage,
    },
    body: body ?? null,
    isBase64Encoded,
  }
}

const headerPairs = function* (rawHeaders: string[]): Generator<[string, string]> {
  for (let index = 0; index + 1 < rawHeaders.length; index += 2) {
    yield [rawHeaders[index] as string, rawHeaders[index + 1] as string]
  }
}

const queryParameters = <T>(url: URL, pick: (values: string[]) => T): Record<string, T> | undefined => {
  const names = [...new Set(url.searchParams.keys())]
  if (names.length === 0) return undefined
  return Object.fromEntries(names.map((name) => [name, pick(url.searchParams.getAll(name))]))
}

// API Gateway passes text bodies as they are and base64-encodes the rest.
const encodeBody = (
  body: Buffer,
  contentType: string | undefined,
): { body?: string; isBase64Encoded: boolean } => {
  if (body.length === 0) return { isBase64Encoded: false }
  const text =
    contentType === undefined ||
    /^(text\/|application\/(json|[\w.+-]+\+json|xml|x-www-form-urlencoded|javascript))/i.test(contentType)
  return text
    ? { body: body.toString('utf8'), isBase64Encoded: false }
    : { body: body.toString('base64'), isBase64Encoded: true }
}

const requestId = (): string => randomUUID()

// "28/Nov/2026:12:00:00 +0000", the format API Gateway uses in requestContext.
const apiGatewayTime = (date: Date): string => {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
  const pad = (value: number) => String(value).padStart(2, '0')
  return `${pad(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(
    date.getUTCHours(),
  )}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`
}
