/**
 * cuda::gemm implements C = alpha op(A) op(B) + beta C + bias only: arguments that set the CPU gemm's other
 * fields (the second K segment, col_scale, act, pre_out) are refused with an error naming the kernel and
 * each field, instead of giving a different result. The check is host code (cuda/gemm_support.h), exposed
 * as cudaGemmUnsupported in every build, so it is tested here without a GPU.
 */
import { loadAddon } from '../../lib/backend/native/addon';

type Check = (k2: number, a2: boolean, b2: boolean, colScale: boolean, act: string, preOut: boolean) => string | null;

const addon = loadAddon() as unknown as { cudaGemmUnsupported?: Check } | null;
const check = addon?.cudaGemmUnsupported;
const skipReason = !addon ? 'the native addon is not loaded'
  : !check ? 'the loaded addon predates cudaGemmUnsupported (rebuild it: npm run build:gyp or npm run build:native)' : '';
if (skipReason) console.log(`skipping the cuda::gemm argument checks: ${skipReason}`);

(skipReason ? describe.skip : describe)('cuda::gemm refuses the GemmArgs fields it does not implement', () => {
  const run = (k2: number, a2: boolean, b2: boolean, colScale: boolean, act: string, preOut: boolean) =>
    check!(k2, a2, b2, colScale, act, preOut);

  it('accepts a plain gemm (alpha, beta, bias and transposes are implemented)', () => {
    expect(run(0, false, false, false, 'none', false)).toBeNull();
  });

  it.each([
    ['the second K segment', [4, true, true, false, 'none', false], /GemmArgs\.k2\/a2\/b2 \(the second K segment: k2 = 4, a2 set, b2 set\)/],
    ['k2 alone', [3, false, false, false, 'none', false], /GemmArgs\.k2\/a2\/b2 \(the second K segment: k2 = 3, a2 null, b2 null\)/],
    ['a2 without k2', [0, true, false, false, 'none', false], /GemmArgs\.k2\/a2\/b2 \(the second K segment: k2 = 0, a2 set, b2 null\)/],
    ['col_scale', [0, false, false, true, 'none', false], /GemmArgs\.col_scale \(a per-column scale after the bias\)/],
    ['act = relu', [0, false, false, false, 'relu', false], /GemmArgs\.act = relu \(an activation after the bias\)/],
    ['act = gelu', [0, false, false, false, 'gelu', false], /GemmArgs\.act = gelu /],
    ['act = gelu_tanh', [0, false, false, false, 'gelu_tanh', false], /GemmArgs\.act = gelu_tanh /],
    ['act = silu', [0, false, false, false, 'silu', false], /GemmArgs\.act = silu /],
    ['pre_out', [0, false, false, false, 'none', true], /GemmArgs\.pre_out \(a copy of the output before col_scale and act\)/],
  ] as [string, Parameters<Check>, RegExp][])('%s: an error naming cuda::gemm and the field', (_, fields, field) => {
    const error = run(...fields);
    expect(error).toMatch(/^the CUDA kernel cuda::gemm does not implement /);
    expect(error).toMatch(field);
    expect(error).toMatch(/It computes only C = alpha op\(A\) op\(B\) \+ beta C \+ bias/);
  });

  it('names every unsupported field at once (the fused LoRA / (IA)3 epilogue)', () => {
    const error = run(8, true, true, true, 'gelu', true)!;
    const named = ['GemmArgs.k2/a2/b2', 'GemmArgs.col_scale', 'GemmArgs.act = gelu', 'GemmArgs.pre_out'];
    expect(named.map((f) => error.includes(f))).toEqual([true, true, true, true]);
    expect(error.split('; ')).toHaveLength(4);
  });

  it('rejects an unknown activation name', () => {
    expect(() => run(0, false, false, false, 'tanh', false))
      .toThrow(/cudaGemmUnsupported: unknown activation 'tanh' \(expected none, relu, gelu, gelu_tanh or silu\)/);
  });
});
