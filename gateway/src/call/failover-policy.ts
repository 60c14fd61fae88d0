/**
 * When one target's failure sends a call on to the next (trunk member failover): SIP status
 * policy, shared by every outbound path of call control (`attempt-plan.ts`) and by trunk health.
 */
export type AttemptFailure = number | 'timeout' | 'transport-error';

/**
 * Final responses that are the callee's own answer: another member would reach the same callee and
 * get the same answer, so they never trigger failover whatever the trunk configures.
 * - 404 Not Found, 410 Gone, 484 Address Incomplete (§21.4.4, §21.4.11, §21.4.22): the number is
 *   wrong or gone — true at every member.
 * - 480 Temporarily Unavailable (§21.4.18): "The callee's end system was contacted successfully but
 *   the callee is currently unavailable" — the callee was reached, so this is an answer, not a
 *   member fault.
 * - 486 Busy Here (§21.4.24), 487 Request Terminated (§21.4.25, the call was cancelled).
 * - every 6xx (§21.6): "a server has definitive information about a particular user, not just the
 *   particular instance indicated in the Request-URI" — 600 Busy Everywhere, 603 Decline,
 *   604 Does Not Exist Anywhere, 606 Not Acceptable.
 */
export const NEVER_FAILOVER_STATUSES: readonly number[] = [404, 410, 480, 484, 486, 487];

/**
 * Whether an outcome of one member sends the call on to the next member.
 * Timeouts and transport errors always do (the member never handled the call). 1xx are not
 * outcomes; 2xx and 3xx are answers (§21.2, §21.3; redirects are the caller's to follow);
 * 401/407 are challenges the authenticating UAC answers on the same member (§22.2), not a member
 * fault. Everything else fails over only when listed in `onStatus`.
 */
export function shouldFailover(status: AttemptFailure, onStatus: readonly number[]): boolean {
  if (status === 'timeout' || status === 'transport-error') return true;
  if (status < 300) return false;
  if (status < 400) return false;
  if (status === 401 || status === 407) return false;
  if (status >= 600) return false;
  if (NEVER_FAILOVER_STATUSES.includes(status)) return false;
  return onStatus.includes(status);
}
