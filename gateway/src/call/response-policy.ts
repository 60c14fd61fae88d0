/**
 * Which final response the caller gets when no outbound attempt answered — pure policy.
 *
 * RFC 3261 §16.7 step 6 (the rule a forking proxy uses, and a forking B2BUA mirrors): "A proxy
 * MUST NOT forward a 6xx ... it SHOULD choose from the 6xx class responses if any exist ...
 * otherwise the proxy SHOULD choose the lowest response class ... Within a class any response
 * can be chosen." We prefer the answer that tells the caller most: busy (486) over the
 * unavailability codes, which in turn beat timeouts.
 */
export function chooseFinalResponse(finals: readonly number[], fallback: number): number {
  if (finals.length === 0) return fallback;
  const sixes = finals.filter((s) => s >= 600);
  if (sixes.length > 0) return sixes[0] ?? 603;
  if (finals.includes(486)) return 486;
  if (finals.includes(600)) return 600;
  const preferred = [404, 484, 480, 403, 487, 488, 415, 420];
  for (const p of preferred) if (finals.includes(p)) return p;
  const lowestClass = Math.min(...finals.map((s) => Math.floor(s / 100)));
  const inClass = finals.filter((s) => Math.floor(s / 100) === lowestClass && s !== 408);
  return inClass[0] ?? (finals.every((s) => s === 408) ? 408 : fallback);
}

/**
 * Map a far-end status to the one the caller sees. A challenge from a trunk is the gateway's to
 * answer, never the caller's (401/407 → 503); redirects are not followed to addresses the
 * administrator did not configure (3xx → 480); a far 503 means that peer is overloaded, not us:
 * RFC 3261 §16.7 step 6 says it is not forwarded as 503 ("... SHOULD generate a 500").
 */
export function mapFinalStatus(status: number): number {
  if (status === 401 || status === 407) return 503;
  if (status >= 300 && status < 400) return 480;
  if (status === 503) return 503;
  return status;
}
