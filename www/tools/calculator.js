// The calculator tool: a recursive-descent parser and evaluator for arithmetic expressions
// (no eval). Grammar, loosest binding first:
//
//   expression := term (('+' | '-') term)*
//   term       := unary (('*' | '/' | '%') unary)*
//   unary      := ('-' | '+') unary | power
//   power      := primary ('^' unary)?           right-associative; -2^2 = -(2^2)
//   primary    := number | constant | function '(' arguments ')' | '(' expression ')'
//
// Functions: sqrt sin cos tan log (base 10) ln exp abs round floor ceil min max;
// constants: pi, e. `**` is accepted for `^`, `×` and `÷` for `*` and `/`.

const FUNCTIONS = {
  sqrt: [1, Math.sqrt],
  sin: [1, Math.sin],
  cos: [1, Math.cos],
  tan: [1, Math.tan],
  log: [1, Math.log10],
  ln: [1, Math.log],
  exp: [1, Math.exp],
  abs: [1, Math.abs],
  round: [1, Math.round],
  floor: [1, Math.floor],
  ceil: [1, Math.ceil],
  min: [-1, Math.min], // -1: one or more arguments
  max: [-1, Math.max],
};

const CONSTANTS = { pi: Math.PI, e: Math.E };

export class CalculatorError extends Error {
  constructor(message, position) {
    super(position === undefined ? message : `${message} (at position ${position + 1})`);
    this.name = 'CalculatorError';
  }
}

/** The tokens of `source`: `{ type: 'number' | 'name' | 'op', value, pos }`, ending with 'end'. */
function tokenize(source) {
  const tokens = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    if (/\s/.test(c)) {
      i += 1;
      continue;
    }
    const number = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(source.slice(i));
    if (number) {
      tokens.push({ type: 'number', value: Number(number[0]), pos: i });
      i += number[0].length;
      continue;
    }
    const name = /^[A-Za-zπ][A-Za-z0-9_]*/.exec(source.slice(i));
    if (name) {
      tokens.push({ type: 'name', value: name[0] === 'π' ? 'pi' : name[0].toLowerCase(), pos: i });
      i += name[0].length;
      continue;
    }
    if (source.startsWith('**', i)) {
      tokens.push({ type: 'op', value: '^', pos: i });
      i += 2;
      continue;
    }
    const op = { '×': '*', '÷': '/', '−': '-' }[c] ?? c;
    if ('+-*/%^(),'.includes(op)) {
      tokens.push({ type: 'op', value: op, pos: i });
      i += 1;
      continue;
    }
    throw new CalculatorError(`unexpected character '${c}'`, i);
  }
  tokens.push({ type: 'end', value: 'the end of the expression', pos: source.length });
  return tokens;
}

class Parser {
  constructor(tokens) {
    this.tokens = tokens;
    this.at = 0;
  }
  peek() {
    return this.tokens[this.at];
  }
  next() {
    return this.tokens[this.at++];
  }
  isOp(value) {
    const t = this.peek();
    return t.type === 'op' && t.value === value;
  }
  expect(value) {
    const t = this.next();
    if (t.type !== 'op' || t.value !== value) throw new CalculatorError(`expected '${value}' but found ${describe(t)}`, t.pos);
  }

  expression() {
    let value = this.term();
    while (this.isOp('+') || this.isOp('-')) {
      const op = this.next().value;
      const right = this.term();
      value = op === '+' ? value + right : value - right;
    }
    return value;
  }

  term() {
    let value = this.unary();
    while (this.isOp('*') || this.isOp('/') || this.isOp('%')) {
      const t = this.next();
      const right = this.unary();
      if ((t.value === '/' || t.value === '%') && right === 0) throw new CalculatorError('division by zero', t.pos);
      value = t.value === '*' ? value * right : t.value === '/' ? value / right : value % right;
    }
    return value;
  }

  unary() {
    if (this.isOp('-')) {
      this.next();
      return -this.unary();
    }
    if (this.isOp('+')) {
      this.next();
      return this.unary();
    }
    return this.power();
  }

  power() {
    const base = this.primary();
    if (this.isOp('^')) {
      this.next();
      return base ** this.unary();
    }
    return base;
  }

  primary() {
    const t = this.next();
    if (t.type === 'number') return t.value;
    if (t.type === 'op' && t.value === '(') {
      const value = this.expression();
      this.expect(')');
      return value;
    }
    if (t.type === 'name') {
      if (this.isOp('(')) return this.call(t);
      if (t.value in CONSTANTS) return CONSTANTS[t.value];
      if (t.value in FUNCTIONS) throw new CalculatorError(`the function '${t.value}' needs parentheses, like ${t.value}(2)`, t.pos);
      throw new CalculatorError(`unknown name '${t.value}' (known: ${Object.keys(CONSTANTS).join(', ')} and the functions ${Object.keys(FUNCTIONS).join(', ')})`, t.pos);
    }
    throw new CalculatorError(`expected a number but found ${describe(t)}`, t.pos);
  }

  call(name) {
    const known = FUNCTIONS[name.value];
    if (!known) throw new CalculatorError(`unknown function '${name.value}' (known: ${Object.keys(FUNCTIONS).join(', ')})`, name.pos);
    const [arity, f] = known;
    this.expect('(');
    const args = [];
    if (!this.isOp(')')) {
      args.push(this.expression());
      while (this.isOp(',')) {
        this.next();
        args.push(this.expression());
      }
    }
    this.expect(')');
    if (arity === -1 ? args.length === 0 : args.length !== arity) {
      const want = arity === -1 ? 'at least one argument' : `${arity} argument${arity === 1 ? '' : 's'}`;
      throw new CalculatorError(`${name.value}() takes ${want}, got ${args.length}`, name.pos);
    }
    return f(...args);
  }
}

function describe(token) {
  return token.type === 'end' ? token.value : `'${token.value}'`;
}

/** Rounds away binary noise (0.1 + 0.2 = 0.3) while keeping 12 significant digits. */
function tidy(x) {
  return Number.isFinite(x) && x !== 0 ? Number(x.toPrecision(12)) : x;
}

/** The value of `expression`; throws a CalculatorError that says what is wrong and where. */
export function evaluate(expression) {
  if (typeof expression !== 'string' || expression.trim() === '') throw new CalculatorError('the expression is empty');
  const parser = new Parser(tokenize(expression));
  const value = parser.expression();
  const rest = parser.peek();
  if (rest.type !== 'end') throw new CalculatorError(`unexpected ${describe(rest)}`, rest.pos);
  if (Number.isNaN(value)) throw new CalculatorError('the result is not a number (for example the square root of a negative number)');
  if (!Number.isFinite(value)) throw new CalculatorError('the result is too large (infinite)');
  return tidy(value);
}

export const calculatorTool = {
  name: 'calculator',
  description: 'Evaluates an arithmetic expression exactly: + - * / ^ %, parentheses, sqrt sin cos tan log ln exp abs round floor ceil min max, pi, e.',
  parameters: {
    type: 'object',
    properties: { expression: { type: 'string', description: "The expression, e.g. '2*(3+4)' or 'sqrt(2)^2'" } },
    required: ['expression'],
  },
  run({ expression }) {
    return { expression, result: evaluate(expression) };
  },
};
