/** The primitive kernels' argument checks (see checks.ts), the same for every backend; none yet: the addon checks them. */
import type { KernelCheck } from './checks';
import type { PrimitiveKernels } from './types';

export const primitiveChecks: { [K in keyof PrimitiveKernels]?: KernelCheck<Parameters<PrimitiveKernels[K]>[0]> } = {};
