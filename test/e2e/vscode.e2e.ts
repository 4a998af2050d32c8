// End to end in a real VS Code (code-server 4.100.3 in Debian's Chromium): install the built .vsix, open
// examples/, debug them with F5 and check what a person sees; screenshots go to docs/screenshots/.

import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser } from 'playwright-core';
import { PNG } from 'pngjs';
import { startCodeServer, type CodeServer } from './codeServer';
import { Workbench, launchBrowser } from './workbench';

const ROOT = path.resolve(__dirname, '../..');
const WORK = path.join(__dirname, '.work');
const WORKSPACE = path.join(WORK, 'examples');
const SHOTS = path.join(WORK, 'screenshots');
/** The screenshots the README shows. */
const README_SHOTS = path.join(ROOT, 'docs', 'screenshots');
const VSIX = process.env.VGPU_VSIX ?? path.join(ROOT, 'vgpu-debug.vsix');

/** 1-based line of the first line of an example containing `text` after line `after` (the tests follow the examples' edits). */
function lineOf(file: string, text: string, after = 0): number {
  const i = fs
    .readFileSync(path.join(ROOT, 'examples', file), 'utf8')
    .split('\n')
    .findIndex((l, n) => n >= after && l.includes(text));
  assert.ok(i >= 0, `${file} has a line with ${text}`);
  return i + 1;
}

/** The port a server child prints once it listens (it was started on port 0). */
function listeningPort(child: ChildProcess, pattern: RegExp): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d;
      const m = pattern.exec(out);
      if (m) resolve(Number(m[1]));
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', () => reject(new Error(`server exited before listening: ${out}`)));
  });
}

const hex = (rgb: number) => `0x${rgb.toString(16).padStart(6, '0')}`;

describe('vgpu-debug in VS Code (code-server)', function () {
  this.timeout(120_000);
  let server: CodeServer;
  let browser: Browser;
  let wb: Workbench;

  before(async () => {
    assert.ok(fs.existsSync(VSIX), `${VSIX} exists (npm run package)`);
    // The workspace is a fresh copy of examples/: nothing the test does touches the real folder.
    fs.rmSync(WORKSPACE, { recursive: true, force: true });
    fs.cpSync(path.join(ROOT, 'examples'), WORKSPACE, { recursive: true });
    // The long-run test's program, in place before the workbench indexes the folder.
    fs.copyFileSync(path.join(ROOT, 'test', 'adapter', 'programs', 'spin.vgpu'), path.join(WORKSPACE, 'spin.vgpu'));
    server = await startCodeServer({ work: path.join(WORK, 'code-server'), vsix: VSIX, folder: WORKSPACE });
    browser = await launchBrowser();
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && wb) {
      const file = await wb.screenshot(`FAILED ${this.currentTest.title}`.replace(/[^\w.-]+/g, '-'));
      console.log(`      screenshot of the failure: ${file}`);
    }
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  async function openWorkbench(): Promise<Workbench> {
    if (!wb) wb = await Workbench.open(browser, server.url, SHOTS, README_SHOTS);
    return wb;
  }

  describe('picture.vgpu', () => {
    const file = 'picture.vgpu';

    it('F5 with no launch.json starts debugging and pauses on entry', async () => {
      await openWorkbench();
      await wb.openFile(file);
      await wb.startDebugging();
      const at = await wb.pausedLine();
      assert.equal(at.file, file);
      assert.equal(at.line, lineOf(file, '.ring bcs0'), 'paused at the first driver operation');
      await wb.screenshot('paused-on-entry');
    });

    it('a breakpoint in the batch: the call stack shows the batch over the ring', async () => {
      const bp = lineOf(file, 'XY_SRC_COPY_BLT dst=canvas, x1=16');
      await wb.toggleBreakpoint(bp);
      await wb.page.keyboard.press('F5');
      await wb.until(
        'paused at the breakpoint',
        () => wb.pausedLine(),
        (p) => p.line === bp,
      );
      const stack = await wb.until(
        'the bcs0 stack',
        () => wb.callStack(),
        (rows) => rows.some((r) => r.includes(`${file} ${bp}:`)),
      );
      const top = stack.findIndex((r) => r.includes(`${file} ${bp}:`));
      assert.match(stack[top], /^XY_SRC_COPY_BLT @ draw\b/, `the batch frame: the command in its batch: ${stack[top]}`);
      assert.ok(
        stack.slice(0, top).some((r) => /bcs0/.test(r)),
        `thread bcs0 above: ${stack.join(' | ')}`,
      );
      assert.ok(
        stack[top + 1]?.includes(`${file} ${lineOf(file, 'MI_BATCH_BUFFER_START addr=draw')}:`),
        `the ring below the batch: ${stack.join(' | ')}`,
      );
      for (const v of ['Watch', 'Breakpoints']) await wb.collapseView(v);
      await wb.until(
        'the Command scope in Variables',
        () => wb.viewRows('Variables'),
        (r) => r.some((x) => x.startsWith('command')),
      );
      await wb.screenshot('call-stack', { readme: true });
    });

    it('Step Over then Step Back: back to the same command', async () => {
      const bp = lineOf(file, 'XY_SRC_COPY_BLT dst=canvas, x1=16');
      await wb.selectFrame('XY_SRC_COPY_BLT @ draw');
      await wb.page.keyboard.press('F10');
      await wb.until(
        'Step Over to the next command',
        () => wb.pausedLine(),
        (p) => p.line === bp + 1,
      );
      await wb.toolbar('debug-step-back');
      await wb.until(
        'Step Back to the command before',
        () => wb.pausedLine(),
        (p) => p.line === bp,
      );
      assert.ok(
        await wb.page.locator('.debug-toolbar .codicon-debug-reverse-continue').isVisible(),
        'a Reverse Continue button',
      );
    });

    it('Jump to Cursor travels in time: forward to a later line, then back to an earlier one', async () => {
      const stamp = lineOf(file, 'XY_SRC_COPY_BLT dst=canvas, x1=16');
      const sun = lineOf(file, 'x1=200, y1=12');
      await wb.gotoLine(sun);
      await wb.command('Debug: Jump to Cursor');
      await wb.pick('Forward in time');
      await wb.until(
        'forward at the sun',
        () => wb.pausedLine(),
        (p) => p.line === sun,
      );
      await wb.gotoLine(stamp);
      await wb.command('Debug: Jump to Cursor');
      await wb.pick('Back in time');
      await wb.until(
        'back at the first stamp',
        () => wb.pausedLine(),
        (p) => p.line === stamp,
      );
    });

    it('the Disassembly view shows the batch commands at their GPU addresses', async () => {
      await wb.command('Open Disassembly View');
      const rows = await wb.until(
        'disassembly rows',
        () =>
          wb.page
            .locator('.disassembly-view .monaco-list-row')
            .evaluateAll((rs) => rs.map((r) => (r as HTMLElement).innerText.replace(/\s+/g, ' '))),
        (r) => r.some((x) => /XY_SRC_COPY_BLT/.test(x)),
      );
      assert.ok(
        rows.some((r) => /0x0*100070.*XY_SRC_COPY_BLT/i.test(r)),
        rows.join('\n'),
      );
      await wb.screenshot('disassembly');
      await wb.command('View: Close Editor'); // the Disassembly view is the active editor
      await wb.page.locator('.disassembly-view').waitFor({ state: 'detached' });
    });

    it('Capability Registers and Snapshots views show the VM', async () => {
      await wb.collapseView('Watch');
      await wb.collapseView('Breakpoints');
      const caps = await wb.until(
        'capability registers',
        () => wb.viewRows('Capability Registers'),
        (r) => r.some((x) => x.startsWith('Host generation')),
      );
      assert.ok(
        caps.some((r) => /^Host generation 3 device version \d exposed to the VM/.test(r)),
        caps.join('\n'),
      );
      assert.ok(
        caps.some((r) => /physical 0x[0-9a-f]+ · exposed 0x[0-9a-f]+/.test(r)),
        caps.join('\n'),
      );
      const snaps = await wb.until(
        'snapshots',
        () => wb.viewRows('Snapshots'),
        (r) => r.length > 1,
      );
      assert.ok(
        snaps.some((r) => /^now at \d+ commands/.test(r)),
        snaps.join('\n'),
      );
      assert.ok(
        snaps.some((r) => /^#\d+ at \d+ commands? .*pages? ·/.test(r)),
        snaps.join('\n'),
      );
      await wb.screenshot('capability-registers');
    });

    it('Translate Address... walks the PPGTT and then EPT in the Page Tables view', async () => {
      for (const v of ['Variables', 'Call Stack', 'Snapshots', 'Capability Registers']) await wb.collapseView(v);
      await wb.command('vGPU: Translate Address...');
      await wb.answer('Translate Address', '0x1000000');
      const rows = await wb.until(
        'a walk',
        () => wb.viewRows('Page Tables'),
        (r) => r.some((x) => x.startsWith('VA 0x1000000')),
      );
      assert.ok(
        rows.some((r) => /^VA 0x1000000 → GPA 0x400000 → HPA 0x[0-9a-f]+/.test(r)),
        rows.join('\n'),
      );
      for (const level of ['PPGTT', 'PML4 [0]', 'PDPT [0]', 'PD [8]', 'PT [0]', 'EPT (full view)']) {
        assert.ok(
          rows.some((r) => r.startsWith(level)),
          `${level} in\n${rows.join('\n')}`,
        );
      }
      await wb.screenshot('page-tables', { readme: true });
      for (const v of ['Variables', 'Call Stack']) await wb.expandView(v);
    });

    it('the Surface webview shows the picture, and Step Back redraws it', async () => {
      const end = lineOf(file, 'MI_BATCH_BUFFER_END');
      await wb.toggleBreakpoint(end);
      await wb.page.keyboard.press('F5');
      await wb.until(
        'paused at the end of the batch',
        () => wb.pausedLine(),
        (p) => p.line === end,
      );
      await wb.command('vGPU: Show Surface');
      const frame = await wb.webviewFrame('body[data-ready="true"] #canvas[data-surface="canvas"]');
      const pixel = (x: number, y: number) =>
        frame.evaluate(
          ([px, py]) => {
            const c = document.getElementById('canvas') as HTMLCanvasElement;
            const d = c.getContext('2d')!.getImageData(px, py, 1, 1).data;
            return (d[0] << 16) | (d[1] << 8) | d[2];
          },
          [x, y],
        );
      assert.equal(hex(await pixel(4, 4)), '0x203060', 'sky');
      assert.equal(hex(await pixel(4, 120)), '0x2e7d32', 'ground');
      assert.equal(hex(await pixel(18, 58)), '0xffa000', 'a tile copied onto the canvas');
      assert.equal(hex(await pixel(208, 20)), '0xd32f2f', 'the sun');
      // The value under the cursor.
      const box = (await frame.locator('#canvas').boundingBox())!;
      await frame
        .locator('#canvas')
        .hover({ position: { x: (208.5 / 256) * box.width, y: (20.5 / 128) * box.height } });
      assert.equal(await frame.locator('#pixel').textContent(), '(208, 20) = 0xFFD32F2F');
      await wb.screenshot('surface', { readme: true });
      // One command back: the sun is not drawn yet.
      await wb.toolbar('debug-step-back');
      await wb.until(
        'Step Back one command',
        () => wb.pausedLine(),
        (p) => p.line === lineOf(file, 'x1=200, y1=12'),
      );
      await wb.until(
        'the surface redrawn',
        () => pixel(208, 20),
        (p) => hex(p) === '0x203060',
      );
    });

    it('Save Surface as PNG writes the surface the panel shows', async () => {
      await wb.command('vGPU: Save Surface as PNG...');
      const out = path.join(WORKSPACE, 'canvas.png');
      assert.equal(
        await wb.acceptSaveDialog('Save surface canvas as PNG', 'canvas.png'),
        out,
        'proposed in the workspace folder',
      );
      await wb.until(
        'the PNG written',
        async () => fs.existsSync(out) && fs.statSync(out).size > 0,
        (ok) => ok,
      );
      const png = PNG.sync.read(fs.readFileSync(out));
      assert.deepEqual([png.width, png.height], [256, 128]);
      const at = (x: number, y: number) =>
        hex(
          (png.data[(y * 256 + x) * 4] << 16) |
            (png.data[(y * 256 + x) * 4 + 1] << 8) |
            png.data[(y * 256 + x) * 4 + 2],
        );
      assert.deepEqual(
        [at(4, 4), at(18, 58), at(208, 20)],
        ['0x203060', '0xffa000', '0x203060'],
        'as after the step back: no sun yet',
      );
    });

    it('Take Snapshot, then Compare Snapshots lists what differs between two snapshots', async () => {
      await wb.command('vGPU: Take Snapshot');
      await wb.until(
        'the new snapshot',
        () => wb.viewRows('Snapshots'),
        (r) => r.some((x) => / manual · /.test(x)),
      );
      await wb.command('vGPU: Compare Snapshots');
      const rows = wb.page.locator('.quick-input-list .monaco-list-row');
      await rows.first().waitFor();
      assert.ok((await rows.count()) >= 2, 'at least two snapshots to pick from');
      await rows.nth(0).click();
      await rows.nth((await rows.count()) - 1).click();
      await wb.page.keyboard.press('Enter');
      const frame = await wb.webviewFrame('h1');
      const text = (await frame.locator('body').innerText()).replace(/\s+/g, ' ');
      assert.match(text, /^Snapshot #\d+ at 0 commands → #\d+ at \d+ commands/, text);
      assert.match(text, /Registers \(\d+\)/);
      assert.match(
        text,
        /Pages \([1-9][\d,]*\) [\d,]+ bytes? changed in [\d,]+ pages? Page \(GPA\) Changed bytes In 0x[0-9a-f]+ \d+ 0x[0-9a-f]+\.\.0x[0-9a-f]+/,
        text,
      );
      assert.match(text, /Surfaces \(\d+\) Surface Changed pixels canvas [1-9]\d*/, text);
      await wb.screenshot('compare-snapshots', { readme: true });
      await wb.command('View: Close Editor');
    });

    it('clicking a snapshot rolls the VM back, after confirmation', async () => {
      for (const v of ['Variables', 'Page Tables', 'Capability Registers']) await wb.collapseView(v);
      const rows = await wb.until(
        'snapshots',
        () => wb.viewRows('Snapshots'),
        (r) => r.length > 1,
      );
      const start = rows.find((r) => /^#\d+ at 0 commands start/.test(r));
      assert.ok(start, rows.join('\n'));
      await wb.page
        .locator('.pane:has(> .pane-header h3.title:text-is("Snapshots")) .monaco-list-row', {
          hasText: start!.split(' start')[0],
        })
        .first()
        .click();
      const dialog = wb.page.locator('.monaco-dialog-box');
      await dialog.waitFor();
      assert.match(await dialog.innerText(), /Roll the VM back to snapshot #\d+ at 0 commands\?/);
      await wb.screenshot('snapshots');
      await dialog.locator('.monaco-button', { hasText: 'Roll Back' }).click();
      await wb.until(
        'the timeline back at the start',
        () => wb.viewRows('Snapshots'),
        (r) => r.some((x) => x.startsWith('now at 0 commands')),
      );
      await wb.page.keyboard.press('Shift+F5');
      await wb.page.locator('.debug-toolbar').waitFor({ state: 'hidden' });
    });
  });

  describe('page-fault.vgpu', () => {
    const file = 'page-fault.vgpu';
    it('continuing stops at the faulting command with the exception widget', async () => {
      await wb.command('View: Close All Editors');
      await wb.openFile(file);
      await wb.startDebugging();
      await wb.waitPaused();
      await wb.page.keyboard.press('F5');
      const widget = wb.page.locator('.exception-widget').first();
      await widget.waitFor({ timeout: 20_000 });
      const text = (await widget.innerText()).replace(/\s+/g, ' ');
      assert.match(text, /page-fault/i, text);
      assert.equal((await wb.pausedLine()).line, lineOf(file, 'data=0x3333'));
      const bps = await wb.viewRows('Breakpoints');
      for (const kind of [
        'invalid-command',
        'page-fault',
        'ept-violation',
        'isolation-violation',
        'privileged-register',
        'hang',
      ]) {
        assert.ok(
          bps.some((r) => r.startsWith(kind)),
          `exception filter ${kind} in the Breakpoints view: ${bps.join(' | ')}`,
        );
      }
      await wb.screenshot('page-fault', { readme: true });
      await wb.page.keyboard.press('Shift+F5');
      await wb.page.locator('.debug-toolbar').waitFor({ state: 'hidden' });
    });
  });

  describe('Migrate VM...', () => {
    let host: ChildProcess | undefined;
    after(() => {
      if (host && host.exitCode === null && host.signalCode === null) host.kill();
    });

    it('moves the paused VM to a `vgpu host`', async () => {
      host = spawn(
        process.execPath,
        [path.join(ROOT, 'dist', 'cli.js'), 'host', '--listen', '127.0.0.1:0', '--gen', '3'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const port = await listeningPort(host, /listening on 127\.0\.0\.1:(\d+)/);
      await wb.command('View: Close All Editors');
      await wb.openFile('picture.vgpu');
      await wb.startDebugging();
      await wb.waitPaused();
      await wb.command('vGPU: Migrate VM...');
      await wb.answer('Migrate VM to', `127.0.0.1:${port}`);
      const toast = wb.page.locator('.notification-toast', { hasText: 'VM migrated to' }).first();
      await toast.waitFor({ timeout: 20_000 });
      assert.match(
        (await toast.innerText()).replace(/\s+/g, ' '),
        new RegExp(
          `VM migrated to 127\\.0\\.0\\.1:${port} \\(host generation 3\\): \\d+ pre-copy rounds?, \\d+ pages sent, \\d+\\.\\d ms downtime`,
        ),
      );
      await wb.screenshot('migrate');
      // The target finishes the VM (the session ends), or the debugger follows it there (paused, migrated).
      const after = await wb.until(
        'the session ended or following the VM',
        async () =>
          (await wb.page.locator('.debug-toolbar').isVisible()) ? (await wb.callStack()).join(' | ') : 'ended',
        (v) => v === 'ended' || /migrated to 127\.0\.0\.1/i.test(v),
      );
      if (after !== 'ended') {
        await wb.page.keyboard.press('Shift+F5');
        await wb.page.locator('.debug-toolbar').waitFor({ state: 'hidden', timeout: 10_000 });
      }
      await wb.command('Notifications: Clear All Notifications');
    });
  });

  describe('nested-batches.vgpu, through launch.json and an adapter server', () => {
    const file = 'nested-batches.vgpu';
    let adapter: ChildProcess | undefined;
    after(() => {
      if (adapter && adapter.exitCode === null && adapter.signalCode === null) adapter.kill();
    });

    it('the call stack lists the innermost batch, its callers, then the ring', async () => {
      // `debugServer`: the extension connects to a running `node dist/adapter.js --server=PORT`.
      adapter = spawn(process.execPath, [path.join(ROOT, 'dist', 'adapter.js'), '--server=0'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const port = await listeningPort(adapter, /listening on 127\.0\.0\.1:(\d+)/);
      fs.mkdirSync(path.join(WORKSPACE, '.vscode'), { recursive: true });
      fs.writeFileSync(
        path.join(WORKSPACE, '.vscode', 'launch.json'),
        JSON.stringify(
          {
            version: '0.2.0',
            configurations: [
              {
                type: 'vgpu',
                request: 'launch',
                name: 'Nested batches (adapter server)',
                program: '${workspaceFolder}/' + file,
                debugServer: port,
              },
            ],
          },
          null,
          2,
        ),
      );
      await wb.command('View: Close All Editors');
      await wb.openFile(file);
      const bp = lineOf(file, 'addr=results + 8');
      await wb.toggleBreakpoint(bp);
      await wb.startDebugging();
      await wb.waitPaused();
      await wb.page.keyboard.press('F5');
      await wb.until(
        'paused in the innermost batch',
        () => wb.pausedLine(),
        (p) => p.line === bp,
      );
      const stack = await wb.until(
        'the rcs0 stack',
        () => wb.callStack(),
        (rows) => rows.some((r) => r.includes(`${file} ${bp}:`)),
      );
      const top = stack.findIndex((r) => r.includes(`${file} ${bp}:`));
      const frames = stack.slice(top, top + 4).map((r) => r.split(' ').slice(0, 3).join(' '));
      assert.deepEqual(
        frames,
        [
          'MI_STORE_DATA_IMM @ innermost',
          'MI_BATCH_BUFFER_START @ inner+0xc',
          'MI_BATCH_BUFFER_START @ main+0xc',
          'MI_BATCH_BUFFER_START @ rcs0',
        ],
        stack.join(' | '),
      );
      assert.ok(
        stack[top + 3].includes(`ring+0x0 ${file} ${lineOf(file, 'MI_BATCH_BUFFER_START addr=main')}:`),
        stack.join(' | '),
      );
      const snaps = await wb.until(
        'the snapshots at this stop',
        () => wb.viewRows('Snapshots'),
        (r) => r.some((x) => /^now at [1-9]\d* commands/.test(x)),
      );
      assert.ok(
        snaps.some((x) => / submission · rcs0 · /.test(x)),
        snaps.join('\n'),
      );
      await wb.screenshot('nested-batches');
    });

    it('"who last wrote CS_GPR0?": Break on Value Change in Variables, then Reverse Continue; Step Back Into a batch', async () => {
      for (const v of [
        'Call Stack',
        'Watch',
        'Breakpoints',
        'Snapshots',
        'Capability Registers',
        'Page Tables',
        'Loaded Scripts',
      ])
        await wb.collapseView(v);
      await wb.expandView('Variables');
      const vars = wb.page.locator('.pane:has(> .pane-header h3.title:text-is("Variables")) .monaco-list-row');
      const command = vars.filter({ hasText: /^\s*Command\s*$/ }).first();
      if ((await command.getAttribute('aria-expanded')) === 'true') await command.click();
      await vars
        .filter({ hasText: /^\s*Registers\s*$/ })
        .first()
        .click();
      const gpr0 = vars.filter({ hasText: /^\s*CS_GPR0\b/ }).first();
      await gpr0.waitFor({ timeout: 10_000 });
      await gpr0.click({ button: 'right' });
      // The context menu acts on the item it has focused: hover it, then Enter.
      await wb.page.locator('.context-view .action-label', { hasText: 'Break on Value Change' }).hover();
      await wb.page.keyboard.press('Enter');
      await wb.page.locator('.context-view .monaco-menu').waitFor({ state: 'detached', timeout: 5_000 });
      await wb.toolbar('debug-reverse-continue');
      const writer = lineOf(file, 'MI_BATCH_BUFFER_START addr=inner');
      await wb.until(
        'back right after the command that wrote CS_GPR0',
        () => wb.pausedLine(),
        (p) => p.line === writer,
      );
      // Variables show that moment: CS_GPR0 written, CS_GPR1 (written later, in `inner`) not yet.
      // The register list is long (the MI_PREDICATE and GGTT registers come before the CS_GPRs): bring CS_GPR0 into
      // the list's rendered window before reading the rows.
      // VS Code expands the first scope again at the stop: collapse Command, then wheel down to the CS_GPRs.
      const rowsNearGpr0 = async () => {
        if ((await command.getAttribute('aria-expanded').catch(() => null)) === 'true')
          await command.click().catch(() => undefined);
        for (let i = 0; i < 8 && !(await gpr0.isVisible().catch(() => false)); i++) {
          await vars
            .first()
            .hover()
            .catch(() => undefined);
          await wb.page.mouse.wheel(0, 240);
        }
        return vars.evaluateAll((rs) => rs.map((r) => (r as HTMLElement).innerText.replace(/\s+/g, ' ').trim()));
      };
      await wb.until(
        'Variables at that moment',
        rowsNearGpr0,
        (rows) => rows.includes('CS_GPR0 = 0x00000001') && rows.includes('CS_GPR1 = 0x00000000'),
      );
      await wb.screenshot('who-wrote-cs-gpr0', { readme: true });
      // Step Over the call of `inner`, then Step Back Into: back inside it, on its MI_BATCH_BUFFER_END.
      await wb.toggleBreakpoint(lineOf(file, 'addr=results + 8')); // off: it would stop the step in `innermost`
      await wb.page.keyboard.press('F10');
      await wb.until(
        'stepped over the call',
        () => wb.pausedLine(),
        (p) => p.line === lineOf(file, 'reg=CS_GPR0, addr=results'),
      );
      await wb.command('vGPU: Step Back Into');
      await wb.until(
        'back into inner',
        () => wb.pausedLine(),
        (p) => p.line === lineOf(file, 'MI_BATCH_BUFFER_END', lineOf(file, '.batch inner')),
      );
      // The session lives in that server: ending the server ends the session.
      adapter!.kill();
      await wb.page.locator('.debug-toolbar').waitFor({ state: 'hidden', timeout: 10_000 });
    });
  });
  describe("an AUB capture (iris drawing a triangle on BDW, recorded by Mesa's intel_dump_gpu)", () => {
    const capture = 'gltri-bdw.aub.gz';

    it('opens as a listing: a breakpoint on a 3DPRIMITIVE line, the Pipeline State view, Step Back', async () => {
      await openWorkbench();
      fs.copyFileSync(path.join(ROOT, 'test', 'captures', capture), path.join(WORKSPACE, capture));
      fs.mkdirSync(path.join(WORKSPACE, '.vscode'), { recursive: true });
      fs.writeFileSync(
        path.join(WORKSPACE, '.vscode', 'launch.json'),
        JSON.stringify(
          {
            version: '0.2.0',
            configurations: [
              {
                type: 'vgpu',
                request: 'launch',
                name: 'Triangle capture',
                program: '${workspaceFolder}/' + capture,
                stopOnEntry: true,
              },
            ],
          },
          null,
          2,
        ),
      );
      await wb.command('View: Close All Editors');
      await wb.openFile('picture.vgpu'); // F5 from any editor runs the launch configuration
      await wb.startDebugging();
      const entry = await wb.until(
        "paused in the capture's listing",
        () => wb.pausedLine(),
        (p) => p.file.includes('gltri-bdw'),
      );
      // Find the first draw in the read-only listing, put a breakpoint on its line and run to it.
      await wb.focusEditor();
      await wb.page.keyboard.press(`${wb.mod}+Home`);
      await wb.page.keyboard.press(`${wb.mod}+F`);
      const find = '3DPRIMITIVE ';
      await wb.page.keyboard.type(find);
      const { line } = await wb.until(
        'Find selects the first draw',
        () => wb.cursor(),
        (c) => c.line > entry.line && c.selected === find.length,
      );
      await wb.page.keyboard.press('Escape');
      await wb.toggleBreakpoint(line);
      await wb.page.keyboard.press('F5');
      const draw = await wb.until(
        'paused on the 3DPRIMITIVE line',
        () => wb.pausedLineText(),
        (p) => /0x[0-9a-f]{12}\W+3DPRIMITIVE\b/.test(p.text),
      );
      assert.equal(draw.line, line, 'paused on the line of the breakpoint');
      const stack = await wb.until(
        'the rcs0 frame',
        () => wb.callStack(),
        (rows) => rows.some((r) => /^3DPRIMITIVE @ /.test(r)),
      );
      assert.ok(
        stack.some((r) => /rcs0/.test(r)),
        stack.join(' | '),
      );
      for (const v of [
        'Variables',
        'Watch',
        'Breakpoints',
        'Snapshots',
        'Capability Registers',
        'Page Tables',
        'Loaded Scripts',
      ])
        await wb.collapseView(v);
      // The view lists the engine's state commands set by the capture's batch (rows below the fold are not rendered).
      const state = await wb.until(
        'the Pipeline State view',
        () => wb.viewRows('Pipeline State'),
        (r) => r.some((x) => x.startsWith('3D pipeline')),
      );
      assert.match(state[0], /^rcs0 \d+ state commands · no draw yet$/, state.join(' | '));
      assert.ok(state.filter((x) => /^3DSTATE_\w+ first set · t=\d+/.test(x)).length >= 3, state.join(' | '));
      await wb.screenshot('capture-pipeline-state', { readme: true });
      // The Surface panel shows the render target the captured state describes (the pixel shader's binding table).
      await wb.command('vGPU: Show Surface');
      const frame = await wb.webviewFrame('body[data-ready="true"] #canvas[data-surface="ps.bt[0]"]');
      assert.deepEqual(
        await frame.evaluate(() => {
          const c = document.getElementById('canvas') as HTMLCanvasElement;
          return [c.width, c.height];
        }),
        [64, 64],
      );
      await wb.command('View: Close All Editors');
      await wb.toolbar('debug-step-back');
      const back = await wb.until(
        'Step Back to the command before the draw',
        () => wb.pausedLineText(),
        (p) => p.line < draw.line && /0x[0-9a-f]{12}\W+\w/.test(p.text),
      );
      assert.ok(back.line > entry.line, `back at line ${back.line}, in the batch`);
      await wb.page.keyboard.press('Shift+F5');
      await wb.page.locator('.debug-toolbar').waitFor({ state: 'hidden', timeout: 10_000 });
    });
  });

  describe("a long run: VS Code's progress notification and its Cancel button", () => {
    const file = 'spin.vgpu';

    it('continue towards a watchdog at 10^8 commands shows progress; Cancel stops the VM where it is and says so', async () => {
      await openWorkbench();
      // A batch chaining to itself: the watchdog (raised to 10^8 commands) is a far stop, ~20 s of running.
      fs.copyFileSync(path.join(ROOT, 'test', 'adapter', 'programs', file), path.join(WORKSPACE, file));
      fs.mkdirSync(path.join(WORKSPACE, '.vscode'), { recursive: true });
      fs.writeFileSync(
        path.join(WORKSPACE, '.vscode', 'launch.json'),
        JSON.stringify(
          {
            version: '0.2.0',
            configurations: [
              {
                type: 'vgpu',
                request: 'launch',
                name: 'Spin (long run)',
                program: '${workspaceFolder}/' + file,
                stopOnEntry: true,
                watchdog: 100_000_000,
              },
            ],
          },
          null,
          2,
        ),
      );
      const source = fs.readFileSync(path.join(WORKSPACE, file), 'utf8').split('\n');
      const batch = [
        source.findIndex((l) => l.includes('MI_NOOP')) + 1,
        source.findIndex((l) => l.includes('addr=spin')) + 1,
      ];
      await wb.command('View: Close All Editors');
      await wb.command('Notifications: Clear All Notifications');
      await wb.openFile(file);
      await wb.startDebugging();
      await wb.waitPaused();
      await wb.page.keyboard.press('F5');
      const toast = wb.page.locator('.notifications-toasts .notification-list-item', { hasText: 'Continue' }).first();
      await toast.waitFor({ timeout: 15_000 });
      await wb.screenshot('progress-notification');
      await toast.locator('.monaco-button', { hasText: 'Cancel' }).first().click();
      await toast.waitFor({ state: 'detached', timeout: 10_000 });
      // Paused where the cancel found it: on the batch's lines, the stop saying "Cancelled", at a time short of the watchdog.
      const paused = await wb.until(
        'paused after the cancel',
        () => wb.pausedLine(),
        (p) => p.file === file && batch.includes(p.line),
      );
      assert.ok(paused);
      const stack = await wb.until(
        'the stop named in the call stack',
        () => wb.callStack(),
        (rows) => rows.some((r) => /cancelled/i.test(r)),
      );
      // The run went some way before the cancel (periodic snapshots past t=0), and stopped short of the watchdog.
      const snaps = await wb.until(
        'the snapshots of the run',
        () => wb.viewRows('Snapshots'),
        (r) => r.some((x) => /^#\d+ at [1-9]\d* commands periodic/.test(x)),
      );
      assert.ok(
        !stack.some((r) => /exception|hang/i.test(r)),
        `no watchdog stop (${stack.join(' | ')}; ${snaps.length} snapshot rows)`,
      );
      await wb.screenshot('progress-cancelled');
      await wb.page.keyboard.press('Shift+F5');
      await wb.page.locator('.debug-toolbar').waitFor({ state: 'hidden', timeout: 10_000 });
    });
  });
});
