/**
 * A relay worker thread: owns the sockets of the legs the engine assigns to it and runs their
 * forwarding hot path, off the signalling thread. Control arrives by `postMessage`
 * (worker-protocol.ts); events (latched, dead media, stats) go back the same way.
 */
import { createSocket, type Socket } from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';
import { RelayLeg, type RelayLegEvents } from './relay-leg.ts';
import type { FromWorker, ToWorker } from './worker-protocol.ts';

export interface MediaWorkerData {
  /** How often silence is accounted for dead-media detection. */
  sweepMs: number;
  connectAfterLatch: boolean;
}

const port = parentPort;
if (!port) throw new Error('media-worker.ts runs only as a worker thread');
const data = workerData as MediaWorkerData;
const legs = new Map<number, RelayLeg>();
const post = (m: FromWorker): void => port.postMessage(m);

const events: RelayLegEvents = {
  latched: (leg, kind, source) =>
    post({ t: 'latched', legId: leg.legId, kind, address: source.address, port: source.port }),
};

function bindOne(host: string, p: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' });
    let bound = false;
    s.on('error', (e) => {
      // Before bind: the port is taken. After: an ICMP error on send must not kill the worker.
      if (!bound) {
        try {
          s.close();
        } catch {
          // never bound
        }
        reject(e);
      }
    });
    s.bind(p, host, () => {
      bound = true;
      resolve(s);
    });
  });
}

async function open(legId: number, host: string, p: number): Promise<void> {
  let rtp: Socket | undefined;
  try {
    rtp = await bindOne(host, p);
    const rtcp = await bindOne(host, p + 1);
    legs.set(legId, new RelayLeg(legId, p, rtp, rtcp, events, { connectAfterLatch: data.connectAfterLatch }));
    post({ t: 'opened', legId, ok: true });
  } catch (e) {
    rtp?.close();
    post({ t: 'opened', legId, ok: false, error: (e as Error).message });
  }
}

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'open':
      void open(m.legId, m.host, m.port);
      return;
    case 'remote':
      legs.get(m.legId)?.setRemote(m.rtp, m.rtcp);
      return;
    case 'bridge': {
      const a = legs.get(m.a);
      const b = legs.get(m.b);
      if (a && b) {
        a.peer = b;
        b.peer = a;
      }
      return;
    }
    case 'codecs':
      legs.get(m.legId)?.setCodecs(m.pcmu, m.pcma, m.telephoneEvent, m.sendLaw);
      return;
    case 'watch': {
      const leg = legs.get(m.legId);
      if (leg) leg.deadMediaMs = m.deadMediaMs;
      return;
    }
    case 'close': {
      const leg = legs.get(m.legId);
      legs.delete(m.legId);
      if (!leg) post({ t: 'closed', legId: m.legId });
      else void leg.close().then(() => post({ t: 'closed', legId: m.legId }));
      return;
    }
    case 'stats':
      post({ t: 'stats', requestId: m.requestId, legs: [...legs.values()].map((l) => l.stats()) });
      return;
    default: {
      const never: never = m;
      throw new Error(`unknown media worker message ${JSON.stringify(never)}`);
    }
  }
});

const sweep = setInterval(() => {
  for (const leg of legs.values())
    if (leg.sweep(data.sweepMs)) post({ t: 'dead', legId: leg.legId, silentMs: leg.silenceMs });
  // Unsolicited statistics (request 0) keep the engine's dump current.
  if (legs.size > 0) post({ t: 'stats', requestId: 0, legs: [...legs.values()].map((l) => l.stats()) });
}, data.sweepMs);
sweep.unref();

post({ t: 'ready' });
