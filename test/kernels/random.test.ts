import { backend, type BackendName, manualSeed, rand, randn, setBackend, withBackend, zeros } from '../../lib';
import { philox4x32 } from '../../lib/backend/js/philox';
import { backendsUnderTest } from '../helpers/backends';

describe('Philox4x32-10', () => {
  it('reproduces the Random123 known-answer vector for counter 0, key 0', () => {
    expect([...philox4x32(0, 0)].map((x) => x.toString(16))).toEqual(['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']);
  });
});

describe.each(backendsUnderTest())('random fill on %s', (name) => {
  beforeAll(() => setBackend(name));

  it.each([1, 3, 17, 1000])('gives the js backend\'s numbers for %i elements', (n) => {
    const js = withBackend('js', () => [rand([n], { seed: 42 }).toFloat32Array(), randn([n], { seed: 42, mean: 1, std: 2 }).toFloat32Array()]);
    expect(rand([n], { seed: 42 }).toFloat32Array()).toEqual(js[0]);
    // Box-Muller goes through log/sin/cos, whose last bits may differ between libm and V8.
    expect(randn([n], { seed: 42, mean: 1, std: 2 })).toAllClose(js[1], { atol: 1e-6, rtol: 1e-6 });
  });

  it('has the moments of its distribution', () => {
    const u = rand([100000], { seed: 3, low: -1, high: 3 }).toFloat32Array();
    const z = randn([100000], { seed: 4 }).toFloat32Array();
    const m = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
    const v = (a: Float32Array) => { const mu = m(a); return a.reduce((s, x) => s + (x - mu) ** 2, 0) / a.length; };
    expect(Math.abs(m(u) - 1)).toBeLessThan(0.02);
    expect(Math.abs(v(u) - 16 / 12)).toBeLessThan(0.02);
    expect(Math.min(...u)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...u)).toBeLessThan(3);
    expect(Math.abs(m(z))).toBeLessThan(0.01);
    expect(Math.abs(v(z) - 1)).toBeLessThan(0.02);
  });

  it('continues one global stream after manualSeed, reproducibly', () => {
    manualSeed(7);
    const first = [rand([5]).toFloat32Array(), rand([3]).toFloat32Array()];
    manualSeed(7);
    expect(rand([5]).toFloat32Array()).toEqual(first[0]);
    expect(rand([3]).toFloat32Array()).toEqual(first[1]);
    expect(first[0].slice(0, 3)).not.toEqual(first[1]);
  });

  // Offsets whose block counters cross 2^32 (the native fill draws eight counters per vector and must hand
  // the carry into the high word to its scalar path) and unaligned starts and lengths around them.
  it.each([[1, 100], [(2 ** 32 - 9) * 4 + 3, 77], [(2 ** 32 - 1) * 4, 40], [2 ** 36 + 5, 33]])(
    'gives the js backend\'s numbers at stream offset %i for %i elements', (offset, n) => {
      const fill = (b: BackendName) => withBackend(b, () => {
        const out = zeros([n]);
        backend(b).randomFill({ kind: 'uniform', out: out.buf(), n, seed: 12345, offset, low: 0, high: 1 });
        return out.toFloat32Array();
      });
      expect(fill(name)).toEqual(fill('js'));
    });

  it('rejects bad seeds', () => {
    expect(() => rand([2], { seed: -1 })).toThrow(/rand: seed must be an integer in \[0, 2\^48\), got -1/);
    expect(() => randn([2], { seed: 1.5 })).toThrow(/randn: seed/);
  });
});
