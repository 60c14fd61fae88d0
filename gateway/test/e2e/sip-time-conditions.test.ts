/**
 * Time conditions on the SIP path, with the gateway's own clock: an outbound route scheduled to a
 * time condition is used only in the state it names. A condition open all week makes the
 * `open`-scheduled route carry the call to its trunk (the trunk's 486 comes back) and the
 * `closed`-scheduled one never match (404, no route).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../peers/free-port.ts';
import { startGateway, type GatewayProcess } from '../peers/gateway-process.ts';
import { describeSippResult, runSipp, sippBinary, startSipp, type SippServer } from '../peers/sipp.ts';

const skip = sippBinary() === null ? 'sip-tester (SIPp) is not installed' : false;
const WEEK = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

describe('scheduled outbound routes follow their time condition (SIPp peers)', { skip }, () => {
  let gw: GatewayProcess;
  let trunk: SippServer | undefined;
  let trunkPort: number;

  before(async () => {
    gw = await startGateway({ demo: true });
    trunkPort = await freePort('udp');
    const cfg = (await gw.api<Record<string, unknown>>('GET', '/api/config')).body;
    const put = await gw.api('PUT', '/api/config', {
      ...cfg,
      trunks: [
        {
          id: 'night',
          name: 'cheap-rate carrier',
          members: [{ host: '127.0.0.1', port: trunkPort, transport: 'udp', weight: 1 }],
          probe: { enabled: false, intervalMs: 500, timeoutMs: 400, downAfter: 2, upAfter: 2 },
        },
      ],
      timeConditions: [
        { id: 'always', timeZone: 'Asia/Shanghai', hours: [{ days: WEEK, from: '00:00', to: '24:00' }] },
      ],
      routes: {
        outbound: [
          {
            id: 'when-open',
            pattern: '83.',
            strip: 2,
            trunks: ['night'],
            permission: 'local',
            schedule: { timeCondition: 'always', active: 'open' },
          },
          {
            id: 'when-closed',
            pattern: '82.',
            strip: 2,
            trunks: ['night'],
            permission: 'local',
            schedule: { timeCondition: 'always', active: 'closed' },
          },
        ],
        inbound: [],
      },
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    trunk = await startSipp({ scenario: 'uas-486.xml', localPort: trunkPort, timeoutS: 60 });
  });

  after(async () => {
    await trunk?.stop(500).catch(() => undefined);
    await gw?.stop();
  });

  const dial = async (scenario: string, number: string) =>
    runSipp({
      scenario,
      remote: `127.0.0.1:${gw.sipPort}`,
      localPort: await freePort('udp'),
      calls: 1,
      service: number,
      auth: { username: '1001', password: 'demo1001' },
      keys: { caller: '1001', caller_domain: 'edgeline.local' },
      timeoutS: 20,
    });

  test('the route scheduled for open hours carries the call while the condition is open', async () => {
    const r = await dial('uac-auth-expect-486.xml', '8355501');
    assert.equal(r.exitCode, 0, describeSippResult(r));
  });

  test('the route scheduled for closed hours does not match while the condition is open (404)', async () => {
    const r = await dial('uac-auth-expect-404.xml', '8255501');
    assert.equal(r.exitCode, 0, describeSippResult(r));
    const seen = (await trunk!.stop()).stats?.incomingCalls ?? 0;
    trunk = undefined;
    assert.equal(seen, 1, 'only the open-hours call reached the trunk');
  });
});
