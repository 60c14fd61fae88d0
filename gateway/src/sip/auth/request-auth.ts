/**
 * Digest authentication of requests from the gateway's own extensions (RFC 3261 §22).
 *
 * RFC 3261 §22.1: a registrar answers with 401 and WWW-Authenticate and reads Authorization; a
 * proxy (here: the B2BUA in front of its calls) answers with 407 and Proxy-Authenticate and reads
 * Proxy-Authorization. "CANCEL requests ... cannot be challenged" and neither can ACK: callers
 * must not pass those here.
 */
import { createResponse, generateTag, parseAuthHeader } from '../message/index.ts';
import type { SipRequest, SipResponse } from '../message/index.ts';
import type { DigestAuthenticator, DigestFailureReason } from './digest.ts';

export type RequestAuthResult =
  | { ok: true; username: string }
  | {
      ok: false;
      reason: DigestFailureReason;
      response: SipResponse;
      /** The user the credentials named, if any (for the security log). */
      username: string | undefined;
    };

export type UserLookup = (user: string) => { password: string } | undefined;

export interface AuthRole {
  status: 401 | 407;
  reason: string;
  credentialsHeader: 'Authorization' | 'Proxy-Authorization';
  challengeHeader: 'WWW-Authenticate' | 'Proxy-Authenticate';
}

export const registrarRole: AuthRole = {
  status: 401,
  reason: 'Unauthorized',
  credentialsHeader: 'Authorization',
  challengeHeader: 'WWW-Authenticate',
};

export const proxyRole: AuthRole = {
  status: 407,
  reason: 'Proxy Authentication Required',
  credentialsHeader: 'Proxy-Authorization',
  challengeHeader: 'Proxy-Authenticate',
};

/**
 * Authenticate a request from an extension: REGISTER in the registrar role, anything else in the
 * proxy role. On failure, the response to send is ready, carrying a fresh challenge (stale=true
 * when only the nonce was at fault). Unknown user and wrong password get the same answer.
 */
export function authenticateRequest(
  req: SipRequest,
  auth: DigestAuthenticator,
  lookupUser: UserLookup,
  role: AuthRole = req.method === 'REGISTER' ? registrarRole : proxyRole,
): RequestAuthResult {
  const authorization = pickCredentials(req.headers.getLines(role.credentialsHeader), auth.realm);
  const verdict = auth.verify(
    {
      method: req.method,
      authorization,
      // The digest-uri is not compared with the Request-URI: phones and test tools write the
      // registrar's address, the domain or the dialled URI there, and a captured response cannot
      // be replayed anyway (the nonce-count check refuses it). Kamailio and Asterisk behave alike.
    },
    (user) => lookupUser(user)?.password,
  );
  if (verdict.ok) return verdict;
  const headers: [string, string][] = auth.challengeFor(verdict).map((v) => [role.challengeHeader, v]);
  // RFC 3261 §8.2.6.2: "the UAS MUST add a tag to the To header field in the response".
  const response = createResponse(req, role.status, role.reason, { headers, toTag: generateTag() });
  return { ok: false, reason: verdict.reason, response, username: claimedUser(authorization) };
}

/** The `username` of a credentials line, cut to 64 characters; undefined when there is none. */
function claimedUser(line: string | undefined): string | undefined {
  if (line === undefined) return undefined;
  const parsed = parseAuthHeader(line);
  return parsed.ok ? parsed.value.params.get('username')?.slice(0, 64) : undefined;
}

/**
 * RFC 3261 §22.3: a request may carry credentials for several realms (one per proxy on the path);
 * the ones for this realm are used. Credentials lines are read whole: the commas between digest
 * parameters are not list separators.
 */
export function pickCredentials(lines: readonly string[], realm: string): string | undefined {
  // A single line is the answer whatever its realm: nothing to choose between.
  if (lines.length <= 1) return lines[0];
  for (const line of lines) {
    const parsed = parseAuthHeader(line);
    if (parsed.ok && parsed.value.params.get('realm') === realm) return line;
  }
  return lines[0];
}
