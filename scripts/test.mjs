#!/usr/bin/env node
// The whole suite: make sure the Debian peers the tests start are installed, then run every
// `*.test.ts` under base/, gateway/, drivers/, scripts/ and hw-tests/ with node's own test runner.
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const debianPeers = [
  ['sipp', 'sip-tester'],
  ['sox', 'sox'],
  ['svmap', 'sipvicious'],
  ['kamailio', 'kamailio'],
  ['baresip', 'baresip'],
  ['espeak-ng', 'espeak-ng'],
];

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

const missing = debianPeers.filter(([cmd]) => !has(cmd)).map(([, pkg]) => pkg);
if (missing.length > 0) {
  const sudo = process.getuid && process.getuid() === 0 ? [] : ['sudo'];
  console.log(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync(
    sudo[0] ?? 'apt-get',
    [...sudo.slice(1), ...(sudo.length ? ['apt-get'] : []), 'update', '-qq'],
    { stdio: 'inherit', env },
  );
  execFileSync(
    sudo[0] ?? 'apt-get',
    [...sudo.slice(1), ...(sudo.length ? ['apt-get'] : []), 'install', '-y', '-qq', ...missing],
    { stdio: 'inherit', env },
  );
}

function findTests(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) findTests(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const filter = process.argv.slice(2);
let files = ['base', 'gateway', 'drivers', 'scripts', 'hw-tests'].flatMap((d) => findTests(d, []));
if (filter.length > 0) files = files.filter((f) => filter.some((x) => f.includes(x)));
files.sort();
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
