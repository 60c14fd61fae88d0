import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ServiceLegHandle } from '../../../src/media/engine/engine.ts';
import { MixRooms, type MonitoredCall } from '../../../src/media/mix/mix-rooms.ts';
import type { ToWorker } from '../../../src/media/worker/worker-protocol.ts';

function engine(workers = 2, call?: MonitoredCall) {
  const posted: Array<{ worker: number; m: ToWorker }> = [];
  const load = new Array<number>(workers).fill(0);
  let nextLeg = 100;
  const handle = (): ServiceLegHandle => ({
    rtpPort: 0,
    wired: false,
    opened: () => Promise.resolve(true),
    start: () => undefined,
    setRemote: () => undefined,
    close: () => Promise.resolve(),
    dump: () => ({ localPort: 0, latched: false, target: null, counters: {} }),
  });
  const rooms = new MixRooms({
    post: (worker, m) => posted.push({ worker, m }),
    openLeg: (_key, prefer) => {
      let w = 0;
      for (let i = 1; i < workers; i++) if ((load[i] ?? 0) < (load[w] ?? 0)) w = i;
      if (prefer !== undefined) w = prefer;
      load[w] = (load[w] ?? 0) + 1;
      return { leg: { legId: nextLeg++, worker: w }, handle: handle() };
    },
    callOf: (ext) => (call && ext === '1002' ? call : undefined),
  });
  const mixCmds = () => posted.flatMap((p) => (p.m.t === 'mix' ? [{ worker: p.worker, ...p.m.cmd }] : []));
  return { rooms, load, posted, mixCmds };
}

const plan = { remote: undefined, law: 'pcmu' as const, audioPayloadType: 0, telephoneEventPayloadType: 101 };

describe('mix rooms (engine side)', () => {
  test('every member of a conference lands in the worker the first member got, whatever the load', () => {
    const { rooms, load, mixCmds } = engine();
    load[0] = 10; // worker 1 is the least loaded
    for (let i = 0; i < 3; i++) {
      const j = rooms.joinConference('*50', `c${i}`);
      assert.ok(j.ok);
      j.handle.start(plan);
      load[1] = 50; // later members follow the room, not the load
    }
    assert.deepEqual(
      mixCmds().map((c) => c.worker),
      [1, 1, 1],
    );
  });

  test('a caller beyond maxParties is refused with 486; a place freed is taken again; the last out closes the room', async () => {
    const { rooms, mixCmds } = engine();
    const a = rooms.joinConference('*51', 'a', 2);
    const b = rooms.joinConference('*51', 'b', 2);
    assert.ok(a.ok && b.ok);
    const c = rooms.joinConference('*51', 'c', 2);
    assert.deepEqual(c.ok ? null : c.status, 486);
    await a.handle.close();
    assert.ok(rooms.joinConference('*51', 'd', 2).ok);
    await b.handle.close();
    assert.equal(mixCmds().at(-1)?.op, 'leave');
  });

  test('monitor: 404 without an active call; legs join the call’s worker; digits 5/6/4 switch the mode; the call ending hangs up the supervisor', () => {
    assert.equal(engine().rooms.startMonitor('s', '1002', 'listen', () => undefined).ok, false);
    const call = { callKey: 'k', worker: 1, agentLegId: 1, otherLegId: 2 };
    const { rooms, mixCmds } = engine(2, call);
    let hungUp = 0;
    const j = rooms.startMonitor('s', '1002', 'listen', () => hungUp++);
    assert.ok(j.ok);
    j.handle.start(plan);
    const joins = mixCmds().filter((c) => c.op === 'join');
    assert.deepEqual(
      joins.map((c) => [c.worker, c.op === 'join' ? c.role : '']),
      [
        [1, 'party'],
        [1, 'party'],
        [1, 'listen'],
      ],
    );
    const sup = joins[2]?.op === 'join' ? joins[2].legId : -1;
    assert.equal(
      rooms.startMonitor('s2', '1002', 'barge', () => undefined).ok,
      false,
      'one supervisor per call',
    );
    assert.ok(rooms.onDigit(sup, '5'));
    assert.deepEqual(mixCmds().at(-1), { worker: 1, op: 'role', legId: sup, role: 'whisper', whisperTo: 1 });
    assert.ok(rooms.onDigit(sup, '6'));
    assert.equal(rooms.onDigit(sup, '9'), false);
    assert.equal(rooms.onDigit(1, '4'), false, 'digits of the monitored parties are theirs');
    rooms.onCallReleased('k');
    assert.equal(hungUp, 1);
    assert.deepEqual(mixCmds().at(-1), { worker: 1, op: 'close', roomId: 'monitor:s' });
  });
});
