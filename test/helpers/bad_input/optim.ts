/** The optim kernels in the bad-input harness (none take a params object across N-API yet). */
import type { KernelCase } from './case';

export const OPTIM_CASES: KernelCase[] = [];
