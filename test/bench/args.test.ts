import { parseArgs } from '../../bench/main';

describe('bench arguments', () => {
  it('alternates peftjs and PyTorch twice by default, --rounds N times when asked', () => {
    expect(parseArgs([]).rounds).toBe(2);
    expect(parseArgs(['--rounds', '3', '--only', 'gemm']).rounds).toBe(3);
  });

  it('refuses a round count that is not a whole number >= 1, and unknown rows, by name', () => {
    expect(() => parseArgs(['--rounds', '0'])).toThrow(/--rounds needs a whole number >= 1, got '0'/);
    expect(() => parseArgs(['--rounds', '1.5'])).toThrow(/--rounds/);
    expect(() => parseArgs(['--rounds'])).toThrow(/--rounds needs a value/);
    expect(() => parseArgs(['--only', 'gemm,nope'])).toThrow(/unknown row 'nope'/);
  });
});
