import * as peft from '../../lib';
import { fromArray, scale, setBackend, type Tensor } from '../../lib';
import { backendsUnderTest, ODD_SIZES, oracle, randomTensor } from '../helpers/backends';

const unaries: [string, (t: Tensor) => Tensor, (x: number) => number][] = [
  ['exp', peft.exp, Math.exp],
  ['log', (t) => peft.log(peft.add(peft.mul(t, t), 0.1)), (x) => Math.log(x * x + 0.1)],
  ['tanh', peft.tanh, Math.tanh],
  ['gelu', peft.gelu, (x) => 0.5 * x * (1 + erfKnown(x / Math.SQRT2))],
  ['geluTanh', peft.geluTanh, (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)))],
  ['silu', peft.silu, (x) => x / (1 + Math.exp(-x))],
  ['relu', peft.relu, (x) => Math.max(0, x)],
  ['neg', peft.neg, (x) => -x],
  ['sqrt', (t) => peft.sqrt(peft.mul(t, t)), (x) => Math.abs(x)],
  ['sigmoid', peft.sigmoid, (x) => 1 / (1 + Math.exp(-x))],
];

// Abramowitz-Stegun 7.1.26 is too coarse for a check; a tabulated erf is exact enough here.
function erfKnown(x: number): number {
  const table: Record<string, number> = { '0': 0, '0.5': 0.5204998778130465, '1': 0.8427007929497149, '2': 0.9953222650189527, '3': 0.9999779095030014 };
  const key = String(Math.abs(x));
  if (!(key in table)) throw new Error(`no tabulated erf(${x})`);
  return Math.sign(x) * table[key];
}

describe.each(backendsUnderTest())('unary ops on %s', (name) => {
  beforeAll(() => setBackend(name));

  it.each(unaries)('%s matches its definition at known points', (_, op, f) => {
    const points = [-3, -2, -1, -0.5, 0, 0.5, 1, 2, 3].map((v) => v * Math.SQRT2);
    const xs = _ === 'gelu' ? points : [-3, -2, -1, -0.5, 0, 0.5, 1, 2, 3];
    expect(op(fromArray(xs))).toAllClose(xs.map(f), { atol: 1e-6, rtol: 2e-6 });
  });

  it.each(ODD_SIZES)('all ops match the oracle on %i elements', (n) => {
    const a = randomTensor([n], n * 3);
    for (const [, op] of unaries) expect(op(a)).toAllClose(oracle([a], op), { atol: 1e-6, rtol: 2e-6 });
  });

  it('scale computes alpha * x + beta', () => {
    expect(scale(fromArray([1, -2, 3]), 2, 0.5).toArray()).toEqual([2.5, -3.5, 6.5]);
    const a = randomTensor([1000], 9);
    expect(scale(a, -1.5, 3)).toAllClose(oracle([a], (x) => scale(x, -1.5, 3)), { rtol: 1e-6 });
  });
});
