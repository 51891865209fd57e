// Token embedding lookup and its gradient. ids are trusted here: the binding checks them against vocab.
#pragma once

#include <cstdint>

namespace peftjs {

// out[i, :] = table[ids[i], :] for i < n, rows of width dim.
void embedding_forward(const int32_t* ids, int64_t n, int64_t dim, const float* table, float* out);
// dtable[ids[i], :] += dy[i, :] (accumulates). Repeated ids are summed in order of i.
void embedding_backward(const int32_t* ids, int64_t n, int64_t dim, const float* dy, float* dtable);

}  // namespace peftjs
