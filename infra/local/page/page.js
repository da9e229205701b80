// The local sample's page: sends payments to the local API and shows the state it streams back.
// Plain browser JavaScript, no build step: served as is by infra/local/local-api.ts.

const $ = (selector) => document.querySelector(selector)

const newKey = () => {
  const bytes = crypto.getRandomValues(new Uint8Array(6))
  return `pay-${Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')}`
}

// ---- requests -------------------------------------------------------------------------------

/** The last payment request sent with a key: what the retry buttons repeat. */
let last

const formRequest = () => ({
  key: $('#key').value.trim(),
  body: {
    amount: Number($('#amount').value),
    currency: 'EUR',
    customer: 'cus_page',
    sku: $('#sku').value,
    quantity: Number($('#quantity').value),
  },
})

let sent = 0

const pay = async (action, request) => {
  const number = ++sent
  const headers = { 'content-type': 'application/json' }
  if (request.key !== undefined) headers['idempotency-key'] = request.key
  const item = showPending(number, action, request)
  try {
    const response = await fetch('/payments', {
      method: 'POST',
      headers,
      body: JSON.stringify(request.body),
    })
    const text = await response.text()
    showResponse(item, response, text)
  } catch (error) {
    showFailure(item, error)
  }
}

const send = async (action, request) => {
  if (request.key !== undefined) {
    last = request
    $('#retry').disabled = false
    $('#retry-changed').disabled = false
  }
  await pay(action, request)
}

$('#payment').addEventListener('submit', (event) => {
  event.preventDefault()
  send('Send', formRequest())
})
$('#new-key').addEventListener('click', () => {
  $('#key').value = newKey()
})
$('#retry').addEventListener('click', () => send('Retry with the same key', last))
$('#retry-changed').addEventListener('click', () =>
  send('Retry with a changed body', { key: last.key, body: { ...last.body, amount: last.body.amount + 1 } }),
)
$('#send-two').addEventListener('click', () => {
  $('#key').value = newKey()
  const request = formRequest()
  last = request
  $('#retry').disabled = false
  $('#retry-changed').disabled = false
  pay('Two at once (1 of 2)', request)
  pay('Two at once (2 of 2)', request)
})
$('#send-no-key').addEventListener('click', () => send('Send without a key', { body: formRequest().body }))

// The provider the user just chose, until the server's state says so: a state event sent before
// the change reached the server must not put the old choice back under the user's pointer.
let choosingProvider = null
for (const radio of document.querySelectorAll('input[name="provider"]')) {
  radio.addEventListener('change', () => {
    choosingProvider = radio.value
    postLocal('/_local/provider', { mode: radio.value }).catch((error) => {
      choosingProvider = null
      $('#live').textContent = `Could not change the provider: ${error.message}`
      $('#live').className = 'live disconnected'
      if (state !== undefined) render()
    })
  })
}

$('#order-paid-twice').addEventListener('click', async () => {
  const number = ++sent
  const request = { body: { sku: $('#sku').value, quantity: Number($('#quantity').value) } }
  const item = showPending(number, 'Deliver an order_paid twice', request)
  try {
    const response = await fetch('/_local/order-paid', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request.body),
    })
    showResponse(item, response, await response.text())
  } catch (error) {
    showFailure(item, error)
  }
})

const postLocal = async (path, body) => {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  if (!response.ok) throw new Error(`${path} answered ${response.status}: ${await response.text()}`)
  return response.json()
}

// ---- responses ------------------------------------------------------------------------------

const element = (tag, properties = {}, children = []) => {
  const node = Object.assign(document.createElement(tag), properties)
  for (const child of children) node.append(child)
  return node
}

const showPending = (number, action, request) => {
  $('#responses-empty').hidden = true
  const summary = element('p', { className: 'summary' }, [
    element('span', { className: 'number', textContent: `#${number}` }),
    element('strong', { textContent: action }),
    element('span', { className: 'status', textContent: 'waiting…' }),
  ])
  const sentLine = element('p', { className: 'sent', textContent: describeRequest(request) })
  const item = element('li', { className: 'response pending' }, [summary, sentLine])
  item.dataset.action = action
  item.dataset.number = String(number)
  $('#responses').prepend(item)
  return item
}

const describeRequest = (request) => {
  if (request.body.amount === undefined)
    return `order_paid for ${request.body.sku} × ${request.body.quantity}`
  const body = `${request.body.amount} cents, ${request.body.sku} × ${request.body.quantity}`
  return request.key === undefined
    ? `no Idempotency-Key · ${body}`
    : `Idempotency-Key ${request.key} · ${body}`
}

const showResponse = (item, response, text) => {
  const replayed = response.headers.get('idempotent-replayed') === 'true'
  const contentType = response.headers.get('content-type') ?? ''
  const retryAfter = response.headers.get('retry-after')
  item.classList.remove('pending')
  item.classList.add(kindOf(response.status, replayed))
  item.dataset.status = String(response.status)
  item.dataset.replayed = String(replayed)
  const status = item.querySelector('.status')
  status.textContent = `${response.status} ${response.statusText}`
  const headers = [`content-type: ${contentType || '(none)'}`]
  if (replayed) headers.unshift('Idempotent-Replayed: true')
  if (retryAfter !== null) headers.push(`Retry-After: ${retryAfter}`)
  item.append(
    element('p', {
      className: 'meaning',
      textContent: meaningOf(response.status, replayed, item.dataset.action),
    }),
    element('p', { className: 'headers', textContent: headers.join(' · ') }),
    element('pre', { className: 'body', textContent: pretty(text) }),
  )
}

const showFailure = (item, error) => {
  item.classList.remove('pending')
  item.classList.add('error')
  item.querySelector('.status').textContent = 'no answer'
  item.append(element('p', { className: 'meaning', textContent: `The request failed: ${error.message}` }))
}

const kindOf = (status, replayed) => {
  if (replayed) return 'replayed'
  if (status >= 200 && status < 300) return 'ok'
  if (status === 409) return 'conflict'
  return 'error'
}

const meaningOf = (status, replayed, action) => {
  if (action.startsWith('Deliver')) {
    return status === 200
      ? 'Two messages with one event id are on the queue: watch one order appear and the stock move once.'
      : 'The local API refused the message.'
  }
  if (replayed)
    return 'Replayed: the stored answer of the first request. The function did not run, nothing was charged.'
  if (status === 201)
    return 'The function ran: it claimed the key, charged the provider and stored this answer.'
  if (status === 409) return 'In progress: another request holds this key right now. Retry after Retry-After.'
  if (status === 422) return 'Refused: this key was used with another body. A key names one request.'
  if (status === 400) return 'Refused: a payment needs an Idempotency-Key header (or a valid body).'
  if (status >= 500) {
    return 'The function failed. Its claim was released, so a retry with this key runs again; the provider will not charge twice.'
  }
  return ''
}

const pretty = (text) => {
  try {
    return JSON.stringify(JSON.parse(text), null, 2)
  } catch {
    return text
  }
}

// ---- state ----------------------------------------------------------------------------------

let state

const short = (id) => (id.length > 14 ? `${id.slice(0, 12)}…` : id)
const time = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false })
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`

const cell = (text, title) => {
  const node = element('td', { textContent: text })
  if (title !== undefined) node.title = title
  return node
}

const badge = (text) => element('span', { className: `badge ${text.toLowerCase()}`, textContent: text })

const fill = (table, rows, empty) => {
  const body = $(`${table} tbody`)
  body.replaceChildren()
  if (rows.length === 0) {
    const columns = $(`${table} thead tr`).children.length
    body.append(
      element('tr', {}, [element('td', { colSpan: columns, className: 'muted', textContent: empty })]),
    )
    return
  }
  for (const row of rows) body.append(element('tr', {}, row))
}

const leaseLeft = (record) => {
  if (record.status !== 'IN_PROGRESS' || record.leaseExpiresAtMs === undefined) return '–'
  const left = record.leaseExpiresAtMs - Date.now()
  return left > 0 ? seconds(left) : 'ended'
}

const expires = (record) => {
  const hours = (record.expiresAtSeconds * 1000 - Date.now()) / 3_600_000
  return hours >= 1 ? `in ${Math.round(hours)} h` : `in ${Math.max(0, Math.round(hours * 60))} min`
}

const renderRecords = () => {
  fill(
    '#records',
    state.records.map((record) => {
      const status = element('td', {}, [badge(record.status)])
      return [
        cell(short(record.id), record.id),
        cell(record.functionName ?? '?'),
        status,
        cell(leaseLeft(record)),
        cell(expires(record), new Date(record.expiresAtSeconds * 1000).toLocaleString()),
      ]
    }),
    'No records yet: send a payment.',
  )
}

const render = () => {
  $('#count-charges').textContent = String(state.providerCharges)
  $('#count-payments').textContent = String(state.payments.length)
  $('#count-orders').textContent = String(state.orders.length)
  $('#stock').textContent = Object.entries(state.stock)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([sku, available]) => `${sku} ${available}`)
    .join(' · ')
  $('#queue-now').textContent = `${state.queue.waiting} / ${state.queue.inFlight}`
  $('#count-redeliveries').textContent = String(state.queue.redeliveries)
  $('#count-dead-letters').textContent = String(state.queue.deadLetters)
  $('#provider-now').textContent = state.provider.timeout
    ? 'times out'
    : `answers in ${state.provider.latencyMs} ms`
  const mode = state.provider.timeout ? 'timeout' : state.provider.latencyMs > 1000 ? 'slow' : 'normal'
  if (choosingProvider === mode) choosingProvider = null
  const radio = document.querySelector(`input[name="provider"][value="${mode}"]`)
  if (choosingProvider === null && radio !== null && !radio.checked) radio.checked = true

  renderRecords()
  fill(
    '#timeline',
    state.timeline.map((entry) => [
      cell(time(entry.at)),
      cell(entry.functionName),
      element('td', {}, [badge(entry.outcome), ...(entry.step ? [` ${entry.step}`] : [])]),
      cell(short(entry.id), entry.id),
    ]),
    'No outcomes yet.',
  )
  fill(
    '#charges',
    state.charges.map((charge) => [
      cell(short(charge.id), charge.id),
      cell(`${charge.amount} ${charge.currency}`),
      cell(charge.customer),
      cell(time(Date.parse(charge.createdAt))),
    ]),
    'No charges.',
  )
  fill(
    '#payments',
    state.payments.map((payment) => [
      cell(short(payment.paymentId), payment.paymentId),
      cell(short(payment.chargeId), payment.chargeId),
      cell(`${payment.amount} ${payment.currency}`),
      cell(`${payment.sku} × ${payment.quantity}`),
    ]),
    'No payments.',
  )
  fill(
    '#orders',
    state.orders.map((order) => [
      cell(short(order.orderId), order.orderId),
      cell(short(order.eventId), order.eventId),
      cell(`${order.sku} × ${order.quantity}`),
      cell(time(Date.parse(order.createdAt))),
    ]),
    'No orders.',
  )
}

// Server-sent events: the local API sends the state whenever it changes. EventSource reconnects
// by itself after an error.
const connect = () => {
  const source = new EventSource('/_local/state/stream')
  source.addEventListener('open', () => {
    $('#live').textContent = 'Live: the state below follows the local API.'
    $('#live').className = 'live connected'
  })
  source.addEventListener('message', (event) => {
    state = JSON.parse(event.data)
    render()
  })
  source.addEventListener('error', () => {
    $('#live').textContent = 'Disconnected from the local API: is npm start still running? Retrying…'
    $('#live').className = 'live disconnected'
  })
}

// Lease countdowns move between two updates of the state.
setInterval(() => {
  if (state?.records.some((record) => record.status === 'IN_PROGRESS')) renderRecords()
}, 250)

$('#key').value = newKey()
connect()
