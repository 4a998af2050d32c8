// VS Code glue for the `.vgpu` language: assembler diagnostics (debounced, assembled in a worker), hover,
// completion and document symbols. Everything it shows comes from extension/languageModel.ts, each document's index (kept by its
// edits, extension/documentIndex.ts) and the assembler.

import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import * as vscode from 'vscode';
import { assembleSource, type Diagnostic } from '../emulator';
import { ASSEMBLY_WORKER, BackgroundAssembler } from './assemblyWorker';
import { DocumentIndex, type LineSource } from './documentIndex';
import {
  LANGUAGE_ID,
  completionsAt,
  diagnosticRange,
  hoverAt,
  type CompletionKind,
  type DocSymbol,
  type SymbolKind,
} from './languageModel';

/** Delay between the last edit and the assembler run. */
const DEBOUNCE_MS = 200;
/** Longest document the outline assembles on demand for its addresses (longer ones wait for the debounced run). */
const OUTLINE_ASSEMBLE_LINES = 20_000;

const COMPLETION_KIND: Readonly<Record<CompletionKind, vscode.CompletionItemKind>> = {
  mnemonic: vscode.CompletionItemKind.Keyword,
  directive: vscode.CompletionItemKind.Keyword,
  data: vscode.CompletionItemKind.Keyword,
  field: vscode.CompletionItemKind.Field,
  option: vscode.CompletionItemKind.Property,
  enum: vscode.CompletionItemKind.EnumMember,
  keyword: vscode.CompletionItemKind.Value,
  register: vscode.CompletionItemKind.Variable,
  engine: vscode.CompletionItemKind.Module,
  symbol: vscode.CompletionItemKind.Reference,
  constant: vscode.CompletionItemKind.Constant,
};

const SYMBOL_KIND: Readonly<Record<SymbolKind, vscode.SymbolKind>> = {
  label: vscode.SymbolKind.Key,
  batch: vscode.SymbolKind.Function,
  ring: vscode.SymbolKind.Event,
  surface: vscode.SymbolKind.Array,
  data: vscode.SymbolKind.Struct,
};

/** Registers diagnostics, hover, completion and document symbols for `.vgpu` documents. */
export function registerLanguageFeatures(context: vscode.ExtensionContext): void {
  const selector: vscode.DocumentSelector = { language: LANGUAGE_ID };
  const collection = vscode.languages.createDiagnosticCollection(LANGUAGE_ID);
  /** Last assembly per document: the version it read and its symbol values (for hover and the outline). */
  const results = new Map<string, { version: number; symbols?: ReadonlyMap<string, number> }>();
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  const fileOf = (doc: vscode.TextDocument) => (doc.uri.scheme === 'file' ? doc.uri.fsPath : doc.uri.toString());

  const publish = (
    doc: vscode.TextDocument,
    version: number,
    diagnostics: readonly Diagnostic[],
    symbols?: ReadonlyMap<string, number>,
  ) => {
    results.set(doc.uri.toString(), { version, symbols });
    collection.set(
      doc.uri,
      diagnostics.map((d) => {
        const r = diagnosticRange(d, d.line - 1 < doc.lineCount ? doc.lineAt(d.line - 1).text : '');
        const diag = new vscode.Diagnostic(
          new vscode.Range(r.line, r.start, r.line, r.end),
          d.message,
          d.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning,
        );
        diag.source = LANGUAGE_ID;
        return diag;
      }),
    );
  };

  /** On this thread, for the outline of a short document that has no assembly of its version yet. */
  const assembleNow = (doc: vscode.TextDocument): ReadonlyMap<string, number> | undefined => {
    const result = assembleSource(doc.getText(), { file: fileOf(doc) });
    publish(doc, doc.version, result.diagnostics, result.image?.symbols);
    return result.image?.symbols;
  };

  const background = new BackgroundAssembler(
    () => new Worker(path.join(__dirname, 'assemblyWorker.js'), { workerData: ASSEMBLY_WORKER }),
    (key, version, reply) => {
      const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === key);
      // An answer for an older version is dropped: the edit since has its own request.
      if (!doc || doc.version !== version) return;
      publish(doc, version, reply.diagnostics, reply.symbols && new Map(reply.symbols));
    },
  );
  const assembleLater = (doc: vscode.TextDocument) =>
    background.request(doc.uri.toString(), {
      file: fileOf(doc),
      snapshot: () => ({ version: doc.version, text: doc.getText() }),
    });

  const schedule = (doc: vscode.TextDocument) => {
    if (doc.languageId !== LANGUAGE_ID) return;
    const key = doc.uri.toString();
    clearTimeout(timers.get(key));
    timers.set(
      key,
      setTimeout(() => {
        timers.delete(key);
        assembleLater(doc);
      }, DEBOUNCE_MS),
    );
  };

  const forget = (doc: vscode.TextDocument) => {
    const key = doc.uri.toString();
    clearTimeout(timers.get(key));
    timers.delete(key);
    results.delete(key);
    background.cancel(key);
    indexes.delete(key);
    collection.delete(doc.uri);
  };

  /** What completion, hover and the outline read from the whole document (its symbols and `.vm gen=`), kept by its edits. */
  const indexes = new Map<string, { version: number; index: DocumentIndex }>();
  const linesOf = (doc: vscode.TextDocument): LineSource => ({
    lineCount: doc.lineCount,
    lineAt: (i) => doc.lineAt(i).text,
  });
  const indexOf = (doc: vscode.TextDocument): DocumentIndex => {
    const key = doc.uri.toString();
    const kept = indexes.get(key);
    if (kept && kept.version === doc.version) return kept.index;
    // First use, or an edit not seen: from the whole text.
    const index = DocumentIndex.build(linesOf(doc));
    indexes.set(key, { version: doc.version, index });
    return index;
  };
  const edited = (e: vscode.TextDocumentChangeEvent) => {
    const kept = indexes.get(e.document.uri.toString());
    // An index built at this version already holds these changes.
    if (kept && e.contentChanges.length && kept.version < e.document.version) {
      kept.index.applyChanges(e.contentChanges, linesOf(e.document));
      kept.version = e.document.version;
    }
    schedule(e.document);
  };

  /** Symbol values of the last successful assembly, if it is of this version. */
  const symbolValues = (doc: vscode.TextDocument) => {
    const r = results.get(doc.uri.toString());
    return r && r.version === doc.version ? r.symbols : undefined;
  };

  const toDocumentSymbol = (doc: vscode.TextDocument, s: DocSymbol): vscode.DocumentSymbol => {
    const endLine = Math.min(s.endLine, doc.lineCount - 1);
    const range = new vscode.Range(s.line, 0, endLine, doc.lineAt(endLine).text.length);
    const sym = new vscode.DocumentSymbol(
      s.name,
      s.detail,
      SYMBOL_KIND[s.kind],
      range,
      new vscode.Range(s.line, s.start, s.line, s.end),
    );
    sym.children = s.children.map((c) => toDocumentSymbol(doc, c));
    return sym;
  };

  context.subscriptions.push(
    collection,
    { dispose: () => timers.forEach((t) => clearTimeout(t)) },
    { dispose: () => background.dispose() },
    vscode.workspace.onDidOpenTextDocument((doc) => doc.languageId === LANGUAGE_ID && assembleLater(doc)),
    vscode.workspace.onDidChangeTextDocument(edited),
    vscode.workspace.onDidCloseTextDocument(forget),
    vscode.languages.registerHoverProvider(selector, {
      provideHover(doc, pos) {
        const h = hoverAt(doc.lineAt(pos.line).text, pos.character, symbolValues(doc), indexOf(doc).gen());
        if (!h) return undefined;
        const md = new vscode.MarkdownString(h.markdown);
        return new vscode.Hover(md, new vscode.Range(pos.line, h.start, pos.line, h.end));
      },
    }),
    vscode.languages.registerCompletionItemProvider(
      selector,
      {
        provideCompletionItems(doc, pos) {
          const index = indexOf(doc);
          const c = completionsAt(doc.lineAt(pos.line).text, pos.character, index.names(), index.gen());
          const range = new vscode.Range(pos.line, c.start, pos.line, c.end);
          return c.items.map((e) => {
            const item = new vscode.CompletionItem(e.label, COMPLETION_KIND[e.kind]);
            item.range = range;
            if (e.insertText !== undefined) item.insertText = e.insertText;
            if (e.detail) item.detail = e.detail;
            if (e.documentation) item.documentation = new vscode.MarkdownString(e.documentation);
            if (e.sortText) item.sortText = e.sortText;
            if (e.retrigger) item.command = { title: 'Suggest', command: 'editor.action.triggerSuggest' };
            return item;
          });
        },
      },
      '.',
      '=',
    ),
    vscode.languages.registerDocumentSymbolProvider(selector, {
      provideDocumentSymbols(doc) {
        const values = symbolValues(doc) ?? (doc.lineCount <= OUTLINE_ASSEMBLE_LINES ? assembleNow(doc) : undefined);
        return indexOf(doc)
          .symbols(linesOf(doc), values)
          .map((s) => toDocumentSymbol(doc, s));
      },
    }),
  );
  for (const doc of vscode.workspace.textDocuments) if (doc.languageId === LANGUAGE_ID) assembleLater(doc);
}
