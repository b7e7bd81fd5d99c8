/**
 * Source-to-source transform applied to contract modules before they are handed to
 * module-to-script.ts and run inside a SES Compartment.
 *
 * Eventual-send grammar (E language heritage). `!` is an infix operator that binds exactly
 * like `.` (member/call precedence, left-associative), so it is part of a LeftHandSideExpression:
 *
 *   EventualSend :
 *     LeftHandSideExpression [no LineTerminator here] `!` IdentifierName Arguments?
 *     LeftHandSideExpression [no LineTerminator here] `!` `[` Expression `]` Arguments?
 *     LeftHandSideExpression [no LineTerminator here] `!` Arguments
 *
 * and is rewritten as follows:
 *
 *   x ! m(a, b)  ->  $qv_E(x).m(a, b)        x ! [k](a)  ->  $qv_E(x)[k](a)
 *   x ! (a)      ->  $qv_E(x)(a)             x ! m       ->  $qv_E.get(x).m
 *   a ! b() ! c()  ->  $qv_E($qv_E(a).b()).c()  x ! m().then(f)  ->  $qv_E(x).m().then(f)
 *
 * Like postfix `++`, no line terminator (nor a comment containing one) may separate the left
 * operand from `!`: `x\n!y()` is still two statements, `x; !y()`. `!=`, `!==`, prefix `!x` and
 * `!` inside strings, templates, regular expressions and comments are untouched, because the
 * rule is implemented as an acorn parser plugin (`parseSubscript`), not by scanning text.
 * `!` cannot follow `?.`, continue an optional chain (`(a?.b) ! m()` is fine), appear in the
 * callee of `new` without parentheses, or be used as a TypeScript non-null assertion (`x!.y`).
 *
 * With `meter: true`, gas-metering calls are injected: `$qv_meter.f()` at the entry of every
 * function body and class static block, `$qv_meter.l()` at the start of every loop iteration
 * and `$qv_meter.c(err)` at the start of every catch block (it rethrows meter exhaustion).
 *
 * Identifiers starting with RESERVED_PREFIX, dynamic `import()`, `import.meta` and HTML-like
 * comments are rejected with a ContractSyntaxError. The output never gains or loses newlines,
 * so line numbers of the contract are preserved.
 */
import * as acorn from 'acorn';

export const RESERVED_PREFIX = '$qv_';

const E_NAME = `${RESERVED_PREFIX}E`;
const METER_NAME = `${RESERVED_PREFIX}meter`;
const ERR_NAME = `${RESERVED_PREFIX}err`;

export interface TransformOptions {
  /** Inject gas-metering calls (`$qv_meter.f/l/c`). */
  meter: boolean;
}

/**
 * A contract source that is not valid (or not allowed) contract syntax.
 * `line` and `column` are both 1-based (as in editors and stack traces).
 */
export class ContractSyntaxError extends Error {
  override name = 'ContractSyntaxError';
  readonly line: number;
  readonly column: number;
  /** The message without the position prefix. */
  readonly reason: string;

  constructor(reason: string, line: number, column: number) {
    super(`${line}:${column}: ${reason}`);
    this.line = line;
    this.column = column;
    this.reason = reason;
  }
}

// ---------------------------------------------------------------------------------------------
// AST shapes (acorn's typings do not know our node type nor the internal parser API).

interface AstNode {
  type: string;
  start: number;
  end: number;
  [key: string]: unknown;
}

interface EventualSendNode extends AstNode {
  type: 'EventualSend';
  target: AstNode;
  /** Start of the left operand, including any parentheses around it. */
  targetStart: number;
  /** End of the left operand, including any parentheses around it. */
  targetEnd: number;
  bangEnd: number;
  /** `name`: `x ! m`, `computed`: `x ! [k]`, `apply`: `x ! (args)`. */
  form: 'name' | 'computed' | 'apply';
  /** Position of the name, of `[` or of `(` following the `!`. */
  formStart: number;
  property: AstNode | null;
  call: boolean;
  arguments: AstNode[];
}

/** The subset of acorn's internal parser API used by the plugin (stable across acorn 8.x). */
interface InternalParser {
  type: acorn.TokenType;
  value: unknown;
  start: number;
  end: number;
  lastTokStart: number;
  lastTokEnd: number;
  input: string;
  options: acorn.Options;
  next(): void;
  eat(type: acorn.TokenType): boolean;
  expect(type: acorn.TokenType): void;
  raise(pos: number, message: string): never;
  canInsertSemicolon(): boolean;
  startNodeAt(pos: number, loc: unknown): AstNode;
  finishNode(node: AstNode, type: string): AstNode;
  parseIdent(liberal: boolean): AstNode;
  parseExpression(): AstNode;
  parseExprList(
    close: acorn.TokenType,
    allowTrailingComma: boolean,
    allowEmpty: boolean,
    refDestructuringErrors: null,
  ): AstNode[];
  parseSubscript(
    base: AstNode,
    startPos: number,
    startLoc: unknown,
    noCalls: boolean,
    maybeAsyncArrow: boolean,
    optionalChained: boolean,
    forInit: boolean,
  ): AstNode;
  parseCatchClauseParam(): AstNode;
  parseClassStaticBlock(node: AstNode): AstNode;
}

type InternalParserClass = new (options: acorn.Options, input: string) => InternalParser;

const tt = acorn.tokTypes;

// ---------------------------------------------------------------------------------------------
// Small lexical helpers (only used to peek past whitespace and comments).

function isTriviaSpace(ch: string): boolean {
  return ch !== '' && /\s/.test(ch);
}

function isLineTerminator(code: number): boolean {
  return code === 10 || code === 13 || code === 0x2028 || code === 0x2029;
}

/** Returns the position of the first character at or after `pos` that is not whitespace/comment. */
function skipTrivia(input: string, pos: number): number {
  let p = pos;
  while (p < input.length) {
    const ch = input.charAt(p);
    if (isTriviaSpace(ch)) {
      p++;
    } else if (ch === '/' && input.charAt(p + 1) === '*') {
      const close = input.indexOf('*/', p + 2);
      p = close < 0 ? input.length : close + 2;
    } else if (ch === '/' && input.charAt(p + 1) === '/') {
      p += 2;
      while (p < input.length && !isLineTerminator(input.charCodeAt(p))) p++;
    } else {
      break;
    }
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Parser plugin: eventual send `!` plus bookkeeping of a few punctuator positions.

function contractSyntaxPlugin(BaseParser: typeof acorn.Parser): typeof acorn.Parser {
  const Base = BaseParser as unknown as InternalParserClass;

  class ContractParser extends Base {
    override parseSubscript(
      base: AstNode,
      startPos: number,
      startLoc: unknown,
      noCalls: boolean,
      maybeAsyncArrow: boolean,
      optionalChained: boolean,
      forInit: boolean,
    ): AstNode {
      if (this.type === tt.questionDot) {
        const after = skipTrivia(this.input, this.end);
        if (this.input.charAt(after) === '!' && this.input.charAt(after + 1) !== '=') {
          this.raise(
            after,
            'Eventual send `!` cannot follow `?.`; write `x ! m()` (or `(x?.y) ! m()` to send to the result of an optional chain)',
          );
        }
      }
      if (this.type === tt.prefix && this.value === '!' && !this.canInsertSemicolon()) {
        if (noCalls) {
          this.raise(
            this.start,
            'Eventual send `!` cannot appear in the callee of `new`; add parentheses, e.g. `new (x ! m)()` or `(new X()) ! m()`',
          );
        }
        if (optionalChained) {
          this.raise(
            this.start,
            'Eventual send `!` cannot continue an optional chain; parenthesise the left operand, e.g. `(a?.b) ! m()`',
          );
        }
        return this.parseEventualSend(base, startPos, startLoc);
      }
      return super.parseSubscript(
        base,
        startPos,
        startLoc,
        noCalls,
        maybeAsyncArrow,
        optionalChained,
        forInit,
      );
    }

    parseEventualSend(base: AstNode, startPos: number, startLoc: unknown): AstNode {
      const targetEnd = this.lastTokEnd;
      const bangStart = this.start;
      const bangEnd = this.end;
      this.next(); // consume `!`
      const node = this.startNodeAt(startPos, startLoc) as EventualSendNode;
      node.target = base;
      node.targetStart = startPos;
      node.targetEnd = targetEnd;
      node.bangEnd = bangEnd;
      node.formStart = this.start;
      node.property = null;
      node.call = false;
      node.arguments = [];
      if (this.type === tt.parenL) {
        node.form = 'apply';
      } else if (this.eat(tt.bracketL)) {
        node.form = 'computed';
        node.property = this.parseExpression();
        this.expect(tt.bracketR);
      } else if (this.type === tt.name || this.type.keyword !== undefined) {
        node.form = 'name';
        node.property = this.parseIdent(true);
      } else if (this.type === tt.privateId) {
        this.raise(this.start, 'Eventual send `!` cannot target a private name (`#x`)');
      } else if (this.type === tt.dot || this.type === tt.questionDot) {
        this.raise(
          bangStart,
          '`!` here is the eventual-send operator, not a TypeScript non-null assertion; write `x ! m()` or `x.y`',
        );
      } else {
        this.raise(
          this.start,
          'Expected a method name, `[expression]` or `(arguments)` after eventual-send `!`',
        );
      }
      if (this.type === tt.parenL) {
        this.next();
        node.call = true;
        node.arguments = this.parseExprList(tt.parenR, true, false, null);
      } else if (this.type === tt.questionDot) {
        const after = skipTrivia(this.input, this.end);
        if (this.input.charAt(after) === '(') {
          this.raise(
            this.start,
            'Optional call `?.()` is not allowed directly after an eventual send; write `x ! m()`',
          );
        }
      }
      return this.finishNode(node, 'EventualSend');
    }

    override parseCatchClauseParam(): AstNode {
      // parseTryStatement has just consumed the `(`.
      const parenStart = this.lastTokStart;
      const param = super.parseCatchClauseParam();
      param['qvParenStart'] = parenStart;
      return param;
    }

    override parseClassStaticBlock(node: AstNode): AstNode {
      // parseClassElement has just consumed the `{`.
      node['qvBodyStart'] = this.lastTokEnd;
      return super.parseClassStaticBlock(node);
    }
  }

  return ContractParser as unknown as typeof acorn.Parser;
}

const ContractParser = acorn.Parser.extend(contractSyntaxPlugin);

const PARSE_OPTIONS: acorn.Options = {
  ecmaVersion: 'latest',
  sourceType: 'module',
};

// ---------------------------------------------------------------------------------------------
// Edit list: inserts and replacements on the original source. Rather than splicing strings
// back-to-front (quadratic on large sources), the edits are sorted and the output is assembled
// front-to-back in one pass; the ordering rule below decides between edits at one position.

/**
 * Edits at the same position: closers first (inner before outer), then openers (outer before
 * inner), then a replacement starting there. Replacements must not overlap anything.
 */
const CLOSE = 0;
const OPEN = 1;
const REPLACE = 2;

interface Edit {
  start: number;
  end: number;
  text: string;
  kind: typeof CLOSE | typeof OPEN | typeof REPLACE;
  /** Nesting depth of the construct that owns the edit (0 = Program). */
  depth: number;
  seq: number;
}

class EditList {
  readonly #edits: Edit[] = [];

  /** Insert text that opens a construct starting at `pos` (e.g. `$qv_E(`). */
  open(pos: number, text: string, depth: number): void {
    this.#push(pos, pos, text, OPEN, depth);
  }

  /** Insert text that closes a construct ending at `pos` (e.g. ` }`). */
  close(pos: number, text: string, depth: number): void {
    this.#push(pos, pos, text, CLOSE, depth);
  }

  replace(start: number, end: number, text: string): void {
    this.#push(start, end, text, REPLACE, 0);
  }

  #push(start: number, end: number, text: string, kind: Edit['kind'], depth: number): void {
    this.#edits.push({ start, end, text, kind, depth, seq: this.#edits.length });
  }

  apply(source: string): string {
    const edits = this.#edits.slice().sort(compareEdits);
    const out: string[] = [];
    let cursor = 0;
    for (const edit of edits) {
      if (edit.start < cursor) {
        throw new Error(`internal error: overlapping edits at ${edit.start}`);
      }
      out.push(source.slice(cursor, edit.start), edit.text);
      cursor = edit.end;
    }
    out.push(source.slice(cursor));
    return out.join('');
  }
}

function compareEdits(a: Edit, b: Edit): number {
  if (a.start !== b.start) return a.start - b.start;
  if (a.kind !== b.kind) return a.kind - b.kind;
  if (a.kind === CLOSE) return b.depth - a.depth || b.seq - a.seq;
  return a.depth - b.depth || a.seq - b.seq;
}

// ---------------------------------------------------------------------------------------------
// The transform.

function isNode(value: unknown): value is AstNode {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { type?: unknown }).type === 'string' &&
    typeof (value as { start?: unknown }).start === 'number'
  );
}

/** Whether the character before `pos` could be part of an identifier or keyword. */
function endsWithWordChar(source: string, pos: number): boolean {
  if (pos === 0) return false;
  const code = source.charCodeAt(pos - 1);
  return code > 0x7f || /[\w$\\]/.test(source.charAt(pos - 1));
}

function errorAt(source: string, pos: number, reason: string): ContractSyntaxError {
  const { line, column } = acorn.getLineInfo(source, pos);
  return new ContractSyntaxError(reason, line, column + 1);
}

function rejectHtmlComments(source: string): void {
  const open = source.indexOf('<!--');
  const close = source.indexOf('-->');
  const candidates = [open, close].filter((pos) => pos >= 0);
  if (candidates.length === 0) return;
  const pos = Math.min(...candidates);
  const token = pos === open ? '<!--' : '-->';
  throw errorAt(
    source,
    pos,
    `Possible HTML-like comment \`${token}\` rejected (SES rejects this character sequence anywhere, even in strings and comments; write e.g. \`i-- > 0\` or '<' + '!--')`,
  );
}

function parse(source: string): AstNode {
  try {
    return ContractParser.parse(source, PARSE_OPTIONS) as unknown as AstNode;
  } catch (error) {
    if (error instanceof SyntaxError) {
      const pos = (error as SyntaxError & { pos?: unknown }).pos;
      if (typeof pos === 'number') {
        const reason = error.message.replace(/ \(\d+:\d+\)$/, '');
        throw errorAt(source, pos, reason);
      }
    }
    throw error;
  }
}

class Transformer {
  readonly #source: string;
  readonly #meter: boolean;
  readonly #edits = new EditList();
  /** The earliest (in source order) hygiene violation found by the walk. */
  #violation: { pos: number; reason: string } | null = null;

  constructor(source: string, meter: boolean) {
    this.#source = source;
    this.#meter = meter;
  }

  run(program: AstNode): string {
    this.#visit(program, 0);
    if (this.#violation !== null) {
      throw errorAt(this.#source, this.#violation.pos, this.#violation.reason);
    }
    return this.#edits.apply(this.#source);
  }

  #reject(pos: number, reason: string): void {
    if (this.#violation === null || pos < this.#violation.pos) this.#violation = { pos, reason };
  }

  #visit(node: AstNode, depth: number): void {
    this.#handle(node, depth);
    for (const key in node) {
      const value = node[key];
      if (Array.isArray(value)) {
        for (const item of value) {
          if (isNode(item)) this.#visit(item, depth + 1);
        }
      } else if (isNode(value)) {
        this.#visit(value, depth + 1);
      }
    }
  }

  #handle(node: AstNode, depth: number): void {
    switch (node.type) {
      case 'Identifier':
        this.#checkName(node, node['name'] as string, '');
        break;
      case 'PrivateIdentifier':
        this.#checkName(node, node['name'] as string, '#');
        break;
      case 'ImportExpression':
        this.#reject(
          node.start,
          'Dynamic `import()` is not allowed in contracts (no ambient module loading inside vats); use a static `import` declaration',
        );
        break;
      case 'MetaProperty':
        if ((node['meta'] as AstNode)['name'] === 'import') {
          this.#reject(node.start, '`import.meta` is not allowed in contracts');
        }
        break;
      case 'EventualSend':
        this.#eventualSend(node as EventualSendNode, depth);
        break;
      case 'FunctionDeclaration':
      case 'FunctionExpression':
      case 'ArrowFunctionExpression':
        if (this.#meter) this.#meterFunction(node, depth);
        break;
      case 'ForStatement':
      case 'ForInStatement':
      case 'ForOfStatement':
      case 'WhileStatement':
      case 'DoWhileStatement':
        if (this.#meter) this.#meterLoop(node, depth);
        break;
      case 'CatchClause':
        if (this.#meter) this.#meterCatch(node, depth);
        break;
      case 'StaticBlock':
        if (this.#meter)
          this.#edits.open(node['qvBodyStart'] as number, `${METER_NAME}.f();`, depth);
        break;
    }
  }

  #checkName(node: AstNode, name: string, sigil: string): void {
    if (name.startsWith(RESERVED_PREFIX)) {
      this.#reject(
        node.start,
        `Identifier \`${sigil}${name}\` uses the prefix \`${RESERVED_PREFIX}\`, which is reserved for the vat runtime (rejected for bindings, labels and property names alike)`,
      );
    }
  }

  #eventualSend(node: EventualSendNode, depth: number): void {
    // In minified code the operand may directly follow a keyword (`return[]!m()`): keep the
    // inserted identifier from merging with it.
    const glue = endsWithWordChar(this.#source, node.targetStart) ? ' ' : '';
    const open = node.call ? `${E_NAME}(` : `${E_NAME}.get(`;
    this.#edits.open(node.targetStart, glue + open, depth);
    // Replace the `!` (and plain spaces after it, to keep the output tidy) by `).` or `)`.
    let end = node.bangEnd;
    if (/^[ \t]*$/.test(this.#source.slice(node.bangEnd, node.formStart))) end = node.formStart;
    this.#edits.replace(node.targetEnd, end, node.form === 'name' ? ').' : ')');
  }

  #meterFunction(node: AstNode, depth: number): void {
    const body = node['body'] as AstNode;
    if (body.type === 'BlockStatement') {
      this.#enterBlock(body, `${METER_NAME}.f();`, depth);
    } else {
      // Expression-bodied arrow `x => e` becomes `x => ($qv_meter.f(), e)`. Any parentheses of
      // the original body (e.g. around an object literal) stay around the new expression.
      this.#edits.open(body.start, `(${METER_NAME}.f(), `, depth);
      this.#edits.close(body.end, ')', depth);
    }
  }

  /** Inserts `text` at the start of a function body block, after its directive prologue. */
  #enterBlock(body: AstNode, text: string, depth: number): void {
    let lastDirective: AstNode | undefined;
    for (const statement of body['body'] as AstNode[]) {
      if (statement.type !== 'ExpressionStatement' || typeof statement['directive'] !== 'string') {
        break;
      }
      lastDirective = statement;
    }
    if (lastDirective === undefined) {
      this.#edits.open(body.start + 1, text, depth);
    } else {
      const needsSemicolon = this.#source.charAt(lastDirective.end - 1) !== ';';
      this.#edits.open(lastDirective.end, needsSemicolon ? `;${text}` : text, depth);
    }
  }

  #meterLoop(node: AstNode, depth: number): void {
    const body = node['body'] as AstNode;
    if (body.type === 'BlockStatement') {
      this.#edits.open(body.start + 1, `${METER_NAME}.l();`, depth);
    } else {
      this.#edits.open(body.start, `{ ${METER_NAME}.l(); `, depth);
      this.#edits.close(body.end, ' }', depth);
    }
  }

  #meterCatch(node: AstNode, depth: number): void {
    const param = node['param'] as AstNode | null;
    const body = node['body'] as AstNode;
    if (param === null) {
      // `catch {` -> `catch ($qv_err) { $qv_meter.c($qv_err);`
      this.#edits.open(node.start + 'catch'.length, ` (${ERR_NAME})`, depth);
      this.#edits.open(body.start + 1, `${METER_NAME}.c(${ERR_NAME});`, depth);
    } else if (param.type === 'Identifier') {
      this.#edits.open(body.start + 1, `${METER_NAME}.c(${param['name'] as string});`, depth);
    } else {
      // `catch (PATTERN) { body }` ->
      // `catch ($qv_err) { $qv_meter.c($qv_err); let PATTERN = $qv_err; { body }}`
      // The pattern stays in place (edits inside it still apply, lines are kept); the original
      // body becomes a nested block so that its declarations cannot capture names used by
      // default values in the pattern (as in the original scoping).
      const parenStart = param['qvParenStart'] as number;
      this.#edits.replace(
        parenStart,
        param.start,
        `(${ERR_NAME}) { ${METER_NAME}.c(${ERR_NAME}); let `,
      );
      const between = this.#source.slice(param.end, body.start + 1);
      const newlines = between.match(/\r\n|[\n\r\u2028\u2029]/g)?.join('') ?? '';
      this.#edits.replace(param.end, body.start + 1, ` = ${ERR_NAME}; {${newlines}`);
      this.#edits.close(body.end, '}', depth);
    }
  }
}

/**
 * Transforms contract module source: rewrites eventual-send `!` syntax, optionally injects gas
 * metering, and enforces confinement hygiene. Throws ContractSyntaxError for invalid or
 * disallowed source. The result is ES module source with the same line numbers.
 */
export function transformContractSource(source: string, options: TransformOptions): string {
  rejectHtmlComments(source);
  const program = parse(source);
  return new Transformer(source, options.meter).run(program);
}
