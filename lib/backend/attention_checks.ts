/** The attention kernels' argument checks (see checks.ts), the same for every backend; none yet: the addon checks them. */
import type { KernelCheck } from './checks';
import type { AttentionKernels } from './model_types';

export const attentionChecks: { [K in keyof AttentionKernels]?: KernelCheck<Parameters<AttentionKernels[K]>[0]> } = {};
