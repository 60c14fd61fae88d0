/**
 * Pick up a phone on the simulated PSTN: place a call into the gateway on a simulated line, send
 * digits, play a prompt or a tone, hang up, read what the caller heard. Talks to the running
 * gateway's `/api/sim` endpoints (see drivers/README.md).
 *
 *   node --import tsx scripts/sim-call.ts [--url http://127.0.0.1:8080] <command> …
 *
 *   lines                                   list the simulated lines, numbers and states
 *   call <line> [--from N] [--name S] [--cid fsk-bell202|fsk-v23|dtmf]
 *               [--timing before-ring|after-first-ring] [--to DID] [--wait]
 *   digits <id> <digits>                    send DTMF digits as the caller
 *   play <id> <file.wav>                    play a WAV file (path under the data directory)
 *   tone <id> <hz> [dBm0=-10] [ms=1000]     play a tone
 *   status <id>                             state and recording summary
 *   hangup <id>                             the caller hangs up
 *   faults <line> [fault…]                  set a line's faults (none: clear them)
 */
const argv = process.argv.slice(2);
let base = process.env['EDGELINE_URL'] ?? 'http://127.0.0.1:8080';
const args: string[] = [];
const flags: Record<string, string | true> = {};
for (let i = 0; i < argv.length; i++) {
  const a = argv[i] ?? '';
  if (a.startsWith('--')) {
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--') && a !== '--wait') {
      flags[a.slice(2)] = next;
      i++;
    } else flags[a.slice(2)] = true;
  } else args.push(a);
}
if (typeof flags['url'] === 'string') base = flags['url'];

function usage(): never {
  process.stderr.write(
    'usage: sim-call.ts [--url URL] lines | call <line> [--from N] [--name S] [--cid MODE] [--timing T] [--to DID] [--wait]\n' +
      '       | digits <id> <digits> | play <id> <file.wav> | tone <id> <hz> [dBm0] [ms] | status <id> | hangup <id>\n' +
      '       | faults <line> [no-dial-tone|dead-line|no-caller-id|ring-stops|garbage-audio …]\n',
  );
  process.exit(2);
}

async function api(method: string, path: string, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(new URL(path, base), {
      method,
      ...(body !== undefined
        ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }
        : {}),
    });
  } catch (e) {
    process.stderr.write(`cannot reach ${base}: ${(e as Error).message}\n`);
    process.exit(1);
  }
  const json: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    process.stderr.write(`${res.status}: ${JSON.stringify(json)}\n`);
    process.exit(1);
  }
  return json;
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const [command, a1, a2, a3, a4] = args;
  switch (command) {
    case 'lines':
      print(await api('GET', '/api/sim/lines'));
      return;
    case 'call': {
      if (!a1) usage();
      const line = /^[0-9]{1,2}$/.test(a1) ? Number(a1) : a1;
      const callerId: Record<string, string> = {};
      callerId['number'] = typeof flags['from'] === 'string' ? flags['from'] : '13800138000';
      if (typeof flags['name'] === 'string') callerId['name'] = flags['name'];
      const body: Record<string, unknown> = { line, callerId };
      if (typeof flags['cid'] === 'string') body['cidMode'] = flags['cid'];
      if (typeof flags['timing'] === 'string') body['cidTiming'] = flags['timing'];
      if (typeof flags['to'] === 'string') body['calledNumber'] = flags['to'];
      const call = (await api('POST', '/api/sim/calls', body)) as { id: string; state: string };
      print(call);
      if (flags['wait']) {
        let state = call.state;
        while (state === 'alerting') {
          await sleep(500);
          state = ((await api('GET', `/api/sim/calls/${call.id}`)) as { state: string }).state;
        }
        process.stdout.write(`call ${call.id} is ${state}\n`);
      }
      return;
    }
    case 'digits':
      if (!a1 || !a2) usage();
      print(await api('POST', `/api/sim/calls/${a1}/digits`, { digits: a2 }));
      return;
    case 'play':
      if (!a1 || !a2) usage();
      print(await api('POST', `/api/sim/calls/${a1}/play`, { wav: a2 }));
      return;
    case 'tone':
      if (!a1 || !a2) usage();
      print(
        await api('POST', `/api/sim/calls/${a1}/play`, {
          tone: { frequenciesHz: [Number(a2)], levelDbm0: Number(a3 ?? -10), durationMs: Number(a4 ?? 1000) },
        }),
      );
      return;
    case 'status':
      if (!a1) usage();
      print(await api('GET', `/api/sim/calls/${a1}`));
      return;
    case 'hangup':
      if (!a1) usage();
      print(await api('POST', `/api/sim/calls/${a1}/hangup`));
      return;
    case 'faults':
      if (!a1) usage();
      print(await api('PUT', `/api/sim/lines/${a1}/faults`, { faults: args.slice(2) }));
      return;
    case undefined:
    default:
      usage();
  }
}

await main();
