/**
 * Turns a contract's ES module into a script that a Compartment evaluates to the module's
 * exports. @endo/module-source does this in general (with babel), but importing babel costs
 * ~220 ms and each ModuleSource ~50 ms in every vat worker: two thirds of a vat's start. A
 * contract is one module whose only import is '@endo/far', so a small acorn pass does:
 *
 *   import { E, Far as F } from '@endo/far'  →  const { E, Far: F } = $qv_import('@endo/far');
 *   import * as far from '@endo/far'        →  const far = $qv_import('@endo/far');
 *   export function f() {}                  →  function f() {}         (+ f in the exports)
 *   export const a = 1, b = 2;              →  const a = 1, b = 2;     (+ a, b)
 *   export { a, b as c };                   →  (removed)               (+ a, c: b)
 *   export default <expr>;                  →  const $qv_default = <expr>;  (+ default)
 *
 * and wraps the body as `(() => { ...; return { exports }; })()`. Exports are a snapshot
 * taken after the body ran (no live bindings: contracts export functions). Anything else —
 * another module, re-exports (`export ... from`), top-level await — is refused.
 * Line numbers are kept: the wrapper adds nothing before the first line's text.
 */
import * as acorn from 'acorn';
import { ContractSyntaxError } from './transform.ts';

const ALLOWED = new Set(['@endo/far']);

interface Edit {
  start: number;
  end: number;
  text: string;
}

type Node = acorn.Node & Record<string, unknown>;

export function moduleToScript(source: string): string {
  let ast: acorn.Program;
  try {
    ast = acorn.parse(source, { ecmaVersion: 'latest', sourceType: 'module', locations: true });
  } catch (e) {
    const err = e as SyntaxError & { loc?: { line: number; column: number } };
    throw new ContractSyntaxError(err.message, err.loc?.line ?? 0, (err.loc?.column ?? 0) + 1);
  }
  const edits: Edit[] = [];
  const exported: string[] = []; // "name" or "exported: local"
  const fail = (node: acorn.Node, message: string): never => {
    const loc = acorn.getLineInfo(source, node.start);
    throw new ContractSyntaxError(message, loc.line, loc.column + 1);
  };
  const refuse = (node: acorn.Node, what: string): never =>
    fail(node, `${what} is not supported in a contract`);
  const nameOf = (n: unknown) => {
    const node = n as { type: string; name?: string; value?: unknown };
    return node.type === 'Identifier' ? node.name! : String(node.value);
  };

  for (const stmt of ast.body as Node[]) {
    switch (stmt.type) {
      case 'ImportDeclaration': {
        const from = String((stmt['source'] as { value: unknown }).value);
        if (!ALLOWED.has(from))
          fail(stmt, `module ${from} is not available inside a vat (only @endo/far)`);
        const specs = stmt['specifiers'] as Node[];
        const named: string[] = [];
        const decls: string[] = [];
        for (const s of specs) {
          const local = nameOf(s['local']);
          if (s.type === 'ImportNamespaceSpecifier')
            decls.push(`${local} = $qv_import(${JSON.stringify(from)})`);
          else if (s.type === 'ImportDefaultSpecifier')
            refuse(s, `a default import from '${from}'`);
          else {
            const imported = nameOf(s['imported']);
            named.push(imported === local ? local : `${JSON.stringify(imported)}: ${local}`);
          }
        }
        if (named.length > 0)
          decls.push(`{ ${named.join(', ')} } = $qv_import(${JSON.stringify(from)})`);
        edits.push({
          start: stmt.start,
          end: stmt.end,
          text: decls.length ? `const ${decls.join(', ')};` : '',
        });
        break;
      }
      case 'ExportNamedDeclaration': {
        if (stmt['source']) refuse(stmt, 're-exporting from another module');
        const decl = stmt['declaration'] as Node | null;
        if (decl) {
          if (decl.type === 'VariableDeclaration') {
            for (const d of decl['declarations'] as Node[]) {
              const id = d['id'] as Node;
              if (id.type !== 'Identifier') refuse(id, 'exporting a destructuring pattern');
              exported.push(nameOf(id));
            }
          } else {
            exported.push(nameOf(decl['id']));
          }
          // Drop the `export ` keyword, keep the declaration.
          edits.push({ start: stmt.start, end: decl.start, text: '' });
        } else {
          for (const s of stmt['specifiers'] as Node[]) {
            const local = nameOf(s['local']);
            const name = nameOf(s['exported']);
            exported.push(name === local ? local : `${JSON.stringify(name)}: ${local}`);
          }
          edits.push({ start: stmt.start, end: stmt.end, text: '' });
        }
        break;
      }
      case 'ExportDefaultDeclaration': {
        const decl = stmt['declaration'] as Node;
        const named =
          (decl.type === 'FunctionDeclaration' || decl.type === 'ClassDeclaration') && decl['id'];
        if (named) {
          exported.push(`default: ${nameOf(decl['id'])}`);
          edits.push({ start: stmt.start, end: decl.start, text: '' });
        } else {
          exported.push('default: $qv_default');
          edits.push({ start: stmt.start, end: decl.start, text: 'const $qv_default = ' });
          if (decl.type === 'FunctionDeclaration' || decl.type === 'ClassDeclaration') {
            edits.push({ start: decl.end, end: decl.end, text: ';' });
          }
        }
        break;
      }
      case 'ExportAllDeclaration':
        refuse(stmt, 're-exporting from another module');
        break;
      default:
        break;
    }
  }
  if (hasTopLevelAwait(ast)) refuse(ast, 'top-level await');

  let out = '';
  let at = 0;
  for (const e of edits.sort((x, y) => x.start - y.start)) {
    out += source.slice(at, e.start) + e.text;
    at = e.end;
  }
  out += source.slice(at);
  return `(() => {${out}\n;return harden({ ${exported.join(', ')} });\n})()`;
}

/** Top-level `await` (outside any function) makes the module asynchronous: refused. */
function hasTopLevelAwait(ast: acorn.Program): boolean {
  let found = false;
  const visit = (node: unknown, inFunction: boolean): void => {
    if (found || node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (const n of node) visit(n, inFunction);
      return;
    }
    const n = node as { type?: string; await?: boolean };
    if (typeof n.type !== 'string') return;
    if (!inFunction && (n.type === 'AwaitExpression' || (n.type === 'ForOfStatement' && n.await))) {
      found = true;
      return;
    }
    const fn =
      n.type === 'FunctionDeclaration' ||
      n.type === 'FunctionExpression' ||
      n.type === 'ArrowFunctionExpression';
    for (const [k, v] of Object.entries(n)) {
      if (k !== 'type' && k !== 'loc') visit(v, inFunction || fn);
    }
  };
  visit(ast.body, false);
  return found;
}
