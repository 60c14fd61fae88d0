/**
 * Where a server sends its responses: RFC 3261 §18.2.2 with the symmetric response routing of
 * RFC 3581, and the `received`/`rport` stamping of §18.2.1 that makes it work through NAT.
 */
import { err, ok, type Result } from '../../core/result.ts';
import { formatVia, parseVia, type Via } from '../message/index.ts';
import { viaView, type ViewOf } from '../message/headers.ts';
import type { SipEndpoint, SipRequest, SipTransportName } from '../message/types.ts';
import { isReliable } from './timer-values.ts';

function defaultPort(transport: SipTransportName): number {
  return transport === 'tls' ? 5061 : 5060;
}

function viaTransport(via: ViewOf<Via>, fallback: SipTransportName): SipTransportName {
  switch (via.transport.toUpperCase()) {
    case 'UDP':
      return 'udp';
    case 'TCP':
      return 'tcp';
    case 'TLS':
      return 'tls';
    default:
      return fallback;
  }
}

/**
 * RFC 3261 §18.2.1: "If the host portion of the "sent-by" parameter contains a domain name, or if it
 * contains an IP address that differs from the packet source address, the server MUST add a
 * "received" parameter to that Via header field value." RFC 3581 §4: "when a server receives a
 * request with an "rport" parameter with no value, it MUST ... insert the source port into the
 * rport parameter". Idempotent: a Via already stamped by the transport is left alone.
 */
export function stampReceived(req: SipRequest, source: SipEndpoint): void {
  const top = req.headers.getList('via')[0];
  if (top === undefined) return;
  // Most requests arrive already stamped by the transport: look before taking a copy to change.
  const seen = viaView(top);
  if (!seen) return;
  const needsReceived =
    seen.host.toLowerCase() !== source.address.toLowerCase() && !seen.params.has('received');
  const needsRport = seen.params.has('rport') && !seen.params.get('rport');
  if (!needsReceived && !needsRport) return;
  const parsed = parseVia(top);
  if (!parsed.ok) return;
  const via = parsed.value;
  let changed = false;
  if (via.host.toLowerCase() !== source.address.toLowerCase() && !via.params.has('received')) {
    via.params.set('received', source.address);
    changed = true;
  }
  if (via.params.has('rport') && !via.params.get('rport')) {
    via.params.set('rport', String(source.port));
    if (!via.params.has('received')) via.params.set('received', source.address);
    changed = true;
  }
  if (!changed) return;
  req.headers.removeFirst('via');
  req.headers.prepend('via', formatVia(via));
}

/**
 * RFC 3261 §18.2.2, in order:
 * - "If the "sent-protocol" is a reliable transport protocol such as TCP or SCTP, or TLS over those,
 *   the response MUST be sent using the existing connection to the source of the original request".
 *   The endpoint carries `connectionId`; its address and port are where to open a new connection
 *   should that one be gone ("the IP address in the received parameter ... using the port in the
 *   sent-by value, or the default port").
 * - "Otherwise, if the Via header field value contains a "maddr" parameter, the response MUST be
 *   forwarded to the address listed there, using the port indicated in "sent-by", or port 5060".
 * - "Otherwise (for unreliable unicast transports), if the top Via has a "received" parameter, the
 *   response MUST be sent to the address in the "received" parameter, using the port indicated in
 *   the "sent-by" value" — RFC 3581 §4: "the response MUST be sent ... to the port number in the rport".
 * - "Otherwise, ... the response MUST be sent to the address indicated by the "sent-by" value".
 */
export function responseDestination(req: SipRequest, source: SipEndpoint): Result<SipEndpoint> {
  const top = req.headers.getList('via')[0];
  if (top === undefined) return err({ code: 'missing-via', message: 'no Via header', field: 'Via' });
  const via = viaView(top);
  if (!via) return err({ code: 'EDGE_ERR_SIP_PARSE', message: 'malformed top Via', field: 'Via' });
  // A request that arrived over UDP is answered over UDP whatever its Via claims: RFC 3581 §4
  // symmetric response routing, and a spoofed "SIP/2.0/TCP" must not make us open connections.
  const transport = source.transport === 'udp' ? 'udp' : viaTransport(via, source.transport);
  const received = via.params.get('received') || undefined;
  const rportValue = via.params.get('rport');
  const rport = rportValue ? Number(rportValue) : undefined;
  const sentByPort = via.port ?? defaultPort(transport);

  if (isReliable(source.transport) && source.connectionId !== undefined) {
    return ok({
      transport: source.transport,
      address: received ?? source.address,
      port: sentByPort,
      connectionId: source.connectionId,
    });
  }
  // `maddr` (RFC 3261 §18.2.2, multicast) is ignored: honouring it would let any sender aim our
  // responses at a third party (reflection). Responses go where the request came from.
  if (received !== undefined) {
    const port =
      rport !== undefined && Number.isInteger(rport) && rport > 0 && rport < 65536 ? rport : sentByPort;
    return ok({ transport, address: received, port });
  }
  return ok({ transport, address: via.host, port: sentByPort });
}
