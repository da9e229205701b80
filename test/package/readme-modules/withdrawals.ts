// The user's withdrawals, imported by README blocks as './withdrawals.js': work that must never
// run twice, even after a crash, so a crashed attempt blocks its key until an operator releases it.
import { makeIdempotent } from 'lambda-idempotency'
import { store } from './store.js'

export interface WithdrawalRequest {
  withdrawalId: string
  amount: number
}

/** Pays money out: a stand-in for a bank transfer. */
const withdraw = async (request: WithdrawalRequest) => ({ withdrawn: request.amount })

export const withdrawOnce = makeIdempotent(withdraw, {
  store,
  key: (request) => request.withdrawalId,
  abandoned: 'block',
})
