// NASWOT code kernel on the CPU, an XLA FFI handler.
//
// x: f32[B, N] (one ReLU call's inputs, flattened per example); mask: f32[N]
// (> 0 where a unit counts). out: s32[B, B] with out[i][j] the number of
// counted units where (x[i] > 0) == (x[j] > 0), i.e. N_counted - Hamming.
// The codes are packed 64 to a word and compared with XOR + popcount; the
// result is exact (integer counts) and equals the XLA formulation in
// jaxnas/proxies/naswot.py bit for bit. Built on first use by
// jaxnas/native/__init__.py.
#include <algorithm>
#include <cstdint>
#include <vector>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

// Packs row[0..f) > 0 into 64-bit words (bit k of word w is unit 64w+k).
void PackRow(const float* row, int64_t f, uint64_t* dst) {
  const int64_t words = (f + 63) / 64;
  int64_t w = 0;
#if defined(__AVX512F__)
  const __m512 zero = _mm512_setzero_ps();
  for (; (w + 1) * 64 <= f; ++w) {
    const float* p = row + w * 64;
    uint64_t v = 0;
    for (int q = 0; q < 4; ++q) {
      __mmask16 m = _mm512_cmp_ps_mask(_mm512_loadu_ps(p + 16 * q), zero,
                                       _CMP_GT_OQ);
      v |= static_cast<uint64_t>(m) << (16 * q);
    }
    dst[w] = v;
  }
#endif
  for (; w < words; ++w) {
    uint64_t v = 0;
    const int64_t base = w * 64;
    const int64_t lim = std::min<int64_t>(64, f - base);
    for (int64_t k = 0; k < lim; ++k) {
      v |= static_cast<uint64_t>(row[base + k] > 0.0f) << k;
    }
    dst[w] = v;
  }
}

ffi::Error GramImpl(ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> mask,
                    ffi::ResultBuffer<ffi::S32> out) {
  auto dims = x.dimensions();
  if (dims.size() != 2) {
    return ffi::Error::InvalidArgument("naswot_gram: x must be [batch, units]");
  }
  const int64_t b = dims[0], f = dims[1];
  if (static_cast<int64_t>(mask.element_count()) != f) {
    return ffi::Error::InvalidArgument("naswot_gram: mask must have one entry per unit");
  }
  const int64_t words = (f + 63) / 64;
  std::vector<uint64_t> mbits(words), bits(b * words);
  PackRow(mask.typed_data(), f, mbits.data());
  int64_t n = 0;
  for (int64_t w = 0; w < words; ++w) n += __builtin_popcountll(mbits[w]);
  const float* xp = x.typed_data();
  for (int64_t i = 0; i < b; ++i) {
    uint64_t* dst = bits.data() + i * words;
    PackRow(xp + i * f, f, dst);
    for (int64_t w = 0; w < words; ++w) dst[w] &= mbits[w];
  }
  int32_t* o = out->typed_data();
  for (int64_t i = 0; i < b; ++i) {
    const uint64_t* a = bits.data() + i * words;
    o[i * b + i] = static_cast<int32_t>(n);
    for (int64_t j = i + 1; j < b; ++j) {
      const uint64_t* c = bits.data() + j * words;
      int64_t h = 0;
      for (int64_t w = 0; w < words; ++w) h += __builtin_popcountll(a[w] ^ c[w]);
      o[i * b + j] = o[j * b + i] = static_cast<int32_t>(n - h);
    }
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxnasNaswotGram, GramImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::S32>>());
