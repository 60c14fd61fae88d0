/**
 * The UAS core's request dispatch (RFC 3261 §8.2): every new server transaction lands here and
 * goes to the registrar, the B2BUA or a local answer.
 *
 * RFC 3261 §8.2.1: "If a UAS does not support the method ... it MUST respond 405 (Method Not
 * Allowed)" for methods it recognises and 501 (Not Implemented) for those it does not.
 * RFC 3261 §12.2.2: a request with a To tag that matches no dialog gets 481.
 */
import type { MetricsRegistry } from './core/metrics.ts';
import type { B2bua } from './call/b2bua.ts';
import type { ServerTxPort } from './call/ports.ts';
import { checkRequest, createResponse, generateTag, getTag, parseMediaType } from './sip/message/index.ts';
import type { SipEndpoint, SipRequest, SipResponse } from './sip/message/types.ts';

export const allowedMethods = 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REGISTER';
const knownMethods = new Set([
  'INVITE',
  'ACK',
  'CANCEL',
  'BYE',
  'OPTIONS',
  'INFO',
  'UPDATE',
  'REGISTER',
  'PRACK',
  'SUBSCRIBE',
  'NOTIFY',
  'MESSAGE',
  'REFER',
  'PUBLISH',
]);

export interface DispatcherDeps {
  b2bua: B2bua;
  register(req: SipRequest, tx: ServerTxPort): SipResponse;
  /** The request came from a configured trunk member. */
  fromTrunk(tx: ServerTxPort): boolean;
  /** Digest check for out-of-dialog requests other than INVITE/REGISTER (OPTIONS from phones). */
  authenticate(req: SipRequest, source: SipEndpoint): { ok: true } | { ok: false; response: SipResponse };
  metrics: MetricsRegistry;
  supportedExtensions: readonly string[];
}

const relayedBodyMethods = new Set(['INFO', 'MESSAGE', 'NOTIFY', 'REFER']);

function bodyType(req: SipRequest): string | undefined {
  const mt = parseMediaType(req.headers.get('content-type') ?? '');
  return mt.ok ? `${mt.value.type}/${mt.value.subtype}` : undefined;
}

export class RequestDispatcher {
  private readonly rejected;

  constructor(private readonly deps: DispatcherDeps) {
    this.rejected = deps.metrics.counter(
      'edgeline_sip_requests_rejected_total',
      'Requests answered with an error by the UAS core, by status',
    );
  }

  onRequest(tx: ServerTxPort): void {
    const req = tx.request;
    // RFC 4475 §3.3 and RFC 3261 §8.2.2: unsupported URI scheme (416), unknown Require (420),
    // inconsistent CSeq or missing mandatory headers (400).
    const inDialog = getTag(req.headers.get('to') ?? '') !== undefined;
    // RFC 3261 §8.2.3 (415) binds the element that consumes a body. The bodies of in-dialog INFO,
    // MESSAGE, NOTIFY and REFER are the far party's to understand: the B2BUA relays them as they are.
    const relayed = inDialog && relayedBodyMethods.has(req.method) ? bodyType(req) : undefined;
    const rejection = checkRequest(req, {
      supportedExtensions: [...this.deps.supportedExtensions],
      ...(relayed ? { acceptedContentTypes: [relayed] } : {}),
    });
    if (rejection) {
      this.reject(tx, rejection.status, rejection.reason, rejection.headers);
      return;
    }
    if (inDialog) {
      if (!this.deps.b2bua.onInDialogRequest(tx)) this.reject(tx, 481, 'Call/Transaction Does Not Exist');
      return;
    }
    switch (req.method) {
      case 'INVITE':
        this.deps.b2bua.onInvite(tx);
        return;
      case 'REGISTER':
        tx.respond(this.deps.register(req, tx));
        return;
      case 'OPTIONS': {
        // RFC 3261 §11.2. Trunk peers probe us without credentials; anyone else authenticates
        // first: an unknown source learns nothing about this gateway.
        if (!this.deps.fromTrunk(tx)) {
          const auth = this.deps.authenticate(req, tx.source);
          if (!auth.ok) {
            tx.respond(auth.response);
            return;
          }
        }
        tx.respond(
          createResponse(req, 200, 'OK', {
            headers: [
              ['allow', allowedMethods],
              ['accept', 'application/sdp'],
              ['supported', this.deps.supportedExtensions.join(', ')],
            ],
          }),
        );
        return;
      }
      case 'BYE':
      case 'INFO':
      case 'UPDATE':
      case 'PRACK':
      case 'NOTIFY':
        // Mid-dialog methods without a To tag belong to no dialog.
        this.reject(tx, 481, 'Call/Transaction Does Not Exist');
        return;
      case 'SUBSCRIBE':
        // RFC 6665 §8.3.2: no event package is supported.
        this.reject(tx, 489, 'Bad Event', [['allow-events', '']]);
        return;
      default:
        if (knownMethods.has(req.method))
          this.reject(tx, 405, 'Method Not Allowed', [['allow', allowedMethods]]);
        else this.reject(tx, 501, 'Not Implemented', [['allow', allowedMethods]]);
    }
  }

  private reject(tx: ServerTxPort, status: number, reason: string, headers?: Array<[string, string]>): void {
    this.rejected.inc({ status: String(status) });
    // RFC 3261 §8.2.6.2: "the UAS MUST add a tag to the To header field in the response" unless
    // the request already carries one (createResponse keeps an existing tag).
    tx.respond(
      createResponse(tx.request, status, reason, {
        toTag: generateTag(),
        headers: headers?.filter(([, v]) => v !== ''),
      }),
    );
  }
}
