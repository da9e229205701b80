import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type BrowserContext, chromium, type Page, type Route } from 'playwright-core'
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it, vi } from 'vitest'
import { type LocalSample, startLocalSample } from '../../infra/local/local-sample.js'

// The local SQS server (fauxqs) loads node:sqlite, and Node warns that it is experimental when it is
// first imported: captured before the imports, and asserted below.
const warnings = await vi.hoisted(async () =>
  (await import('../helpers/captured-output.js')).captureWarnings(),
)

// The page of `npm start` in Debian's Chromium, driven by playwright-core: each scenario is clicked
// on the page, and what the page shows is checked against the API's own state (the provider's
// charges, the orders table). No downloaded browser: `.ci/run` installs the `chromium` package.
const CHROMIUM = '/usr/bin/chromium'
const SLOW_PROVIDER_MS = 3_000

let sample: LocalSample
let context: BrowserContext
let page: Page
let userDataDir: string
const pageErrors: string[] = []
const requested: string[] = []

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} not found: install Debian's chromium (apt-get install chromium), as .ci/run does`,
    )
  }
  // The functions log their outcomes on the console: keep the test output readable.
  vi.spyOn(console, 'info').mockImplementation(() => {})
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
  sample = await startLocalSample({
    port: 0,
    dynamodbEndpoint: inject('dynamoEndpoint'),
    tablePrefix: `page-${randomUUID().slice(0, 8)}`,
    visibilityTimeoutSeconds: 1,
    providerLatencyMs: 100,
    slowProviderLatencyMs: SLOW_PROVIDER_MS,
    log: () => {},
  })
  userDataDir = await mkdtemp(join(tmpdir(), 'chromium-'))
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1360, height: 1020 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
  context.setDefaultTimeout(15_000)
  page = context.pages()[0] ?? (await context.newPage())
  page.on('pageerror', (error) => pageErrors.push(error.message))
  context.on('request', (request) => requested.push(request.url()))
  await page.goto(`${sample.url}/`)
  await page.getByText('Live: the state below follows the local API.').waitFor()
})

afterAll(async () => {
  await context?.close()
  if (userDataDir !== undefined) await rm(userDataDir, { recursive: true, force: true })
  await sample?.stop()
  vi.restoreAllMocks()
})

// Every payment sends an order_paid: start each scenario from a settled queue.
beforeEach(async () => {
  await sample.eventSource.settled()
})

const button = (name: string) => page.getByRole('button', { name, exact: true })

let responsesSeen = 0

/** Clicks (or focuses and presses Enter); returns the numbers of the responses the click adds. */
const press = async (name: string, responses = 1, via: 'mouse' | 'keyboard' = 'mouse') => {
  if (via === 'keyboard') {
    await button(name).focus()
    await page.keyboard.press('Enter')
  } else {
    await button(name).click()
  }
  const numbers = Array.from({ length: responses }, (_, index) => responsesSeen + index + 1)
  responsesSeen += responses
  return numbers
}

/** A response as the page shows it, once it has come back. */
const response = async (number: number) => {
  const item = page.locator(`#responses > li[data-number="${number}"]`)
  await item.and(page.locator('[data-status]')).waitFor()
  return {
    status: Number(await item.getAttribute('data-status')),
    replayed: (await item.getAttribute('data-replayed')) === 'true',
    text: (await item.textContent()) ?? '',
    body: (await item.locator('pre').textContent()) ?? '',
  }
}

/** Clicks and returns the responses the click added to the page, once they have all come back. */
const click = async (name: string, responses = 1, via: 'mouse' | 'keyboard' = 'mouse') =>
  Promise.all((await press(name, responses, via)).map(response))

/** Waits until the page shows `text` in `selector` (the page follows the state by server-sent events). */
const shows = async (selector: string, text: string) => {
  const exactly = new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`)
  await page.locator(selector, { hasText: exactly }).waitFor()
}

const chooseProvider = async (label: string, shown: string) => {
  await page.getByLabel(label).check()
  await shows('#provider-now', shown)
}

const newKey = async () => {
  await button('New key').click()
  return page.getByLabel('Idempotency-Key').inputValue()
}

const charges = async () => (await sample.state()).providerCharges

describe('the page of the local sample', () => {
  it('answers 409 to a retry while a slow provider charges, with the lease counting down on the page', async () => {
    await chooseProvider('Slow', `answers in ${SLOW_PROVIDER_MS} ms`)
    await newKey()
    const before = await charges()
    const [sent] = await press('Send')
    const row = page.locator('#records tbody tr', { hasText: 'IN_PROGRESS' })
    await row.waitFor()
    expect(await row.locator('td').nth(3).textContent()).toMatch(/^\d+\.\d s$/)
    const [retry] = await click('Retry with the same key')
    const original = await response(sent as number)

    expect(retry?.status).toBe(409)
    expect(retry?.text).toContain('Retry-After')
    expect(original).toMatchObject({ status: 201, replayed: false })
    expect(await charges()).toBe(before + 1)
    await chooseProvider('Normal', 'answers in 100 ms')
  })

  it('fails and releases the key when the provider times out; the retry is not charged twice', async () => {
    await chooseProvider('Times out (charges, then the answer is lost)', 'times out')
    await newKey()
    const before = await charges()
    const [lost] = await click('Send')
    expect(lost?.status).toBe(500)
    await page.locator('#timeline tbody tr', { hasText: 'released' }).first().waitFor()
    // The provider made the charge; only its answer was lost.
    expect(await charges()).toBe(before + 1)

    await chooseProvider('Normal', 'answers in 100 ms')
    const [retry] = await click('Retry with the same key')
    expect(retry).toMatchObject({ status: 201, replayed: false })
    expect(await charges()).toBe(before + 1)
    await shows('#count-charges', String(before + 1))
  })

  it('creates one order from an order_paid delivered twice, and the page shows it once', async () => {
    await page.getByLabel('SKU').selectOption('sku_tea')
    await page.getByLabel('Quantity').fill('3')
    const before = await sample.state()
    const [delivered] = await click('Deliver an order_paid twice')
    const { eventId, messageIds } = JSON.parse(delivered?.body ?? '{}') as {
      eventId: string
      messageIds: string[]
    }
    expect(new Set(messageIds).size).toBe(2)
    await sample.eventSource.settled()

    const after = await sample.state()
    expect(after.orders.filter((order) => order.eventId === eventId)).toHaveLength(1)
    expect(after.orders).toHaveLength(before.orders.length + 1)
    expect(after.stock.sku_tea).toBe((before.stock.sku_tea ?? 0) - 3)
    await shows('#count-orders', String(after.orders.length))
    await expect(page.locator(`#orders td[title="${eventId}"]`).count()).resolves.toBe(1)
    await page.getByLabel('SKU').selectOption('sku_coffee')
    await page.getByLabel('Quantity').fill('1')

    // The consumer's record for the event: one claim; the other delivery met the record.
    const record = after.records.find((candidate) => candidate.functionName === 'OrderConsumer')
    expect(record?.status).toBe('COMPLETED')
    const outcomes = page.locator('#timeline tbody tr', { has: page.locator(`td[title="${record?.id}"]`) })
    await outcomes
      .filter({ hasText: /replayed|in-progress/ })
      .first()
      .waitFor()
    await expect(outcomes.filter({ hasText: 'claimed' }).count()).resolves.toBe(1)
  })

  it('shows the first payment as 201 and the retry with the same key as replayed, with one charge', async () => {
    await newKey()
    const before = await charges()
    const [first] = await click('Send')
    const [retry] = await click('Retry with the same key')

    expect(first).toMatchObject({ status: 201, replayed: false })
    expect(retry).toMatchObject({ status: 201, replayed: true })
    expect(retry?.text).toContain('Idempotent-Replayed: true')
    expect(retry?.body).toBe(first?.body)
    const state = await sample.state()
    expect(state.providerCharges).toBe(before + 1)
    await shows('#count-charges', String(state.providerCharges))
    await shows('#count-payments', String(state.payments.length))
    // The record that answered the retry, as the table holds it: hashed id, completed.
    const record = state.records.find((candidate) => candidate.functionName === 'Payment')
    expect(record?.status).toBe('COMPLETED')
    const row = page.locator('#records tbody tr', { has: page.locator(`td[title="${record?.id}"]`) })
    await expect(row.textContent()).resolves.toContain('COMPLETED')
  })

  it('shows a 422 problem when the key comes back with a changed body, and charges nothing', async () => {
    const before = await charges()
    const [changed] = await click('Retry with a changed body')

    expect(changed?.status).toBe(422)
    expect(changed?.text).toContain('content-type: application/problem+json')
    expect(JSON.parse(changed?.body ?? '{}')).toMatchObject({ status: 422 })
    expect(await charges()).toBe(before)
    await page.locator('#timeline tbody tr', { hasText: 'mismatch' }).first().waitFor()
  })

  it('sends two requests with one key at once: one charge, the other answered 409 or replayed', async () => {
    const before = await charges()
    const both = await click('Send two at once', 2)

    const ran = both.filter((response) => response.status === 201 && !response.replayed)
    const other = both.filter((response) => response !== ran[0])
    expect(ran).toHaveLength(1)
    expect(other).toHaveLength(1)
    expect(other[0]?.status === 409 || (other[0]?.status === 201 && other[0].replayed)).toBe(true)
    if (other[0]?.status === 409) expect(other[0].text).toContain('Retry-After')
    expect(await charges()).toBe(before + 1)
    await shows('#count-charges', String(before + 1))
  })

  it('shows a 400 problem for a payment without a key, and charges nothing', async () => {
    const before = await charges()
    const [missing] = await click('Send without a key', 1, 'keyboard')

    expect(missing?.status).toBe(400)
    expect(JSON.parse(missing?.body ?? '{}')).toMatchObject({
      status: 400,
      title: 'Idempotency-Key is missing',
    })
    expect(await charges()).toBe(before)

    // The README's picture: `UPDATE_SCREENSHOT=1 npx vitest run test/browser` after a change to the page.
    if (process.env.UPDATE_SCREENSHOT === '1') {
      await page.setViewportSize({ width: 1360, height: 1280 })
      await page.screenshot({ path: fileURLToPath(new URL('../../docs/local-page.png', import.meta.url)) })
    }
  })

  it('keeps the provider the user chose while the change is on its way to the API', async () => {
    // The change is held on its way; meanwhile the state changes (an order is paid) and the page
    // renders a state that still has the old provider.
    let held: Route | undefined
    await page.route('**/_local/provider', (route) => {
      held = route
    })
    const slow = page.getByLabel('Slow (a charge takes seconds)')
    await slow.check()
    const before = await sample.state()
    const paid = await fetch(`${sample.url}/_local/order-paid`, {
      method: 'POST',
      body: '{"sku":"sku_coffee","quantity":1}',
    })
    expect(paid.status).toBe(200)
    await sample.eventSource.settled()
    await shows('#count-orders', String(before.orders.length + 1))
    await shows('#provider-now', 'answers in 100 ms')
    expect(await slow.isChecked()).toBe(true)

    await held?.continue()
    await page.unroute('**/_local/provider')
    await shows('#provider-now', `answers in ${SLOW_PROVIDER_MS} ms`)
    expect(await slow.isChecked()).toBe(true)
    await chooseProvider('Normal', 'answers in 100 ms')
  })

  it('labels every field, raised no script error and loaded nothing from outside the local API', async () => {
    for (const label of ['Idempotency-Key', 'Amount (cents)', 'SKU', 'Quantity']) {
      await expect(page.getByLabel(label, { exact: true }).count()).resolves.toBe(1)
    }
    await expect(page.getByRole('radio').count()).resolves.toBe(3)
    expect(responsesSeen).toBeGreaterThanOrEqual(10)
    expect(pageErrors).toEqual([])
    expect(requested.length).toBeGreaterThan(0)
    expect(requested.filter((url) => !url.startsWith(`${sample.url}/`))).toEqual([])
  })

  it('answers 400 naming the wrong value when a page action gets bad input', async () => {
    const provider = await fetch(`${sample.url}/_local/provider`, { method: 'POST', body: '{"mode":"fast"}' })
    expect(provider.status).toBe(400)
    expect(((await provider.json()) as { message: string }).message).toContain('"fast"')
    const order = await fetch(`${sample.url}/_local/order-paid`, {
      method: 'POST',
      body: '{"sku":"sku_tea","quantity":0}',
    })
    expect(order.status).toBe(400)
    expect(((await order.json()) as { message: string }).message).toContain('got 0')
  })

  it("warned only that the local SQS server's node:sqlite is experimental", () => {
    expect(
      warnings.list.filter((warning) => !/^SQLite is an experimental feature/.test(warning.message)),
    ).toEqual([])
  })
})
