/** One kernel's entry in the bad-input harness (test/bad-input-kernels.test.ts). */
import type { Buf, KernelName } from '../../../lib';

export type Params = Record<string, unknown>;

export interface KernelCase {
  kernel: KernelName;
  /** Valid params on a backend (buffers made there by buf(n)). */
  params: (buf: (n: number) => Buf) => Params;
  dims: string[];
  bufs: string[];
  /** Field changes and the message each must give (after '<kernel>: '). */
  ranges: [Params, string][];
}

/** The message a call throws, or 'no error'. */
export function messageOf(fn: () => unknown): string {
  try {
    fn();
    return 'no error';
  } catch (e) {
    return (e as Error).message;
  }
}
