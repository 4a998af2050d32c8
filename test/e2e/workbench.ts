// What a person does and sees in the VS Code workbench, as playwright calls: open a file, go to a
// line, toggle a breakpoint, start debugging (F5, retried until the extension host is ready), read the
// paused line, the call stack, a view's rows, click the debug toolbar, run a palette command.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type Frame, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const isMac = false;
const mod = isMac ? 'Meta' : 'Control';

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

export class Workbench {
  /** Screenshots go to `shots`; the ones the README shows also to `readmeShots`. */
  constructor(
    readonly page: Page,
    private readonly shots: string,
    private readonly readmeShots: string,
  ) {}

  static async open(browser: Browser, url: string, shots: string, readmeShots: string): Promise<Workbench> {
    const page = await browser.newPage({ viewport: { width: 1400, height: 860 }, deviceScaleFactor: 1 });
    await page.goto(url);
    await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
    await page.waitForSelector('.explorer-folders-view .monaco-list-row', { timeout: 60_000 });
    const wb = new Workbench(page, shots, readmeShots);
    await wb.widenSideBar(440);
    return wb;
  }

  /** Drags the side bar's edge so the views' descriptions fit (as a person would). */
  async widenSideBar(width: number): Promise<void> {
    const side = await this.page.locator('.part.sidebar').boundingBox();
    if (!side) return;
    const x = side.x + side.width;
    const y = side.y + side.height / 2;
    await this.page.mouse.move(x - 1, y);
    await this.page.mouse.down();
    await this.page.mouse.move(side.x + width, y, { steps: 5 });
    await this.page.mouse.up();
  }

  async screenshot(name: string, opts: { readme?: boolean } = {}): Promise<string> {
    const dir = opts.readme ? this.readmeShots : this.shots;
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${name}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  async openFile(name: string): Promise<void> {
    // Quick Open lists a file the workspace just gained only once its file watcher has seen it: ask again.
    const row = this.page.locator(`.quick-input-list .monaco-list-row[aria-label*="${name}"]`).first();
    for (let attempt = 0; ; attempt++) {
      await this.page.keyboard.press(`${mod}+P`);
      const input = this.page.locator('.quick-input-widget input');
      await input.waitFor();
      await input.fill(name);
      try {
        await row.waitFor({ timeout: 10_000 });
        break;
      } catch (e) {
        if (attempt >= 4) throw e;
        await this.page.keyboard.press('Escape');
      }
    }
    await row.click();
    await this.page.locator(`.tabs-container .tab.active[aria-label*="${name}"]`).waitFor();
    await this.page.locator('.monaco-editor .view-lines').first().waitFor();
  }

  async focusEditor(): Promise<void> {
    await this.page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click();
  }

  async gotoLine(line: number): Promise<void> {
    await this.focusEditor();
    await this.page.keyboard.press(`${mod}+G`);
    const input = this.page.locator('.quick-input-widget input');
    await input.waitFor();
    await input.fill(`:${line}`);
    await this.page.keyboard.press('Enter');
    await this.page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
  }

  async toggleBreakpoint(line: number): Promise<void> {
    await this.gotoLine(line);
    await this.page.keyboard.press('F9');
  }

  /** Runs a command from the palette by its full title (`vGPU: Show Surface`). */
  async command(title: string): Promise<void> {
    await this.page.keyboard.press('F1');
    const input = this.page.locator('.quick-input-widget input');
    await input.waitFor();
    await input.fill(`>${title}`);
    const row = this.page.locator(`.quick-input-list .monaco-list-row[aria-label^="${title}"]`).first();
    await row.waitFor({ timeout: 10_000 });
    await row.click();
  }

  /** Types into the quick input titled `title` (an input box a command opened) and accepts it. */
  async answer(title: string, text: string): Promise<void> {
    await this.page.locator('.quick-input-widget .quick-input-title', { hasText: title }).waitFor({ timeout: 10_000 });
    await this.page.locator('.quick-input-widget input').fill(text);
    await this.page.keyboard.press('Enter');
    await this.page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 5_000 });
  }

  /** Picks the row of an open quick pick whose label contains `text`. */
  async pick(text: string): Promise<void> {
    const row = this.page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: text }).first();
    await row.waitFor({ timeout: 10_000 });
    await row.click();
    await this.page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 5_000 });
  }

  /**
   * Accepts code-server's save dialog (a path input) with the path the command proposed. The dialog
   * ignores Enter while it is still listing the folder: press again while the path is unchanged.
   */
  async acceptSaveDialog(title: string, fileName: string): Promise<string> {
    await this.page.locator('.quick-input-widget .quick-input-title', { hasText: title }).waitFor({ timeout: 10_000 });
    const input = this.page.locator('.quick-input-widget input');
    const proposed = await this.until(
      'the proposed path',
      () => input.inputValue(),
      (v) => v.endsWith(fileName),
    );
    for (let attempt = 0; attempt < 5; attempt++) {
      await this.page.keyboard.press('Enter');
      try {
        await this.page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 1_500 });
        return proposed;
      } catch {
        if ((await input.inputValue()) !== proposed) break;
      }
    }
    throw new Error(`the save dialog did not accept ${proposed}`);
  }

  /**
   * F5 in the editor; the remote extension host registers debuggers a few seconds after the page
   * loads and F5 does nothing before that, so press again until the debug toolbar shows.
   */
  async startDebugging(): Promise<void> {
    for (let attempt = 0; attempt < 8; attempt++) {
      await this.focusEditor();
      await this.page.keyboard.press('F5');
      try {
        await this.page.locator('.debug-toolbar').waitFor({ timeout: 2_500 });
        return;
      } catch {
        /* not registered yet: press again */
      }
    }
    throw new Error('F5 did not start a debug session');
  }

  async waitPaused(timeout = 20_000): Promise<void> {
    await this.page.locator('.monaco-editor .debug-top-stack-frame-line').first().waitFor({ timeout });
  }

  /** The editor line that carries the top-stack-frame decoration (the yellow one), 1-based. */
  async pausedLine(): Promise<{ file: string; line: number }> {
    await this.waitPaused();
    return this.page.evaluate(() => {
      const deco = document.querySelector(
        '.editor-group-container.active .monaco-editor .debug-top-stack-frame-line',
      ) as HTMLElement;
      const editor = deco.closest('.monaco-editor') as HTMLElement;
      const top = (deco.closest('.view-overlays > div') as HTMLElement).style.top;
      const gutter = Array.from(editor.querySelectorAll('.margin-view-overlays > div')).find(
        (d) => (d as HTMLElement).style.top === top,
      );
      const tab = document.querySelector('.editor-group-container.active .tab.active') as HTMLElement;
      return {
        file: tab.getAttribute('aria-label')!.split(',')[0].trim(),
        line: Number(gutter?.querySelector('.line-numbers')?.textContent),
      };
    });
  }

  /** The paused line (as pausedLine) and its text as the editor shows it (a generated listing has no file to read). */
  async pausedLineText(): Promise<{ file: string; line: number; text: string }> {
    const at = await this.pausedLine();
    const text = await this.page.evaluate(() => {
      const deco = document.querySelector(
        '.editor-group-container.active .monaco-editor .debug-top-stack-frame-line',
      ) as HTMLElement;
      const editor = deco.closest('.monaco-editor') as HTMLElement;
      const top = (deco.closest('.view-overlays > div') as HTMLElement).style.top;
      const line = Array.from(editor.querySelectorAll('.view-lines > .view-line')).find(
        (d) => (d as HTMLElement).style.top === top,
      );
      return (line?.textContent ?? '').replace(/\u00a0/g, ' ');
    });
    return { ...at, text };
  }

  /** The cursor's line in the active editor and the characters selected, as the status bar shows them (`Ln 12, Col 5 (3 selected)`). */
  async cursor(): Promise<{ line: number; selected: number }> {
    const text = await this.page
      .locator('.statusbar-item', { hasText: /^Ln \d+, Col \d+/ })
      .first()
      .innerText();
    const m = /^Ln (\d+), Col \d+(?: \((\d+) selected\))?/.exec(text.trim())!;
    return { line: Number(m[1]), selected: Number(m[2] ?? 0) };
  }

  /** Rows of the Call Stack view as shown: `name file line:col` (threads too). */
  async callStack(): Promise<string[]> {
    await this.expandView('Call Stack');
    return this.page.$$eval('.debug-call-stack .monaco-list-row', (rows) =>
      rows.map((r) => (r as HTMLElement).innerText.replace(/\s+/g, ' ').trim()),
    );
  }

  /** The platform's command modifier (Control here, Meta on a Mac). */
  readonly mod = mod;

  async toolbar(icon: string): Promise<void> {
    await this.page.locator(`.debug-toolbar .action-item .codicon-${icon}`).first().click();
  }

  /** Expands a view of the side bar by its title and returns its rows' text (label and description). */
  async viewRows(title: string): Promise<string[]> {
    const header = this.page.locator(`.pane-header:has(h3.title:text-is("${title}"))`).first();
    await header.waitFor({ timeout: 10_000 });
    if ((await header.getAttribute('aria-expanded')) === 'false') await header.click();
    const pane = this.page.locator(`.pane:has(> .pane-header h3.title:text-is("${title}"))`).first();
    return pane.locator('.monaco-list-row').evaluateAll((rows) =>
      rows.map((r) => {
        const parts = Array.from(r.querySelectorAll('.label-name, .label-description')).map((e) => e.textContent ?? '');
        return (parts.length ? parts.join(' ') : (r as HTMLElement).innerText).replace(/\s+/g, ' ').trim();
      }),
    );
  }

  /** Selects the Call Stack row containing `text` (the frame the step buttons then act on). */
  async selectFrame(text: string): Promise<void> {
    await this.expandView('Call Stack');
    await this.page.locator('.debug-call-stack .monaco-list-row', { hasText: text }).first().click();
  }

  async expandView(title: string): Promise<void> {
    const header = this.page.locator(`.pane-header:has(h3.title:text-is("${title}"))`).first();
    if ((await header.getAttribute('aria-expanded')) === 'false') await header.click();
  }

  async collapseView(title: string): Promise<void> {
    const header = this.page.locator(`.pane-header:has(h3.title:text-is("${title}"))`).first();
    if ((await header.count()) && (await header.getAttribute('aria-expanded')) === 'true') await header.click();
  }

  /** Polls `read` until `ok` holds (what a person waits for), failing with the last value seen. */
  async until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeout = 15_000): Promise<T> {
    const end = Date.now() + timeout;
    let last: T | undefined;
    let error: unknown;
    while (Date.now() < end) {
      try {
        last = await read();
        if (ok(last)) return last;
      } catch (e) {
        error = e;
      }
      await this.page.waitForTimeout(150);
    }
    throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last)}${error ? ` (${error})` : ''}`);
  }

  /** The frame of a webview whose document has `selector` (webviews are nested iframes). */
  async webviewFrame(selector: string, timeout = 15_000): Promise<Frame> {
    return this.until(
      `a webview with ${selector}`,
      async () => {
        for (const f of this.page.frames()) {
          if (await f.$(selector).catch(() => null)) return f;
        }
        return undefined;
      },
      (f) => !!f,
      timeout,
    ) as Promise<Frame>;
  }
}
