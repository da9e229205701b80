import { describe, expect, it } from 'vitest'
import { isFree, reenters, type StoredRecord } from '../../../src/stores/store.js'

const nowMs = 1_000_000
const claim: StoredRecord = { id: 'r', status: 'IN_PROGRESS', owner: 'o', expiresAtSeconds: 2_000 }

describe('isFree and reenters, the contract helpers the stores share', () => {
  it('counts an IN_PROGRESS record without a lease as a lease that has ended, unless abandoned claims are kept', () => {
    expect(isFree(claim, nowMs)).toBe(true)
    expect(isFree(claim, nowMs, true)).toBe(false)
    expect(isFree({ ...claim, leaseExpiresAtMs: nowMs + 1 }, nowMs)).toBe(false)
    expect(isFree({ ...claim, leaseExpiresAtMs: nowMs + 1, expiresAtSeconds: nowMs / 1000 }, nowMs)).toBe(
      true,
    )
  })

  it('re-enters only an IN_PROGRESS record of the same owner, and only when asked to', () => {
    const request = { id: 'r', owner: 'o', leaseExpiresAtMs: 0, expiresAtSeconds: 0, nowMs }
    expect(reenters(claim, { ...request, reentrant: true })).toBe(true)
    expect(reenters(claim, request)).toBe(false)
    expect(reenters(claim, { ...request, owner: 'other', reentrant: true })).toBe(false)
    expect(reenters({ ...claim, status: 'COMPLETED' }, { ...request, reentrant: true })).toBe(false)
  })
})
