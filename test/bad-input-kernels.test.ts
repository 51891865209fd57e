/**
 * One bad-input harness for the kernels that take a params object: each bad field must be refused with an
 * error naming the kernel and the field, the same message on every backend (the checks run in the
 * registry, lib/backend/checks.ts), and the addon itself must refuse it too when called without the
 * registry (memory safety), never crashing or reading past a buffer.
 */
import { backend, type BackendName, type Buf } from '../lib';
import { loadAddon } from '../lib/backend/native/addon';
import { hostParams } from '../lib/backend/native/views';
import { backendsWithKernels } from './helpers/backends';
import { bufOf } from './helpers/bufs';
import { ATTENTION_CASES } from './helpers/bad_input/attention';
import { type KernelCase, messageOf } from './helpers/bad_input/case';
import { MODEL_CASES } from './helpers/bad_input/model';
import { OPTIM_CASES } from './helpers/bad_input/optim';
import { PEFT_CASES } from './helpers/bad_input/peft';
import { PRIMITIVE_CASES } from './helpers/bad_input/primitives';
import { QUANT_CASES } from './helpers/bad_input/quant';

type Params = Record<string, unknown>;

const CASES: KernelCase[] = [...PRIMITIVE_CASES, ...PEFT_CASES, ...MODEL_CASES, ...ATTENTION_CASES, ...OPTIM_CASES, ...QUANT_CASES];

const BAD_DIMS = [-1, NaN, 1.5, Infinity, 2 ** 53];

/** Every bad variant of a case's params: [what, change, expected message or null (only 'names the kernel')]. */
function variants(c: KernelCase, buf: (n: number) => Buf): [string, Params, RegExp | string][] {
  const out: [string, Params, RegExp | string][] = [];
  for (const d of c.dims) for (const bad of BAD_DIMS) out.push([`${d} = ${bad}`, { [d]: bad }, new RegExp(`^${c.kernel}: argument '${d}' must`)]);
  for (const name of c.bufs) {
    out.push([`${name} too short`, { [name]: buf(1) }, new RegExp(`^${c.kernel}: argument '${name}' has \\d+ elements, expected at least \\d+$`)]);
    out.push([`${name} not a buffer`, { [name]: 7 }, new RegExp(`^${c.kernel}: argument '${name}' must be a`)]);
  }
  // Labelled by position: JSON would print NaN and Infinity alike as null.
  c.ranges.forEach(([change, message], i) => out.push([`range ${i} (${Object.keys(change).join(", ")})`, change, `${c.kernel}: ${message}`]));
  return out;
}

describe.each(CASES.map((c) => [c.kernel, c] as const))('%s rejects bad input', (name, c) => {
  const backends = backendsWithKernels(name);
  const run = (b: BackendName) => backend(b).kernels.get(name, 'test') as (p: unknown) => unknown;

  /** The message each backend gives for one variant (buffers made on that backend). */
  function messages(change: (buf: (n: number) => Buf) => Params): Map<BackendName, string> {
    const out = new Map<BackendName, string>();
    for (const b of backends) {
      const be = backend(b);
      const buf = (n: number) => bufOf(be, new Float32Array(n));
      out.set(b, messageOf(() => run(b)({ ...c.params(buf), ...change(buf) })));
    }
    return out;
  }

  it('accepts its valid params on every backend', () => {
    for (const [b, m] of messages(() => ({}))) expect([b, m]).toEqual([b, 'no error']);
  });

  it('refuses each bad field with the same message on every backend', () => {
    const probe = (n: number) => bufOf(backend('js'), new Float32Array(n));
    for (const [what, , expected] of variants(c, probe)) {
      const got = messages((buf) => variants(c, buf).find(([w]) => w === what)![1]);
      for (const [b, m] of got) {
        if (typeof expected === 'string') expect([what, b, m]).toEqual([what, b, expected]);
        else expect([what, b, m]).toEqual([what, b, expect.stringMatching(expected)]);
      }
      expect(new Set(got.values()).size).toBe(1);
    }
  });

  it('refuses a call without a params object', () => {
    for (const b of backends) expect(() => run(b)(3)).toThrow(`${name}: expected one params object, got number`);
  });

  const addon = loadAddon();
  (addon && name in addon ? it : it.skip)('is refused by the addon itself, without the registry, when a buffer is short or a field is missing', () => {
    const be = backend('js');
    const valid = hostParams(c.params((n) => bufOf(be, new Float32Array(n))));
    const raw = (addon as unknown as Record<string, (p: unknown) => unknown>)[name];
    expect(() => raw({ ...valid })).not.toThrow();
    for (const field of c.bufs) {
      expect(() => raw({ ...valid, [field]: new Float32Array(1) })).toThrow(new RegExp(`^${name}: argument '${field}' has 1 elements`));
    }
    for (const field of c.dims) expect(() => raw({ ...valid, [field]: undefined })).toThrow(new RegExp(`^${name}: argument '${field}' must be a number`));
    expect(() => raw(5)).toThrow(`${name}: expected one params object, got number 5`);
  });
});
