/**
 * The YAML editor's CodeMirror 6 setup, in a module of its own so that the
 * editor arrives as a lazy chunk (`import()` from <l4m-yaml-editor>): YAML
 * highlighting, completion of keys and enum values from the kind's schema,
 * the server's problems as lint diagnostics at their lines, and the
 * accessible name. CodeMirror's styles go in through constructable
 * stylesheets on the element's shadow root (the `root` option), which the
 * strict CSP allows where an inline <style> would not be.
 */
import { autocompletion, completionKeymap, type Completion, type CompletionContext, type CompletionResult } from '@codemirror/autocomplete';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { yaml } from '@codemirror/lang-yaml';
import { defaultHighlightStyle, indentUnit, syntaxHighlighting } from '@codemirror/language';
import { lintGutter, lintKeymap, setDiagnostics, type Diagnostic } from '@codemirror/lint';
import { Compartment, EditorState, type Text } from '@codemirror/state';
import { EditorView, highlightActiveLine, keymap, lineNumbers } from '@codemirror/view';

/** What completion may offer at a path of keys. */
export type KeysAt = (path: string[]) => Array<{ key: string; description: string; enum?: unknown[] }>;

/** A problem to show: 1-based line and column of the text. */
export interface LineProblem {
  line: number;
  col: number;
  message: string;
}

export interface YamlEditorHandle {
  readonly view: EditorView;
  value(): string;
  setValue(text: string): void;
  setProblems(problems: LineProblem[]): void;
  /** Read-only: the text can be read, selected and copied, not changed (a document a git source serves). */
  setReadOnly(readOnly: boolean): void;
  destroy(): void;
}

const KEY_LINE = /^(\s*)(?:-\s+)?("?)([A-Za-z0-9_./-]+)\2:\s*(?:#.*)?$/;

/** The keys of the mappings that enclose a line indented by `indent` (`['spec', 'cvars']`). */
export function enclosingKeys(doc: Text, lineNo: number, indent: number): string[] {
  const path: string[] = [];
  let want = indent;
  for (let n = lineNo - 1; n >= 1 && want > 0; n--) {
    const text = doc.line(n).text;
    if (text.trim() === '' || text.trim().startsWith('#')) continue;
    const ind = text.length - text.trimStart().length;
    if (ind >= want) continue;
    const m = KEY_LINE.exec(text);
    if (!m) {
      // A `- item` line of a list: the list's own key is further up.
      if (/^\s*-\s/.test(text)) {
        want = ind + 1;
        continue;
      }
      break;
    }
    path.unshift(m[3]!);
    want = ind;
  }
  return path;
}

function completions(keysAt: KeysAt) {
  return (ctx: CompletionContext): CompletionResult | null => {
    const line = ctx.state.doc.lineAt(ctx.pos);
    const before = line.text.slice(0, ctx.pos - line.from);
    const value = /^(\s*)(?:-\s+)?([A-Za-z0-9_./-]+):\s+([\w-]*)$/.exec(before);
    if (value) {
      const field = keysAt(enclosingKeys(ctx.state.doc, line.number, value[1]!.length)).find((k) => k.key === value[2]);
      if (!field?.enum) return null;
      return { from: ctx.pos - value[3]!.length, options: field.enum.map((e): Completion => ({ label: String(e), type: 'enum' })), validFor: /^[\w-]*$/ };
    }
    const key = /^(\s*)([A-Za-z0-9_]*)$/.exec(before);
    if (!key || (!key[2] && !ctx.explicit)) return null;
    const options = keysAt(enclosingKeys(ctx.state.doc, line.number, key[1]!.length)).map(
      (k): Completion => ({ label: k.key, apply: `${k.key}: `, type: 'property', info: k.description || undefined }),
    );
    return options.length > 0 ? { from: ctx.pos - key[2]!.length, options, validFor: /^\w*$/ } : null;
  };
}

const look = EditorView.theme({
  '&': { color: 'var(--fg)', backgroundColor: 'var(--input-bg)', border: '1px solid var(--line)', borderRadius: '4px', fontSize: '0.9rem' },
  '&.cm-focused': { outline: '2px solid var(--accent)' },
  '.cm-content': { fontFamily: 'ui-monospace, monospace', caretColor: 'var(--fg)' },
  '.cm-gutters': { backgroundColor: 'var(--bg)', color: 'var(--muted)', borderRight: '1px solid var(--line)' },
  '.cm-activeLine': { backgroundColor: 'var(--accent-bg)' },
  '.cm-scroller': { minHeight: '16rem', maxHeight: '70vh' },
  // CodeMirror draws lint underlines and gutter markers as data: SVG images, which the CSP (no img-src but 'self') blocks: plain CSS instead.
  ...Object.fromEntries(
    (['error', 'warning', 'info', 'hint'] as const).flatMap((level) => {
      const colour = level === 'error' ? 'var(--bad)' : level === 'warning' ? 'var(--warn)' : 'var(--accent)';
      return [
        [`.cm-lintRange-${level}`, { backgroundImage: 'none', textDecoration: `underline wavy ${colour}`, textDecorationSkipInk: 'none', textUnderlineOffset: '3px' }],
        [`.cm-lint-marker-${level}`, { content: 'normal', boxSizing: 'border-box', width: '0.7em', height: '0.7em', margin: '0.2em', borderRadius: '50%', backgroundColor: colour }],
      ];
    }),
  ),
});

export function createYamlEditor(opts: { parent: HTMLElement; root: ShadowRoot; text: string; label: string; keysAt: KeysAt; onChange: (text: string) => void; readOnly?: boolean }): YamlEditorHandle {
  let quiet = false;
  const writable = new Compartment();
  const access = (readOnly: boolean) => [EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly), EditorView.contentAttributes.of({ 'aria-readonly': String(readOnly) })];
  const view = new EditorView({
    root: opts.root,
    parent: opts.parent,
    state: EditorState.create({
      doc: opts.text,
      extensions: [
        lineNumbers(),
        history(),
        highlightActiveLine(),
        indentUnit.of('  '),
        EditorState.tabSize.of(2),
        yaml(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        autocompletion({ override: [completions(opts.keysAt)] }),
        lintGutter(),
        keymap.of([...defaultKeymap, ...historyKeymap, ...completionKeymap, ...lintKeymap, indentWithTab]),
        EditorView.lineWrapping,
        EditorView.contentAttributes.of({ 'aria-label': opts.label }),
        writable.of(access(opts.readOnly ?? false)),
        look,
        EditorView.updateListener.of((u) => {
          if (u.docChanged && !quiet) opts.onChange(u.state.doc.toString());
        }),
      ],
    }),
  });
  return {
    view,
    value: () => view.state.doc.toString(),
    setValue(text) {
      const old = view.state.doc.toString();
      if (old === text) return;
      // Replace only what differs, so the cursor and the undo history stay sensible when the form rewrites a field.
      let start = 0;
      while (start < old.length && start < text.length && old[start] === text[start]) start++;
      let end = 0;
      while (end < old.length - start && end < text.length - start && old[old.length - 1 - end] === text[text.length - 1 - end]) end++;
      quiet = true;
      try {
        view.dispatch({ changes: { from: start, to: old.length - end, insert: text.slice(start, text.length - end) } });
      } finally {
        quiet = false;
      }
    },
    setReadOnly(readOnly) {
      view.dispatch({ effects: writable.reconfigure(access(readOnly)) });
    },
    setProblems(problems) {
      const doc = view.state.doc;
      const diagnostics: Diagnostic[] = problems.map((p) => {
        const line = doc.line(Math.min(Math.max(p.line, 1), doc.lines));
        const from = Math.min(line.from + Math.max(p.col - 1, 0), line.to);
        return { from, to: Math.max(line.to, from), severity: 'error', message: p.message };
      });
      view.dispatch(setDiagnostics(view.state, diagnostics));
    },
    destroy: () => view.destroy(),
  };
}
