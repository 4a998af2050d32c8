// The migration fuzz (issue 17; test/fuzz/migration.fuzz.ts runs it long, migration-hostile.test.ts
// briefly). One `vgpu host` process (with a token) takes seeded hostile peers one after another: random
// garbage, sections claiming huge lengths, handshakes with mutated, replayed or foreign token proofs,
// and authenticated sources that send damaged, reordered or random sections, then hang up. Every peer must be closed by the host within 5 s, no mutated proof
// accepted, no internal error reported; every 20 peers a real VM moves with the plain run's result.

import { strict as assert } from 'node:assert';
import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { SEC, frameSection, imageDoc, metaDoc, stateDoc } from '../../emulator/checkpoint';
import { migrateVm } from '../../emulator/migration';
import { MIG, jsonSection, streamHeader } from '../../emulator/migration/stream';
import { loadVm } from '../../emulator/program';
import { Peer, proofOf, sectionHead } from './migration-peer';
import { mulberry32 } from './prng';

const ROOT = path.resolve(__dirname, '../..');
const TOKEN = 'fuzz token';
const SMALL =
  '.vm memory=16M\n.map 0x100000, 0x100000, 64K, rw\n.data 0x108000\nout: dword 0\n.ring rcs0\nMI_STORE_DATA_IMM addr=out, data=7\n.submit rcs0\n.wait rcs0\nMI_STORE_DATA_IMM addr=out, data=8\n.submit rcs0\n.wait rcs0\n';
const TAGS = [...Object.values(SEC), ...Object.values(MIG)];

type Rnd = () => number;
const int = (rnd: Rnd, n: number) => Math.floor(rnd() * n);
const bytes = (rnd: Rnd, n: number) => Buffer.from(Array.from({ length: n }, () => int(rnd, 256)));

/** A proof that is not the right one for `nonce`: changed in one of many ways (never left equal). */
function wrongProof(rnd: Rnd, nonce: string, seen: string[]): unknown {
  const right = proofOf(TOKEN, nonce);
  switch (int(rnd, 8)) {
    case 0:
      return seen.length ? seen[int(rnd, seen.length)] : proofOf(TOKEN + 'x', nonce); // replayed
    case 1: {
      const i = int(rnd, 64);
      const d = '0123456789abcdef'.replace(right[i], '')[int(rnd, 15)];
      return right.slice(0, i) + d + right.slice(i + 1);
    }
    case 2:
      return proofOf(TOKEN.slice(0, int(rnd, TOKEN.length)), nonce);
    case 3:
      return right.slice(0, int(rnd, 64));
    case 4:
      return right + bytes(rnd, 1 + int(rnd, 8)).toString('hex');
    case 5:
      return bytes(rnd, 32).toString('hex');
    case 6:
      return [null, 0, 1e308, true, [], {}, right.toUpperCase(), TOKEN][int(rnd, 8)];
    default:
      return proofOf(TOKEN, bytes(rnd, 32).toString('hex')); // right token, another challenge
  }
}

/** The stream an authenticated source sends, damaged: sections dropped, repeated, swapped, bit-flipped, random. */
function damagedStream(rnd: Rnd, good: Buffer[]): Buffer[] {
  const out = [...good];
  for (let k = 1 + int(rnd, 3); k > 0; k--) {
    const i = int(rnd, out.length);
    switch (int(rnd, 6)) {
      case 0:
        out.splice(i, 1);
        break;
      case 1:
        out.splice(i, 0, out[i]);
        break;
      case 2: {
        const j = int(rnd, out.length);
        [out[i], out[j]] = [out[j], out[i]];
        break;
      }
      case 3: {
        const b = Buffer.from(out[i]);
        b[int(rnd, b.length)] ^= 1 << int(rnd, 8);
        out[i] = b;
        break;
      }
      case 4:
        out.splice(i, 0, frameSection(TAGS[int(rnd, TAGS.length)], bytes(rnd, int(rnd, 512))));
        break;
      default:
        out.splice(i, 0, jsonSection(TAGS[int(rnd, TAGS.length)], { round: int(rnd, 1e6), final: rnd() < 0.5 }));
    }
  }
  return out.slice(0, 1 + int(rnd, out.length));
}

interface HostProc {
  child: ChildProcess;
  port: number;
  events: { event: string; reason?: string }[];
}

function spawnHost(): Promise<HostProc> {
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'dist', 'cli.js'), 'host', '--listen', '127.0.0.1:0', '--gen', '3', '--token', TOKEN, '--json'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const events: HostProc['events'] = [];
  let buf = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const e = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        events.push(e);
        if (e.event === 'listening') resolve({ child, port: e.port, events });
      }
    });
    child.on('exit', (code) => reject(new Error(`vgpu host exited (${code})`)));
  });
}

/** A peer past the challenge with `proof`; a host still letting the previous VM go ("busy") is asked again. */
async function greeted(
  port: number,
  vm: ReturnType<typeof loadVm>,
  proof: (nonce: string) => unknown,
): Promise<{ p: Peer; nonce: string; verdict: { accepted: boolean; reason?: string } | null }> {
  for (let tries = 0; ; tries++) {
    const p = await Peer.connect(port);
    const r = await p.hello(vm, proof);
    if (tries < 50 && /busy/.test(r.verdict?.reason ?? '')) {
      await p.end();
      await new Promise((res) => setTimeout(res, 100));
      continue;
    }
    return { p, ...r };
  }
}

/**
 * `peers` seeded hostile peers against a fresh `vgpu host` (dist/cli.js, built), a real move every 20;
 * throws on the first peer not closed in time, a wrong proof accepted, an internal error, a move that
 * fails; otherwise returns a line of counts.
 */
export async function fuzzHost(peers: number, seed: number): Promise<string> {
  const rnd = mulberry32(seed);
  const host = await spawnHost();
  const vm = loadVm('small.vgpu', {}, SMALL);
  const good = [
    frameSection(SEC.META, Buffer.from(JSON.stringify(metaDoc(vm)))),
    frameSection(SEC.IMAGE, Buffer.from(JSON.stringify(imageDoc(vm.image)))),
    frameSection(SEC.STATE, Buffer.from(JSON.stringify(stateDoc(vm)))),
    jsonSection(MIG.ROUND, { round: 0, pages: 0, final: true }),
    frameSection(SEC.META, Buffer.from(JSON.stringify(metaDoc(vm)))),
    frameSection(SEC.STATE, Buffer.from(JSON.stringify(stateDoc(vm)))),
    frameSection(SEC.END, Buffer.alloc(0)),
  ];
  const plain = loadVm('small.vgpu', {}, SMALL);
  plain.run();
  const kinds = { garbage: 0, huge: 0, token: 0, damaged: 0, moves: 0 };
  const seen: string[] = [];
  let slowest = 0;
  const t0 = performance.now();
  try {
    for (let n = 0; n < peers; n++) {
      const kind = int(rnd, 4);
      const what = `peer ${n} (seed ${seed})`;
      const right = (x: string) => proofOf(TOKEN, x);
      let p: Peer;
      if (kind === 0) {
        kinds.garbage++;
        p = await Peer.connect(host.port);
        p.send(Buffer.concat([rnd() < 0.5 ? streamHeader() : Buffer.alloc(0), bytes(rnd, 1 + int(rnd, 8192))]));
      } else if (kind === 1) {
        kinds.huge++;
        if (rnd() < 0.5) {
          const g = await greeted(host.port, vm, right);
          assert.equal(g.verdict?.accepted, true, `${what}: ${g.verdict?.reason}`);
          p = g.p;
        } else {
          p = await Peer.connect(host.port);
          p.send(streamHeader());
        }
        const claim = BigInt(2 ** 16 + int(rnd, 2 ** 30)) * BigInt(1 + int(rnd, 2 ** 30));
        p.send(Buffer.concat([sectionHead(TAGS[int(rnd, TAGS.length)], claim), bytes(rnd, int(rnd, 4096))]));
      } else if (kind === 2) {
        kinds.token++;
        const r = await greeted(host.port, vm, (x: string) => wrongProof(rnd, x, seen));
        p = r.p;
        assert.equal(r.verdict?.accepted, false, `${what}: a wrong proof was accepted`);
        assert.match(r.verdict!.reason!, /^(wrong token|this host requires a token)/, what);
        if (rnd() < 0.5) p.sendVm(vm);
      } else {
        kinds.damaged++;
        const r = await greeted(host.port, vm, right);
        p = r.p;
        assert.equal(r.verdict?.accepted, true, `${what}: ${r.verdict?.reason}`);
        seen.push(proofOf(TOKEN, r.nonce));
        for (const s of damagedStream(rnd, good)) p.send(s);
      }
      const ms = await p.end(5000);
      assert.ok(ms >= 0, `${what}: the host did not close the connection within 5 s`);
      slowest = Math.max(slowest, ms);
      if (n % 20 === 19) {
        kinds.moves++;
        const v = loadVm('small.vgpu', {}, SMALL);
        v.run({ untilCommands: 1 });
        let out = await migrateVm(v, { host: '127.0.0.1', port: host.port, timeoutMs: 10_000, token: TOKEN });
        for (let k = 0; k < 50 && /busy/.test(out.reason ?? ''); k++) {
          await new Promise((res) => setTimeout(res, 100));
          const again = loadVm('small.vgpu', {}, SMALL);
          again.run({ untilCommands: 1 });
          out = await migrateVm(again, { host: '127.0.0.1', port: host.port, timeoutMs: 10_000, token: TOKEN });
        }
        assert.equal(out.status, 'completed', `${what}: the next real VM: ${out.reason}`);
        assert.equal(out.result!.memorySha256, plain.result().memorySha256);
      }
    }
    assert.equal(host.child.exitCode, null, 'the host is still running');
    const internal = host.events.filter((e) => /internal error/.test(e.reason ?? ''));
    assert.deepEqual(internal, [], 'no internal errors');
    // The host reports a VM finished after sending its result: the last report may still be on its way.
    for (let k = 0; k < 100 && host.events.filter((e) => e.event === 'finished').length < kinds.moves; k++)
      await new Promise((res) => setTimeout(res, 50));
    const finished = host.events.filter((e) => e.event === 'finished').length;
    const dropped = host.events.filter((e) => e.event === 'dropped').length;
    const refused = host.events.filter((e) => e.event === 'refused').length;
    assert.ok(finished >= kinds.moves, `${finished} VMs finished, ${kinds.moves} moved`);
    return `${peers} peers (${kinds.garbage} garbage, ${kinds.huge} huge lengths, ${kinds.token} wrong proofs, ${kinds.damaged} damaged streams after the handshake) and ${kinds.moves} real moves: ${dropped} dropped, ${refused} refused, ${finished} VMs finished (damaged streams that were still a valid VM included), slowest close ${slowest.toFixed(0)} ms, 0 internal errors, ${((performance.now() - t0) / 1000).toFixed(1)} s`;
  } finally {
    host.child.kill('SIGTERM');
  }
}
