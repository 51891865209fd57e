/** The optim kernels' argument checks (see checks.ts), the same for every backend; none yet: the addon checks them. */
import type { KernelCheck } from './checks';
import type { OptimKernels } from './model_types';

export const optimChecks: { [K in keyof OptimKernels]?: KernelCheck<Parameters<OptimKernels[K]>[0]> } = {};
