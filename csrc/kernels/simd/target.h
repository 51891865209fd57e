// Compiles the functions between BEGIN and END for an instruction set without any build flag, so one
// source list serves both builds and the library still loads on CPUs without it (the callers dispatch
// on cpu_features at run time). Include system headers (immintrin.h) before BEGIN.
#pragma once

#define PEFTJS_PRAGMA(x) _Pragma(#x)

#if defined(__clang__)
#define PEFTJS_TARGET_BEGIN(isa) PEFTJS_PRAGMA(clang attribute push(__attribute__((target(isa))), apply_to = function))
#define PEFTJS_TARGET_END PEFTJS_PRAGMA(clang attribute pop)
#else
#define PEFTJS_TARGET_BEGIN(isa) PEFTJS_PRAGMA(GCC push_options) PEFTJS_PRAGMA(GCC target(isa))
#define PEFTJS_TARGET_END PEFTJS_PRAGMA(GCC pop_options)
#endif
