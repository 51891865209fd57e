/** The model kernels' argument checks (see checks.ts), the same for every backend; none yet: the addon checks them. */
import type { KernelCheck } from './checks';
import type { ModelKernels } from './model_types';

export const modelChecks: { [K in keyof ModelKernels]?: KernelCheck<Parameters<ModelKernels[K]>[0]> } = {};
