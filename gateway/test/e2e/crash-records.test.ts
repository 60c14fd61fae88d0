/**
 * Crash-safe records: 20 answered, recorded calls (SIPp 1001 → SIPp 1002 through the gateway,
 * `media.recording: 'all'`), then `kill -9` of the gateway and a restart on the same data
 * directory. Every interaction was stored at its answer, so each has exactly one record, closed
 * as interrupted at the records clock's last time (at most a second before the kill), with both
 * its legs and a playable recording; the phone registered before the crash is reached without
 * registering again; a second restart closes nothing twice.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoConfig } from '../../src/store/demo-config.ts';
import { startGateway, type GatewayProcess } from '../peers/gateway-process.ts';
import { freePort } from '../peers/free-port.ts';
import {
  describeSippResult,
  registerDemoExtension,
  runSipp,
  sippBinary,
  startSipp,
  type SippServer,
} from '../peers/sipp.ts';
import { readStereoWav } from '../media/recording-fixtures.ts';

const skip = sippBinary() === null ? 'sip-tester (SIPp) is not installed' : false;
const CALLS = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Interaction {
  interactionId: string;
  state: string;
  startedAt: string;
  answeredAt?: string;
  endedAt?: string;
  legs?: number;
}
interface Leg {
  legId: string;
  interactionId: string;
  direction: string;
  state: string;
  endedAt?: string;
  hangupCause?: string;
  extra?: { recording?: string };
}

describe('records survive kill -9', { skip }, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'edgeline-crash-'));
  let gw: GatewayProcess | undefined;
  let callee: SippServer | undefined;

  before(() => {
    const cfg = demoConfig();
    cfg.media.recording = 'all';
    writeFileSync(join(dataDir, 'config.json'), JSON.stringify(cfg, null, 2));
  });

  after(async () => {
    await callee?.stop(500);
    await gw?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const interactions = async (g: GatewayProcess) =>
    (await g.api<{ interactions: Interaction[] }>('GET', '/api/interactions?limit=100&state=all')).body
      .interactions;

  test('20 answered calls: after kill -9 and a restart, each has one interrupted record, its legs and a playable recording', async (t) => {
    gw = await startGateway({ dataDir });
    const calleePort = await freePort('udp');
    await registerDemoExtension(`127.0.0.1:${gw.sipPort}`, calleePort, '1002');
    callee = await startSipp({ scenario: 'uas.xml', localPort: calleePort, timeoutS: 120 });
    const calls = runSipp({
      scenario: 'uac-auth.xml',
      remote: `127.0.0.1:${gw.sipPort}`,
      localPort: await freePort('udp'),
      service: '1002',
      calls: CALLS,
      rate: 10,
      holdMs: 60_000,
      auth: { username: '1001', password: 'demo1001' },
      keys: { caller: '1001', caller_domain: 'edgeline.local' },
      traceMessages: false,
      timeoutS: 20,
    });
    let open: Interaction[] = [];
    for (const end = Date.now() + 10_000; Date.now() < end; await sleep(200)) {
      open = (await interactions(gw)).filter((i) => i.state === 'open');
      if (open.length === CALLS) break;
    }
    assert.equal(open.length, CALLS, 'each answered call is stored at once, open');
    // Audio for a while, then the crash.
    await sleep(2500);
    const killedAt = Date.now();
    gw.proc.kill('SIGKILL');
    await new Promise((r) => gw?.proc.once('exit', r));
    await calls;

    const restarted = await startGateway({ dataDir });
    gw = restarted;
    const reopened = (await interactions(gw)).filter((i) =>
      open.some((o) => o.interactionId === i.interactionId),
    );
    assert.equal(reopened.length, CALLS, 'exactly one record per interaction');
    const lastKnown = reopened.map((i) => Date.parse(i.endedAt ?? ''));
    t.diagnostic(
      `interrupted ${reopened.filter((i) => i.state === 'interrupted').length}/${CALLS}; ` +
        `ended ${killedAt - Math.min(...lastKnown)}–${killedAt - Math.max(...lastKnown)} ms before the kill`,
    );
    for (const i of reopened) {
      assert.equal(i.state, 'interrupted', JSON.stringify(i));
      assert.ok(Date.parse(i.endedAt ?? '') <= killedAt && killedAt - Date.parse(i.endedAt ?? '') <= 2000);
      const legs: Leg[] = (
        await gw.api<{ cdrs: Leg[] }>('GET', `/api/cdrs?interaction=${i.interactionId}&state=all`)
      ).body.cdrs;
      assert.deepEqual(legs.map((l) => [l.direction, l.state, l.hangupCause]).sort(), [
        ['inbound', 'interrupted', 'interrupted'],
        ['outbound', 'interrupted', 'interrupted'],
      ]);
      const file = legs.find((l) => l.direction === 'inbound')?.extra?.recording ?? '';
      assert.ok(existsSync(file), `the recording ${file}`);
      const wav = readStereoWav(file);
      assert.ok(wav.left.length >= 8000, `${file}: ${(wav.left.length / 8000).toFixed(2)} s playable`);
    }

    // The phone registered before the crash is reached, without a new REGISTER.
    const reached = await runSipp({
      scenario: 'uac-auth.xml',
      remote: `127.0.0.1:${gw.sipPort}`,
      localPort: await freePort('udp'),
      service: '1002',
      calls: 1,
      holdMs: 300,
      auth: { username: '1001', password: 'demo1001' },
      keys: { caller: '1001', caller_domain: 'edgeline.local' },
      timeoutS: 15,
    });
    assert.equal(reached.exitCode, 0, describeSippResult(reached));

    // A second start closes nothing again.
    await gw.stop();
    gw = await startGateway({ dataDir });
    const again = (await interactions(gw)).filter((i) =>
      open.some((o) => o.interactionId === i.interactionId),
    );
    assert.deepEqual(
      again.map((i) => [i.state, i.endedAt]),
      reopened.map((i) => [i.state, i.endedAt]),
    );
  });
});
