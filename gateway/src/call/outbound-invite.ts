/**
 * The headers of an INVITE the gateway sends on a new outbound leg (a call's far leg, or the leg
 * a transfer places to its target): one place, so both legs present the caller the same way.
 */
import { offerUac, type SessionTimerConfig } from '../sip/dialog/session-timer.ts';
import { generateCallId, generateTag } from '../sip/message/index.ts';
import { SipHeaders } from '../sip/message/types.ts';
import type { OutboundTarget } from './sip-call.ts';

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
