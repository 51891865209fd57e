/**
 * Every unary op of the table (lib/ops/unary/table.ts), forward and backward, on every backend: against
 * PyTorch's values and derivatives at fixed points (test/fixtures/unary/points.json, made by
 * make_unary_fixture.py), and the native kernels against the js reference on random inputs of every odd
 * size. A new op is covered here once the fixture script names it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { fromArray, scale, setBackend, type Tensor, unaryOp } from '../../lib';
import { UNARY_OP_NAMES, UNARY_OPS, type UnaryOpName } from '../../lib/ops/unary/table';
import { backendsUnderTest, backendsWithKernels, hostRandom, ODD_SIZES, oracle, randomTensor } from '../helpers/backends';

interface Points { x: number[]; y: number[]; dy: number[] }
const FIXTURE = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/unary/points.json'), 'utf8')) as { ops: Record<string, Points> };

/** Inputs where the op is defined: [-4, 4), or (0.1, 4.1) for ops defined on x > 0 only. */
function domainTensor(op: UnaryOpName, n: number, seed: number): Tensor {
  const u = hostRandom(n, seed);
  return fromArray(Array.from(u, (v) => (UNARY_OPS[op].domain === 'positive' ? 2.1 + 2 * v : 4 * v)));
}

it('the fixture has PyTorch points for every op of the table, and no other', () => {
  expect(Object.keys(FIXTURE.ops).sort()).toEqual([...UNARY_OP_NAMES].sort());
});

describe.each(backendsUnderTest())('unary ops on %s', (name) => {
  beforeAll(() => setBackend(name));

  it.each(UNARY_OP_NAMES)('%s matches PyTorch', (op) => {
    const { x, y } = FIXTURE.ops[op];
    expect(unaryOp(op, fromArray(x))).toAllClose(y, { atol: 1e-6, rtol: 2e-6 });
  });

  it.each(ODD_SIZES)('every op matches the oracle on %i elements', (n) => {
    for (const op of UNARY_OP_NAMES) {
      const a = domainTensor(op, n, n * 3);
      expect(unaryOp(op, a)).toAllClose(oracle([a], (v) => unaryOp(op, v)), { atol: 1e-6, rtol: 2e-6 });
    }
  });

  it('scale computes alpha * x + beta', () => {
    expect(scale(fromArray([1, -2, 3]), 2, 0.5).toArray()).toEqual([2.5, -3.5, 6.5]);
    const a = randomTensor([1000], 9);
    expect(scale(a, -1.5, 3)).toAllClose(oracle([a], (x) => scale(x, -1.5, 3)), { rtol: 1e-6 });
  });
});

describe.each(backendsWithKernels('unaryBackward'))('unary gradients on %s', (name) => {
  beforeAll(() => setBackend(name));

  /** The gradient that reaches v through the op for the output gradient g. */
  const gradOf = (op: UnaryOpName, v: Tensor, g: Tensor): Tensor => {
    const leaf = v.detach().requiresGrad_();
    unaryOp(op, leaf).backward({ grad: g });
    return leaf.grad!;
  };

  it.each(UNARY_OP_NAMES)('%s matches PyTorch\'s derivative', (op) => {
    const { x, dy } = FIXTURE.ops[op];
    expect(gradOf(op, fromArray(x), fromArray(x.map(() => 1)))).toAllClose(dy, { atol: 1e-6, rtol: 4e-6 });
  });

  it.each(ODD_SIZES)('every op\'s gradient matches the oracle on %i elements', (n) => {
    for (const op of UNARY_OP_NAMES) {
      const a = domainTensor(op, n, n * 3), g = randomTensor([n], n * 5);
      expect(gradOf(op, a, g)).toAllClose(oracle([a, g], (v, gv) => gradOf(op, v, gv)), { atol: 1e-6, rtol: 4e-6 });
    }
  });
});
