import type fc from 'fast-check'
import type { ClaimRequest, IdempotencyStore, StoredRecord } from '../../src/index.js'
import type { OpAnswer, StoreOp } from './reference-model.js'

/*
 * The store as one invocation sees it: every call waits for the scheduler to let it reach the
 * shared store, may meet a fault on the way, and waits again before its answer is delivered. Faults
 * live here, in the tests, never in the library.
 */

/** What can happen to one store call. */
export type Fault = 'ok' | 'throttle' | 'timeout' | 'lost-answer'

/** What the shared store did, in the order it did it: the log the model replays. */
export type Applied =
  | { invocation: number; step: StoreOp; answer: OpAnswer }
  | { invocation: number; step: { op: 'get'; id: string }; record: StoredRecord | undefined }

/** One call an invocation made, whatever became of it. */
export interface Attempt {
  op: StoreOp['op'] | 'get'
  fault: Fault
  applied: boolean
}

/** The process of an invocation died here: nothing it sends afterwards reaches the store. */
export class CrashedError extends Error {
  override name = 'CrashedError'
}

/** A fault as an SDK or a Redis client would raise it. */
const faultError = (fault: Fault, op: string): Error => {
  const error = new Error(
    fault === 'throttle'
      ? `Rate exceeded (injected on ${op})`
      : `Connection timed out (injected on ${op}${fault === 'lost-answer' ? ', after the write' : ''})`,
  )
  error.name = fault === 'throttle' ? 'ThrottlingException' : 'TimeoutError'
  return error
}

/** The shared parts of one schedule: the scheduler, the shared store, the log and the fault plan. */
export interface World {
  scheduler: fc.Scheduler
  store: IdempotencyStore
  log: Applied[]
  /** Faults of the store calls in the order they reach the store; past its end, every call is ok. */
  faults: Fault[]
  crashed: Set<number>
}

/** The store invocation `invocation` talks to. */
export const invocationStore = (world: World, invocation: number, attempts: Attempt[]): IdempotencyStore => {
  const { scheduler, store, log, crashed } = world

  const call = async <T>(label: string, op: Attempt['op'], apply: () => Promise<T>): Promise<T> => {
    if (crashed.has(invocation)) throw new CrashedError(`invocation ${invocation} crashed before ${label}`)
    const box: { outcome: { value: T } | { error: unknown } } = {
      outcome: { error: new Error('never sent') },
    }
    // The act runs when the scheduler picks this call: the store sees the calls one at a time, in
    // the order the schedule chose, so a seed replays the same schedule even on a real server.
    await scheduler.schedule(Promise.resolve(), `${label} reaches the store`, undefined, async (deliver) => {
      if (crashed.has(invocation)) {
        box.outcome = { error: new CrashedError(`invocation ${invocation} crashed before ${label}`) }
      } else {
        const fault = world.faults.shift() ?? 'ok'
        const applied = fault === 'ok' || fault === 'lost-answer'
        attempts.push({ op, fault, applied })
        try {
          const value = applied ? await apply() : undefined
          box.outcome = fault === 'ok' ? { value: value as T } : { error: faultError(fault, label) }
        } catch (error) {
          box.outcome = { error }
        }
      }
      await deliver()
    })
    await scheduler.schedule(Promise.resolve(), `answer of ${label}`)
    if (crashed.has(invocation))
      throw new CrashedError(`invocation ${invocation} crashed waiting for ${label}`)
    const { outcome } = box
    if ('error' in outcome) throw outcome.error
    return outcome.value
  }

  return {
    maxResultBytes: store.maxResultBytes,
    claim: (request: ClaimRequest) =>
      call(`claim by ${invocation}`, 'claim', async () => {
        const answer = await store.claim(request)
        log.push({ invocation, step: { op: 'claim', request }, answer })
        return answer
      }),
    complete: (id, owner, result, expiresAtSeconds) =>
      call(`complete by ${invocation}`, 'complete', async () => {
        const answer = await store.complete(id, owner, result, expiresAtSeconds)
        log.push({ invocation, step: { op: 'complete', id, owner, result, expiresAtSeconds }, answer })
        return answer
      }),
    release: (id, owner) =>
      call(`release by ${invocation}`, 'release', async () => {
        const answer = await store.release(id, owner)
        log.push({ invocation, step: { op: 'release', id, owner }, answer })
        return answer
      }),
    get: (id) =>
      call(`get by ${invocation}`, 'get', async () => {
        const record = await store.get(id)
        log.push({ invocation, step: { op: 'get', id }, record })
        return record
      }),
  }
}
