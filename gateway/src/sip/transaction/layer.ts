/**
 * The transaction layer (RFC 3261 §17): owns every client and server transaction, matches incoming
 * messages to them (§17.1.3, §17.2.3, §9.2, §8.2.2.2) and hands the rest to the transaction user.
 * Sans-I/O: the transport, time and the TU are ports given at construction.
 */
import type { Clock, Timers } from '../../../../base/clock.ts';
import { EdgeError, ErrorCodes } from '../../core/errors.ts';
import { silentLogger, type Logger } from '../../core/log.ts';
import { MetricsRegistry, type Counter, type CounterHandle } from '../../core/metrics.ts';
import { createResponse, detachString, generateTag, getTag, parseVia } from '../message/index.ts';
import type { SipEndpoint, SipMessage, SipRequest, SipResponse } from '../message/types.ts';
import type { ClientTransactionUser, TransactionContext, TransactionKind } from './context.ts';
import { InviteClientTransaction, type InviteClientDump } from './invite-client.ts';
import { InviteServerTransaction, type InviteServerDump } from './invite-server.ts';
import {
  clientKey,
  hasMagicCookie,
  identify,
  mergeKey,
  rfc2543Key,
  serverKey,
  type MessageIdentity,
} from './keys.ts';
import { NonInviteClientTransaction, type NonInviteClientDump } from './non-invite-client.ts';
import { NonInviteServerTransaction, type NonInviteServerDump } from './non-invite-server.ts';
import { responseDestination, stampReceived } from '../message/via-routing.ts';
import { resolveTimerValues, type TimerValues } from './timer-values.ts';

export type ClientTransaction = InviteClientTransaction | NonInviteClientTransaction;
export type ServerTransaction = InviteServerTransaction | NonInviteServerTransaction;

/** Live server transactions above which new requests get 503 instead of state (bounded memory). */
export const DEFAULT_MAX_SERVER_TRANSACTIONS = 50_000;

export interface TransactionLayerDeps {
  clock: Clock;
  timers: Timers;
  /** The transport port. Throwing means the message could not be sent (§17.1.4, §17.2.4). */
  send(msg: SipMessage, dest: SipEndpoint): void;
  /** A new request for the TU: not an ACK, not a CANCEL, not a retransmission. */
  onRequest(req: SipRequest, tx: ServerTransaction, source: SipEndpoint): void;
  /**
   * A new CANCEL (§9.2) with the INVITE server transaction it matches, if any. The layer does not
   * answer it: the TU sends 200 or 481 on `cancelTx` and 487 on `inviteTx`.
   */
  onCancel(
    cancel: SipRequest,
    inviteTx: InviteServerTransaction | undefined,
    cancelTx: ServerTransaction,
    source: SipEndpoint,
  ): void;
  /** An ACK for a 2xx: matched to no transaction, or received by one in "Accepted" (RFC 6026). */
  onAck(ack: SipRequest, source: SipEndpoint): void;
  /** A response matching no client transaction (§17.1.3), e.g. a 2xx retransmitted after Timer M. */
  onStrayResponse?(res: SipResponse, source: SipEndpoint): void;
  timersMs?: Partial<TimerValues>;
  maxServerTransactions?: number;
  metrics?: MetricsRegistry;
  logger?: Logger;
}

export interface TransactionLayerDump {
  closed: boolean;
  timersMs: TimerValues;
  active: Record<TransactionKind, number>;
  clients: Array<InviteClientDump | NonInviteClientDump>;
  servers: Array<InviteServerDump | NonInviteServerDump>;
}

/**
 * What the layer keeps beside a server transaction: the To tag RFC 2543 matching compares and the
 * §8.2.2.2 key it is indexed under. Not the request's identity as parsed: its strings are slices of
 * the received text and would keep all of it alive for the transaction's 64·T1.
 */
interface ServerEntry {
  tx: ServerTransaction;
  toTag: string | undefined;
  mergeKey: string | undefined;
}

type DiscardReason = 'malformed' | 'stray_response' | 'cseq_method_mismatch' | 'overload' | 'merged_request';

const kinds: readonly TransactionKind[] = [
  'invite_client',
  'non_invite_client',
  'invite_server',
  'non_invite_server',
];

function byKind<T>(make: (kind: TransactionKind) => T): Record<TransactionKind, T> {
  return {
    invite_client: make('invite_client'),
    non_invite_client: make('non_invite_client'),
    invite_server: make('invite_server'),
    non_invite_server: make('non_invite_server'),
  };
}

export class TransactionLayer {
  private readonly values: TimerValues;
  private readonly clients = new Map<string, ClientTransaction>();
  private readonly servers = new Map<string, ServerEntry>();
  /** §8.2.2.2: From tag, Call-ID and CSeq of live server transactions created without a To tag. */
  private readonly merge = new Map<string, ServerTransaction>();
  private readonly active: Record<TransactionKind, number> = {
    invite_client: 0,
    non_invite_client: 0,
    invite_server: 0,
    non_invite_server: 0,
  };
  private readonly maxServers: number;
  private readonly ctx: TransactionContext;
  private readonly log: Logger;
  private readonly created: Record<TransactionKind, CounterHandle>;
  private readonly retransmissions: Record<TransactionKind, CounterHandle>;
  private readonly timeouts: Counter;
  /** Handles by timer name, bound at the first timeout of each. */
  private readonly timeoutsByTimer = new Map<string, CounterHandle>();
  private readonly discardCounter: Counter;
  private readonly discards = new Map<DiscardReason, CounterHandle>();
  /** RFC 6026 §8.7: one function for every INVITE server transaction, not one closure each. */
  private readonly passAck: (ack: SipRequest, source: SipEndpoint) => void;
  /** §9.1: the CANCEL of an INVITE client transaction runs as a client transaction of its own. */
  private readonly startCancel: (cancel: SipRequest, dest: SipEndpoint, tu: ClientTransactionUser) => void;
  private closed = false;

  constructor(private readonly deps: TransactionLayerDeps) {
    this.values = resolveTimerValues(deps.timersMs);
    this.maxServers = deps.maxServerTransactions ?? DEFAULT_MAX_SERVER_TRANSACTIONS;
    this.log = deps.logger ?? silentLogger;
    const metrics = deps.metrics ?? new MetricsRegistry();
    const created = metrics.counter('edgeline_sip_transactions_total', 'SIP transactions created, by kind');
    const retransmissions = metrics.counter(
      'edgeline_sip_retransmissions_total',
      'SIP retransmissions sent by transactions, by kind',
    );
    this.created = byKind((kind) => created.labels({ kind }));
    this.retransmissions = byKind((kind) => retransmissions.labels({ kind }));
    this.timeouts = metrics.counter(
      'edgeline_sip_transaction_timeouts_total',
      'SIP transactions ended by a timeout timer, by timer',
    );
    this.discardCounter = metrics.counter(
      'edgeline_sip_transaction_discards_total',
      'SIP messages the transaction layer refused or dropped, by reason',
    );
    metrics
      .gauge('edgeline_sip_transactions_active', 'SIP transactions alive now, by kind')
      .collect(() => kinds.map((kind) => ({ labels: { kind }, value: this.active[kind] })));
    this.ctx = {
      clock: deps.clock,
      timers: deps.timers,
      values: this.values,
      send: (msg, dest) => deps.send(msg, dest),
      terminated: (tx) => this.forget(tx.id, tx.kind),
      retransmitted: (kind) => this.retransmissions[kind].inc(),
      timedOut: (_kind, timer) => this.timedOut(timer),
    };
    this.passAck = (ack, from) => deps.onAck(ack, from);
    this.startCancel = (cancel, cancelDest, cancelTu) => {
      if (!this.closed) this.sendRequest(cancel, cancelDest, cancelTu);
    };
  }

  get timerValues(): Readonly<TimerValues> {
    return this.values;
  }

  /** Every message from the transport enters here. */
  receive(msg: SipMessage, source: SipEndpoint): void {
    if (this.closed) return;
    const ident = identify(msg);
    if (!ident.ok) {
      this.discard('malformed');
      this.log.debug({ error: ident.error, source }, 'sip message without usable transaction headers');
      if (msg.kind === 'request' && msg.method !== 'ACK')
        this.respondStateless(msg, source, 400, `Bad ${ident.error.field ?? 'Request'}`);
      return;
    }
    if (msg.kind === 'response') this.receiveResponse(msg, ident.value, source);
    else this.receiveRequest(msg, ident.value, source);
  }

  /**
   * Start a client transaction. The request carries its own top Via with a branch made by
   * `generateBranch()` (§8.1.1.7). ACKs for 2xx are not transactions: use `sendStateless`.
   */
  sendRequest(req: SipRequest, dest: SipEndpoint, tu: ClientTransactionUser): ClientTransaction {
    if (this.closed)
      throw new EdgeError(ErrorCodes.SIP_TRANSACTION_REQUEST_INVALID, 'transaction layer is closed');
    if (req.method === 'ACK')
      throw new EdgeError(
        ErrorCodes.SIP_TRANSACTION_REQUEST_INVALID,
        'an ACK is not sent in a client transaction',
      );
    const top = req.headers.getList('via')[0];
    const via = top === undefined ? undefined : parseVia(top);
    const branch = via?.ok ? via.value.params.get('branch') : undefined;
    if (!branch)
      throw new EdgeError(
        ErrorCodes.SIP_TRANSACTION_REQUEST_INVALID,
        'request has no top Via with a branch',
        { method: req.method },
      );
    const id = detachString(clientKey(branch, req.method));
    if (this.clients.has(id))
      throw new EdgeError(
        ErrorCodes.SIP_TRANSACTION_REQUEST_INVALID,
        'a client transaction with this branch exists',
        { branch },
      );
    const tx: ClientTransaction =
      req.method === 'INVITE'
        ? new InviteClientTransaction(id, detachString(branch), req, dest, tu, this.ctx, this.startCancel)
        : new NonInviteClientTransaction(id, detachString(branch), req, dest, tu, this.ctx);
    this.clients.set(id, tx);
    this.track(tx.kind);
    tx.start();
    return tx;
  }

  /** Send outside any transaction: the ACK for a 2xx (§13.2.2.4) or a stateless response. */
  sendStateless(msg: SipMessage, dest: SipEndpoint): boolean {
    try {
      this.deps.send(msg, dest);
      return true;
    } catch (e) {
      this.log.debug({ err: e, dest }, 'stateless send failed');
      return false;
    }
  }

  /** Answer a request without a transaction, to the destination §18.2.2 picks. */
  respondStateless(req: SipRequest, source: SipEndpoint, status: number, reason?: string): boolean {
    const dest = responseDestination(req, source);
    if (!dest.ok) return false;
    // RFC 3261 §8.2.6.2: "the UAS MUST add a tag to the To header field in the response".
    return this.sendStateless(createResponse(req, status, reason, { toTag: generateTag() }), dest.value);
  }

  /** The server transaction a request belongs to, if any (for the TU, e.g. CANCEL of a re-INVITE). */
  findServer(req: SipRequest): ServerTransaction | undefined {
    const ident = identify(req);
    return ident.ok ? this.matchServer(req, ident.value)?.tx : undefined;
  }

  dump(): TransactionLayerDump {
    return {
      closed: this.closed,
      timersMs: { ...this.values },
      active: { ...this.active },
      clients: [...this.clients.values()].map((tx) => tx.dump()),
      servers: [...this.servers.values()].map((e) => e.tx.dump()),
    };
  }

  /** Drop every transaction and timer without telling the TU; later input is ignored. */
  close(): void {
    this.closed = true;
    for (const tx of [...this.clients.values()]) tx.close();
    for (const e of [...this.servers.values()]) e.tx.close();
    this.clients.clear();
    this.servers.clear();
    this.merge.clear();
  }

  private receiveResponse(res: SipResponse, ident: MessageIdentity, source: SipEndpoint): void {
    const tx =
      ident.branch === undefined ? undefined : this.clients.get(clientKey(ident.branch, ident.cseqMethod));
    if (tx) {
      tx.receiveResponse(res);
      return;
    }
    // §17.1.3 / §18.1.2: "If there are any client transactions in existence, the client transport
    // uses the matching procedures of Section 17.1.3 ... If there is no match, the response MUST be
    // passed to the core." A UA core may need it (2xx retransmission); a B2BUA drops the rest.
    this.discard('stray_response');
    this.deps.onStrayResponse?.(res, source);
  }

  private receiveRequest(req: SipRequest, ident: MessageIdentity, source: SipEndpoint): void {
    // §8.2 / RFC 4475 §3.1.2.12: a CSeq method unlike the request method is a malformed request.
    if (ident.cseqMethod !== req.method) {
      this.discard('cseq_method_mismatch');
      if (req.method !== 'ACK') this.respondStateless(req, source, 400, 'CSeq Method Mismatch');
      return;
    }
    const match = this.matchServer(req, ident);
    stampReceived(req, source);

    if (req.method === 'ACK') {
      // §17.2.3 matches an ACK to the INVITE server transaction; §17.2.1 / RFC 6026 §8.7 decide
      // what the transaction does with it. An ACK matching nothing is for a 2xx and goes to the
      // core (§13.3.1.4 / §18.2.1: "If no match is found, the request MUST be passed to the core").
      if (match?.tx.kind === 'invite_server') match.tx.receiveAck(req, source);
      else this.deps.onAck(req, source);
      return;
    }
    if (match) {
      match.tx.receiveRequest(req);
      return;
    }
    if (this.serverCount() >= this.maxServers) {
      // RFC 3261 §21.5.4: 503 "The server is temporarily unable to process the request due to a
      // temporary overloading"; no state is kept for it.
      this.discard('overload');
      this.respondStateless(req, source, 503, 'Service Unavailable');
      return;
    }
    if (req.method === 'CANCEL') {
      const cancelTx = this.createServer(req, ident, source, false);
      if (!cancelTx) return;
      this.deps.onCancel(req, this.matchCancelTarget(req, ident), cancelTx, source);
      return;
    }
    // §8.2.2.2: "If the request has no tag in the To header field, the UAS core MUST check the
    // request against ongoing transactions. If the From tag, Call-ID, and CSeq exactly match those
    // associated with an ongoing transaction, but the request does not match that transaction ...
    // the UAS core SHOULD generate a 482 (Loop Detected) response and pass it to the server
    // transaction."
    if (ident.toTag === undefined && this.merge.has(mergeKey(ident))) {
      const tx = this.createServer(req, ident, source, false);
      if (!tx) return;
      this.discard('merged_request');
      tx.respond(createResponse(req, 482, 'Loop Detected', { toTag: generateTag() }));
      return;
    }
    const tx = this.createServer(req, ident, source, ident.toTag === undefined);
    if (tx) this.deps.onRequest(req, tx, source);
  }

  /** The table key of a server transaction (§17.2.3), for a lookup: a transient string. */
  private serverId(req: SipRequest, ident: MessageIdentity, method = req.method): string {
    return hasMagicCookie(ident.branch)
      ? `3261\u0000${serverKey(ident.branch, ident.topVia, method)}`
      : `2543\u0000${rfc2543Key(req, ident, method)}`;
  }

  /** §17.2.3, both the branch rules and the RFC 2543 fallback. */
  private matchServer(req: SipRequest, ident: MessageIdentity): ServerEntry | undefined {
    const entry = this.servers.get(this.serverId(req, ident));
    if (!entry || hasMagicCookie(ident.branch)) return entry;
    if (req.method === 'ACK') {
      // "... and the To tag of the ACK matches the To tag of the response sent by the server transaction."
      const sent = entry.tx.kind === 'invite_server' ? entry.tx.response : undefined;
      const sentTo = sent?.headers.get('to');
      return sentTo !== undefined && getTag(sentTo) === ident.toTag ? entry : undefined;
    }
    return entry.toTag === ident.toTag ? entry : undefined;
  }

  /**
   * §9.2: "the CANCEL ... is matched to the transaction being cancelled using the procedures of
   * Section 17.2.3", the method aside: a CANCEL shares the branch, sent-by (or, for RFC 2543 peers,
   * Request-URI, tags, Call-ID, CSeq number and top Via) of the INVITE it cancels.
   */
  private matchCancelTarget(req: SipRequest, ident: MessageIdentity): InviteServerTransaction | undefined {
    const entry = this.servers.get(this.serverId(req, ident, 'INVITE'));
    if (!entry || entry.tx.kind !== 'invite_server') return undefined;
    if (!hasMagicCookie(ident.branch) && entry.toTag !== ident.toTag) return undefined;
    return entry.tx;
  }

  private createServer(
    req: SipRequest,
    ident: MessageIdentity,
    source: SipEndpoint,
    indexForMerge: boolean,
  ): ServerTransaction | undefined {
    const dest = responseDestination(req, source);
    if (!dest.ok) {
      this.discard('malformed');
      return undefined;
    }
    // Kept for the transaction's life: copies that share no memory with the received text.
    const id = detachString(this.serverId(req, ident));
    const branch = ident.branch === undefined ? undefined : detachString(ident.branch);
    const tx: ServerTransaction =
      req.method === 'INVITE'
        ? new InviteServerTransaction(id, branch, req, source, dest.value, this.ctx, this.passAck)
        : new NonInviteServerTransaction(id, branch, req, source, dest.value, this.ctx);
    const key = indexForMerge ? detachString(mergeKey(ident)) : undefined;
    const toTag =
      hasMagicCookie(ident.branch) || ident.toTag === undefined ? undefined : detachString(ident.toTag);
    this.servers.set(id, { tx, toTag, mergeKey: key });
    if (key !== undefined) this.merge.set(key, tx);
    this.track(tx.kind);
    tx.start();
    return tx;
  }

  private track(kind: TransactionKind): void {
    this.created[kind].inc();
    this.active[kind]++;
  }

  /** RFC 3261 §17.1.1.2: "The client transaction MUST be destroyed the instant it enters the "Terminated" state." */
  private forget(id: string, kind: TransactionKind): void {
    this.active[kind]--;
    switch (kind) {
      case 'invite_client':
      case 'non_invite_client':
        this.clients.delete(id);
        return;
      case 'invite_server':
      case 'non_invite_server': {
        const entry = this.servers.get(id);
        if (!entry || entry.tx.state !== 'terminated') return;
        this.servers.delete(id);
        if (entry.mergeKey !== undefined && this.merge.get(entry.mergeKey) === entry.tx)
          this.merge.delete(entry.mergeKey);
        return;
      }
      default: {
        const never: never = kind;
        return never;
      }
    }
  }

  private timedOut(timer: string): void {
    let handle = this.timeoutsByTimer.get(timer);
    if (!handle) {
      handle = this.timeouts.labels({ timer });
      this.timeoutsByTimer.set(timer, handle);
    }
    handle.inc();
  }

  private discard(reason: DiscardReason): void {
    let handle = this.discards.get(reason);
    if (!handle) {
      handle = this.discardCounter.labels({ reason });
      this.discards.set(reason, handle);
    }
    handle.inc();
  }

  private serverCount(): number {
    return this.active.invite_server + this.active.non_invite_server;
  }
}
