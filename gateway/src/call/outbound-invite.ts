/**
 * The headers of an INVITE the gateway sends on a new outbound leg (a call's far leg, or the leg
 * a transfer places to its target): one place, so both legs present the caller the same way.
 */
import { offerUac, type SessionTimerConfig } from '../sip/dialog/session-timer.ts';
import { generateCallId, generateTag, parseCSeq } from '../sip/message/index.ts';
import { SipHeaders, type SipRequest, type SipResponse } from '../sip/message/types.ts';
import type { OutboundTarget } from './outbound-target.ts';

/** What a leg of ours accepts in a dialog (RFC 3261 §20.5), transfer (RFC 3515) included. */
export const ALLOWED_METHODS = 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY';

export interface OutboundInviteHeaders {
  via: string;
  maxForwards: number;
  /** Who the call is from, as the far party is told. */
  caller: { user: string; displayName?: string; assert?: boolean };
  domain: string;
  target: OutboundTarget;
  /** Our address on the target's transport, for Contact and Call-ID. */
  sentBy: { host: string; port: number };
  sessionTimer: SessionTimerConfig;
  userAgent: string;
}

export function outboundInviteHeaders(o: OutboundInviteHeaders): SipHeaders {
  const h = new SipHeaders();
  h.append('via', o.via);
  h.append('max-forwards', String(o.maxForwards));
  const display = o.caller.displayName ? `"${o.caller.displayName.replace(/["\\]/g, '')}" ` : '';
  const fromUri = `sip:${o.caller.user}@${o.domain}`;
  h.append('from', `${display}<${fromUri}>;tag=${generateTag()}`);
  h.append('to', `<${o.target.requestUri}>`);
  h.append('call-id', generateCallId(o.sentBy.host));
  h.append('cseq', '1 INVITE');
  const transport = o.target.dest.transport;
  h.append(
    'contact',
    `<sip:edgeline@${o.sentBy.host}:${o.sentBy.port}${transport === 'udp' ? '' : `;transport=${transport}`}>`,
  );
  // RFC 3325 §9.1: the identity is asserted only towards peers that trust us with it.
  if (o.caller.assert) h.append('p-asserted-identity', `${display}<${fromUri}>`);
  h.append('allow', ALLOWED_METHODS);
  // RFC 4028 §7.1: ask the callee for a session timer so a dead far end cannot hold the call.
  for (const [name, value] of offerUac(o.sessionTimer)) h.append(name, value);
  h.append('user-agent', o.userAgent);
  return h;
}

/** Computes an Authorization header value for a challenge (the digest client of `sip/auth`). */
export type Authorize = (
  challenge: string,
  method: string,
  uri: string,
  creds: { username: string; password: string },
) => string | undefined;

/**
 * RFC 3261 §22.2: the INVITE again with credentials for a 401/407 challenge — same Call-ID, tags
 * and body, CSeq + 1, a new top Via (a new branch: a new transaction). Undefined when there is
 * nothing to answer the challenge with.
 */
export function inviteWithCredentials(
  invite: SipRequest,
  challengeResponse: SipResponse,
  creds: { username: string; password: string } | undefined,
  authorize: Authorize | undefined,
  via: string,
): SipRequest | undefined {
  const isProxy = challengeResponse.status === 407;
  const challenge = challengeResponse.headers.get(isProxy ? 'proxy-authenticate' : 'www-authenticate');
  if (!creds || !challenge || !authorize) return undefined;
  const authorization = authorize(challenge, 'INVITE', invite.uri, creds);
  if (!authorization) return undefined;
  const h = invite.headers.clone();
  const cseq = parseCSeq(h.get('cseq') ?? '');
  h.set('cseq', `${(cseq.ok ? cseq.value.seq : 1) + 1} INVITE`);
  h.removeFirst('via');
  h.prepend('via', via);
  h.set(isProxy ? 'proxy-authorization' : 'authorization', authorization);
  return { ...invite, headers: h };
}
