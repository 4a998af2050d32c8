// `vgpu host` against hostile and dying peers, on loopback only: an unauthenticated peer makes it
// buffer no more than a hello, a peer trickling sections loses the transfer slot on a progress
// deadline, wrong, mutated and replayed token proofs are refused before any VM state, a section claiming
// more than its limit is refused at its header, and after every dropped or killed source the host takes
// the next VM.

import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { SEC, imageDoc, metaDoc, stateDoc } from '../../emulator/checkpoint';
import { VmHost, migrateVm } from '../../emulator/migration';
import { MIG, jsonSection, streamHeader } from '../../emulator/migration/stream';
import { frameSection } from '../../emulator/checkpoint';
import { loadVm } from '../../emulator/program';
import { fuzzHost } from '../helpers/migration-fuzz';
import { Peer, helloSection, proofOf, sectionHead } from '../helpers/migration-peer';

const ROOT = path.resolve(__dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vgpu-mig-hostile-'));
const SMALL =
  '.vm memory=16M\n.map 0x100000, 0x100000, 64K, rw\n.data 0x108000\nout: dword 0\n.ring rcs0\nMI_STORE_DATA_IMM addr=out, data=7\n.submit rcs0\n.wait rcs0\nMI_STORE_DATA_IMM addr=out, data=8\n.submit rcs0\n.wait rcs0\n';

interface Watched {
  host: VmHost;
  port: number;
  dropped: string[];
  finished: number;
}

async function watchedHost(
  o: { idleTimeoutMs?: number; minBytesPerSecond?: number; token?: string } = {},
): Promise<Watched> {
  const host = new VmHost({ gen: 3, idleTimeoutMs: 2_000, ...o });
  const w: Watched = { host, port: 0, dropped: [], finished: 0 };
  host.on('dropped', (_p, reason) => w.dropped.push(reason));
  host.on('finished', () => w.finished++);
  w.port = (await host.listen()).port;
  return w;
}

/** A real move of SMALL to the host: it must complete with the plain run's result. */
async function realMove(port: number, token?: string): Promise<void> {
  const plain = loadVm('small.vgpu', {}, SMALL);
  plain.run();
  const vm = loadVm('small.vgpu', {}, SMALL);
  vm.run({ untilCommands: 1 });
  const out = await migrateVm(vm, { host: '127.0.0.1', port, timeoutMs: 10_000, token });
  assert.equal(out.status, 'completed', out.reason);
  assert.equal(out.result!.memorySha256, plain.result().memorySha256);
}

/** A raw TCP peer: what it received, and a promise of its close. */
function rawPeer(port: number): Promise<{ sock: net.Socket; received: () => Buffer; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const t0 = performance.now();
    const sock = net.connect(port, '127.0.0.1', () => resolve({ sock, received: () => Buffer.concat(chunks), closed }));
    const closed = new Promise<number>((r) => sock.on('close', () => r(performance.now() - t0)));
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', () => undefined);
    sock.once('error', reject);
  });
}

describe('vgpu host against hostile and dying peers (loopback)', function () {
  this.timeout(60_000);

  it('before the handshake, a section claiming more than a hello is refused at its header; the host stays ready', async () => {
    const w = await watchedHost();
    try {
      for (const [tag, bytes] of [
        [MIG.HELLO, 100 * 1024 * 1024],
        [SEC.IMAGE, 2 ** 31],
        [SEC.PAGES, 65 * 1024],
      ] as const) {
        const p = await rawPeer(w.port);
        const head = Buffer.alloc(12);
        head.write(tag, 0, 4, 'latin1');
        head.writeBigUInt64LE(BigInt(bytes), 4);
        p.sock.write(Buffer.concat([streamHeader(), head, Buffer.alloc(1024)]));
        const ms = await p.closed;
        assert.ok(ms < 5_000, `closed after ${ms} ms`);
        assert.match(p.received().toString('latin1'), /before the handshake/, 'the peer is told why');
      }
      assert.equal(w.dropped.length, 3);
      for (const d of w.dropped) assert.match(d, /at most 65536 before the handshake/);
      await realMove(w.port);
    } finally {
      await w.host.close();
    }
  });

  it('garbage instead of a stream is dropped with a message; the next VM moves', async () => {
    const w = await watchedHost();
    try {
      for (const junk of [
        Buffer.from('GET / HTTP/1.1\r\n\r\n'),
        Buffer.alloc(4096, 0xff),
        Buffer.concat([streamHeader(), Buffer.from('XXXX\0\0\0\0\0\0\0\0')]),
      ]) {
        const p = await rawPeer(w.port);
        p.sock.write(junk);
        const ms = await p.closed;
        assert.ok(ms < 5_000, `closed after ${ms} ms`);
      }
      assert.equal(w.dropped.length, 3, w.dropped.join('\n'));
      await realMove(w.port);
    } finally {
      await w.host.close();
    }
  });

  it('wrong, mutated and replayed token proofs are refused before any VM state; the host stays ready', async () => {
    const token = 'open sesame';
    const w = await watchedHost({ token });
    try {
      const vm = loadVm('small.vgpu', {}, SMALL);
      // A peer that knows the token: accepted; it then hangs up. Its proof is what an eavesdropper saw.
      const first = await Peer.connect(w.port);
      const ok = await first.hello(vm, (nonce: string) => proofOf(token, nonce));
      assert.equal(ok.verdict?.accepted, true, ok.verdict?.reason);
      const seen = proofOf(token, ok.nonce);
      assert.ok((await first.end()) >= 0, 'the host lets the dead source go');
      const flip = (p: string, i: number) => p.slice(0, i) + (p[i] === '0' ? '1' : '0') + p.slice(i + 1);
      const proofs: [string, unknown][] = [
        ['replayed', () => seen],
        ['the proof of another token', (n: string) => proofOf('open barley', n)],
        ['the first digit flipped', (n: string) => flip(proofOf(token, n), 0)],
        ['the last digit flipped', (n: string) => flip(proofOf(token, n), 63)],
        ['upper case', (n: string) => proofOf(token, n).toUpperCase()],
        ['cut short', (n: string) => proofOf(token, n).slice(0, 63)],
        ['one digit more', (n: string) => proofOf(token, n) + '0'],
        ['the token itself', () => token],
        ['a number', () => 42],
        ['an object', (n: string) => ({ proof: proofOf(token, n) })],
        ['an empty string', () => ''],
      ];
      for (const [what, proof] of proofs) {
        const p = await Peer.connect(w.port);
        const r = await p.hello(vm, proof);
        assert.notEqual(r.nonce, ok.nonce, 'a fresh challenge each time');
        assert.deepEqual(
          r.verdict && { accepted: r.verdict.accepted, reason: r.verdict.reason },
          {
            accepted: false,
            reason: 'wrong token',
          },
          what,
        );
        // Nothing of the VM is taken: the host closes without reading it.
        p.sendVm(vm);
        assert.ok((await p.end()) >= 0, `${what}: the host closes the connection`);
      }
      const none = await Peer.connect(w.port);
      assert.match((await none.hello(vm, null)).verdict!.reason!, /requires a token/);
      await none.end();
      await realMove(w.port, token);
    } finally {
      await w.host.close();
    }
  });

  it('after the handshake, a section claiming more than its limit is refused at its header, at once', async () => {
    const w = await watchedHost();
    try {
      const vm = loadVm('small.vgpu', {}, SMALL);
      for (const [tag, bytes, before] of [
        [SEC.META, 2n ** 40n, false],
        [SEC.IMAGE, 2n ** 64n - 1n, false],
        [SEC.PAGES, 300n * 1024n * 1024n, true],
        [MIG.ROUND, 1n << 20n, true],
      ] as const) {
        const p = await Peer.connect(w.port);
        assert.equal((await p.hello(vm, null)).verdict?.accepted, true);
        if (before) p.sendVm(vm);
        p.send(Buffer.concat([sectionHead(tag, bytes), Buffer.alloc(4096)]));
        const ms = await Promise.race([p.closed, new Promise<number>((r) => setTimeout(() => r(-1), 5000))]);
        assert.ok(ms >= 0, `${tag} claiming ${bytes} bytes: the host closed the connection`);
        assert.match(w.dropped.at(-1) ?? '', new RegExp(`section ${tag.replace('.', '\\.')} claims ${bytes} bytes`));
      }
      assert.equal(w.dropped.length, 4, w.dropped.join('\n'));
      await realMove(w.port);
    } finally {
      await w.host.close();
    }
  });

  it('a source trickling round marks (slowloris) is dropped on the progress deadline, then the host takes the next VM', async () => {
    const w = await watchedHost({ idleTimeoutMs: 1_000, minBytesPerSecond: 1_000 });
    try {
      const vm = loadVm('small.vgpu', {}, SMALL);
      const p = await rawPeer(w.port);
      p.sock.write(streamHeader());
      p.sock.write(helloSection(vm, null));
      p.sock.write(frameSection(SEC.META, Buffer.from(JSON.stringify(metaDoc(vm)))));
      p.sock.write(frameSection(SEC.IMAGE, Buffer.from(JSON.stringify(imageDoc(vm.image)))));
      p.sock.write(frameSection(SEC.STATE, Buffer.from(JSON.stringify(stateDoc(vm)))));
      // A small section every 300 ms: each comes well inside the idle timeout, but the bytes are too few.
      let marks = 0;
      const timer = setInterval(
        () =>
          p.sock.writable &&
          (marks++, p.sock.write(jsonSection(MIG.ROUND, { round: 0, pages: 0, final: false, sync: true }))),
        300,
      );
      // Meanwhile a second VM is refused as busy.
      const busy = loadVm('small.vgpu', {}, SMALL);
      const refused = await migrateVm(busy, { host: '127.0.0.1', port: w.port, timeoutMs: 10_000 });
      assert.notEqual(refused.status, 'completed');
      const ms = await p.closed;
      clearInterval(timer);
      assert.ok(marks >= 3, `${marks} marks sent: each came inside the idle timeout`);
      assert.ok(ms < 15_000, `held the slot for ${ms} ms`);
      assert.ok(
        w.dropped.some((d) => /too little progress/.test(d)),
        w.dropped.join('\n'),
      );
      await realMove(w.port);
    } finally {
      await w.host.close();
    }
  });

  it('a source killed mid-transfer (SIGKILL) leaves the host ready for the next VM', async () => {
    const w = await watchedHost({ idleTimeoutMs: 5_000 });
    try {
      // 32 MiB of non-zero guest pages: the transfer is under way when the source dies.
      const file = path.join(tmp, 'big.vgpu');
      fs.writeFileSync(
        file,
        '.vm memory=64M\n.map 0x100000, 0x100000, 32M, rw\n.fill 0x100000, 32M, 0x5a5a5a5a\n.data 0x2200000\nout: dword 0\n.map 0x2200000, 0x2200000, 4K, rw\n.ring rcs0\nMI_STORE_DATA_IMM addr=out, data=1\n.submit rcs0\n.wait rcs0\nMI_STORE_DATA_IMM addr=out, data=2\n.submit rcs0\n.wait rcs0\n',
      );
      const accepted = new Promise<void>((r) => w.host.on('accepted', () => r()));
      const child = spawn(
        process.execPath,
        [path.join(ROOT, 'dist', 'cli.js'), 'run', file, '--migrate-at', '1', '--to', `127.0.0.1:${w.port}`],
        { stdio: 'ignore' },
      );
      const exited = new Promise<void>((r) => child.on('exit', () => r()));
      await accepted;
      child.kill('SIGKILL');
      await exited;
      const t0 = performance.now();
      while (w.dropped.length === 0 && performance.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
      assert.equal(w.dropped.length, 1, 'the dead source is dropped');
      assert.equal(w.finished, 0);
      await realMove(w.port);
      assert.equal(w.finished, 1);
    } finally {
      await w.host.close();
    }
  });
});

describe('vgpu host against seeded hostile peers (the migration fuzz, briefly)', function () {
  this.timeout(120_000);

  it('80 peers: garbage, huge lengths, wrong proofs, damaged streams; each closed in time, real moves between them', async () => {
    await fuzzHost(80, 0x17);
  });
});
