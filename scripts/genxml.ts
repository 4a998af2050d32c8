// Reads Mesa's genxml (../shared/genxml/*.xml, MIT) the way Mesa merges it: a file's <import> brings
// every element of the imported file that it neither redefines nor <exclude>s. Used by the command-table
// generator (scripts/gen-commands.ts) and by the test that proves the table agrees with genxml.
//
// The XML here is regular (elements, attributes, comments; no text content that matters), so a small
// tag reader is enough: no dependency on an XML library.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface XmlElement {
  readonly tag: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: XmlElement[];
  /** Line in its file, for error messages. */
  readonly line: number;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function unescape(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (m, e: string) =>
    e.startsWith('#x')
      ? String.fromCodePoint(parseInt(e.slice(2), 16))
      : e.startsWith('#')
        ? String.fromCodePoint(parseInt(e.slice(1), 10))
        : (ENTITIES[e] ?? m),
  );
}

/** Parses an XML document into its root element. Throws with file:line on malformed input. */
export function parseXml(text: string, file = '<xml>'): XmlElement {
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let line = 1;
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`${file}:${line}: ${why}`);
  };
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    if (lt < 0) break;
    for (let k = i; k < lt; k++) if (text.charCodeAt(k) === 10) line++;
    if (text.startsWith('<!--', lt)) {
      const end = text.indexOf('-->', lt);
      if (end < 0) fail('unterminated comment');
      for (let k = lt; k < end; k++) if (text.charCodeAt(k) === 10) line++;
      i = end + 3;
      continue;
    }
    if (text.startsWith('<?', lt)) {
      i = text.indexOf('?>', lt) + 2;
      if (i < 2) fail('unterminated processing instruction');
      continue;
    }
    // Find the tag's end, skipping '>' inside quoted attribute values.
    let j = lt + 1;
    let quote = '';
    for (; j < text.length; j++) {
      const c = text[j];
      if (quote) {
        if (c === quote) quote = '';
      } else if (c === '"' || c === "'") quote = c;
      else if (c === '>') break;
    }
    if (j >= text.length) fail('unterminated tag');
    const body = text.slice(lt + 1, j);
    const startLine = line;
    for (let k = lt; k < j; k++) if (text.charCodeAt(k) === 10) line++;
    i = j + 1;
    if (body.startsWith('/')) {
      const name = body.slice(1).trim();
      const open = stack.pop();
      if (!open || open.tag !== name) fail(`</${name}> does not close <${open?.tag ?? 'nothing'}>`);
      continue;
    }
    const selfClosing = body.endsWith('/');
    const inner = selfClosing ? body.slice(0, -1) : body;
    const m = /^([A-Za-z_][\w.-]*)/.exec(inner);
    if (!m) fail(`bad tag <${body.slice(0, 20)}>`);
    const attrs: Record<string, string> = {};
    const re = /([A-Za-z_][\w.:-]*)\s*=\s*("([^"]*)"|'([^']*)')/g;
    let a: RegExpExecArray | null;
    const rest = inner.slice(m![1].length);
    while ((a = re.exec(rest)) !== null) attrs[a[1]] = unescape(a[3] ?? a[4] ?? '');
    const el: XmlElement = { tag: m![1], attrs, children: [], line: startLine };
    if (stack.length > 0) stack[stack.length - 1].children.push(el);
    else if (root === undefined) root = el;
    else fail('more than one root element');
    if (!selfClosing) stack.push(el);
  }
  if (stack.length > 0) fail(`<${stack[stack.length - 1].tag}> is not closed`);
  if (!root) fail('no root element');
  return root!;
}

/** A genxml file merged with everything it imports: top-level elements by kind and name, in order. */
export interface GenxmlDoc {
  readonly gen: string;
  readonly name: string;
  readonly items: ReadonlyMap<string, XmlElement>;
}

const itemKey = (el: XmlElement) => `${el.tag}:${el.attrs.name}`;

export function loadGenxml(dir: string, file: string): GenxmlDoc {
  const root = parseXml(readFileSync(join(dir, file), 'utf8'), file);
  const items = new Map<string, XmlElement>();
  for (const el of root.children) {
    if (el.tag !== 'import') continue;
    const excluded = new Set(el.children.filter((c) => c.tag === 'exclude').map((c) => c.attrs.name));
    const base = loadGenxml(dir, el.attrs.name);
    for (const [k, v] of base.items) if (!excluded.has(v.attrs.name)) items.set(k, v);
  }
  for (const el of root.children) {
    if (el.tag === 'import') continue;
    // A redefinition replaces the imported one in place of the new definition's order.
    items.delete(itemKey(el));
    items.set(itemKey(el), el);
  }
  return { gen: root.attrs.gen, name: root.attrs.name, items };
}

/** genxml's rule for the engines an instruction runs on: no `engine` attribute means every engine. */
export function runsOnRenderOrBlitter(el: XmlElement): boolean {
  const e = el.attrs.engine;
  return e === undefined || e.split('|').some((x) => x === 'render' || x === 'blitter');
}

export function instructions(doc: GenxmlDoc): XmlElement[] {
  return [...doc.items.values()].filter((e) => e.tag === 'instruction');
}

/** A number as genxml writes it (decimal or 0x hex). */
export function xmlNumber(s: string | undefined): number | undefined {
  if (s === undefined || s === '') return undefined;
  const v = s.startsWith('0x') || s.startsWith('0X') ? parseInt(s.slice(2), 16) : parseInt(s, 10);
  return Number.isFinite(v) ? v : undefined;
}
