// CPU decode kernels (AVX2 + FMA + F16C): weight-only int8 and float16 linear layers, RMSNorm,
// grouped-query attention of one new token, and a whole Llama decode step over every layer in
// one call (decode_layers), so a token costs one trip through Python instead of ~25 a layer.
//
// A decode step of a small model on a few CPU cores is bound by streaming the weights: int8
// codes halve the bytes of fbgemm's float16 copy. Weights are int8 codes with a float32 scale
// and offset per group of 32 input channels (w = scale * code + offset, the group's range in
// 256 steps), which stores a 4-bit GGUF block (16 evenly spaced levels) exactly. The input is
// quantized to int16 per group of 32 too (1 / 32767 of the group's absmax, so an outlier channel
// costs only its own group precision), so a 16-wide _mm256_madd_epi16 does the multiply-adds in
// integers; a group's int32 sum is then scaled into a float accumulator, and the offsets meet the
// input's exact per-group sums. Overflow-free: a lane sums 4 products of at most 128 * 32767.
//
// out[m, n] = sum_g scale[n, g] * x_scale[m, g] * sum_{k in g} xq[m, k] * code[n, k]
//           + sum_g offset[n, g] * x_sum[m, g]  (+ bias[n])

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

namespace {

constexpr int64_t kGroup = 32;
// Output rows whose weights stay in L1 while every tile of input rows passes over them.
constexpr int64_t kRowBlock = 8;

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_hadd_ps(s, s);
  s = _mm_hadd_ps(s, s);
  return _mm_cvtss_f32(s);
}

inline __m256i load_int8_as_int16(const int8_t* p) {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// Output rows n0..n1 for MT input rows at once: each 32-weight group is widened once and
// multiplied into every input row.
template <int MT>
void linear_rows(const int16_t* xq, const float* x_scale, const float* x_sum, const int8_t* w,
                 const float* scale, const float* offset, const float* bias, float* out,
                 int64_t N, int64_t K, int64_t n0, int64_t n1) {
  const int64_t groups = K / kGroup;
  for (int64_t n = n0; n < n1; ++n) {
    const int8_t* wr = w + n * K;
    const float* sr = scale + n * groups;
    const float* orow = offset + n * groups;
    __m256 acc[MT];
    float shift[MT];
    for (int m = 0; m < MT; ++m) {
      acc[m] = _mm256_setzero_ps();
      shift[m] = 0.f;
    }
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t k = g * kGroup;
      // The next rows' weights are not yet in cache: ask for them ahead of the stream.
      _mm_prefetch(reinterpret_cast<const char*>(wr + k + 4 * K), _MM_HINT_T0);
      const __m256i w0 = load_int8_as_int16(wr + k);
      const __m256i w1 = load_int8_as_int16(wr + k + 16);
      for (int m = 0; m < MT; ++m) {
        const __m256i* xr = reinterpret_cast<const __m256i*>(xq + m * K + k);
        const __m256i dot = _mm256_add_epi32(_mm256_madd_epi16(w0, _mm256_loadu_si256(xr)),
                                             _mm256_madd_epi16(w1, _mm256_loadu_si256(xr + 1)));
        const __m256 gs = _mm256_set1_ps(sr[g] * x_scale[m * groups + g]);
        acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), gs, acc[m]);
        shift[m] += orow[g] * x_sum[m * groups + g];
      }
    }
    for (int m = 0; m < MT; ++m) {
      const float y = hsum(acc[m]) + shift[m];
      out[m * N + n] = bias != nullptr ? y + bias[n] : y;
    }
  }
}

// Each group of 32 of x (M, K) to int16 codes with its own scale, plus its exact sum.
void quantize_groups(const float* x, int64_t M, int64_t K, int16_t* xq, float* x_scale,
                     float* x_sum) {
  for (int64_t i = 0; i < M * (K / kGroup); ++i) {
    const float* xg = x + i * kGroup;
    float amax = 0.f, sum = 0.f;
    for (int64_t k = 0; k < kGroup; ++k) {
      amax = std::max(amax, std::fabs(xg[k]));
      sum += xg[k];
    }
    const float s = amax > 0.f ? amax / 32767.f : 1.f;
    const float inv = 1.f / s;
    x_scale[i] = s;
    x_sum[i] = sum;
    for (int64_t k = 0; k < kGroup; ++k) xq[i * kGroup + k] = static_cast<int16_t>(std::nearbyint(xg[k] * inv));
  }
}

// The same shape of loop for a float16 weight (N, K), K % 8 == 0: the projections whose values
// are not on an int8 grid (e.g. a GGUF's 6-bit output head) stream half the bytes of float32,
// stored as a plain tensor so it can be cached on disk (fbgemm's prepacked copy cannot).
template <int MT>
void half_rows(const float* x, const at::Half* w, const float* bias, float* out, int64_t N,
               int64_t K, int64_t n0, int64_t n1) {
  for (int64_t n = n0; n < n1; ++n) {
    const uint16_t* wr = reinterpret_cast<const uint16_t*>(w) + n * K;
    __m256 acc[MT];
    for (int m = 0; m < MT; ++m) acc[m] = _mm256_setzero_ps();
    for (int64_t k = 0; k < K; k += 8) {
      _mm_prefetch(reinterpret_cast<const char*>(wr + k + 2 * K), _MM_HINT_T0);
      const __m256 wv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wr + k)));
      for (int m = 0; m < MT; ++m) acc[m] = _mm256_fmadd_ps(_mm256_loadu_ps(x + m * K + k), wv, acc[m]);
    }
    for (int m = 0; m < MT; ++m) {
      const float y = hsum(acc[m]);
      out[m * N + n] = bias != nullptr ? y + bias[n] : y;
    }
  }
}

// One projection as the kernels see it: int8 codes + scale + offset, or a float16 matrix.
struct Linear {
  const int8_t* codes = nullptr;
  const float* scale = nullptr;
  const float* offset = nullptr;
  const at::Half* half = nullptr;
  const float* bias = nullptr;
  int64_t N = 0, K = 0;
};

bool present(const at::Tensor& t) { return t.defined() && t.numel() > 0; }

// Checks a projection's tensors once (the fused step calls this for every layer at each call:
// cheap, and a wrong tensor is a clear error instead of a wild read).
Linear as_linear(const at::Tensor& weight, const at::Tensor& scale, const at::Tensor& offset,
                 const at::Tensor& bias, const char* what) {
  Linear L;
  TORCH_CHECK(weight.dim() == 2 && weight.is_contiguous() && weight.device().is_cpu(), what,
              ": weight must be a contiguous (out, in) CPU matrix");
  L.N = weight.size(0);
  L.K = weight.size(1);
  if (weight.scalar_type() == at::kChar) {
    TORCH_CHECK(L.K % kGroup == 0, what, ": in_features must be a multiple of ", kGroup);
    const int64_t groups = L.N * (L.K / kGroup);
    TORCH_CHECK(scale.scalar_type() == at::kFloat && scale.is_contiguous() && scale.numel() == groups,
                what, ": scale must be contiguous float32 (out, in / 32)");
    TORCH_CHECK(offset.scalar_type() == at::kFloat && offset.is_contiguous() && offset.numel() == groups,
                what, ": offset must be contiguous float32 (out, in / 32)");
    L.codes = weight.data_ptr<int8_t>();
    L.scale = scale.data_ptr<float>();
    L.offset = offset.data_ptr<float>();
  } else {
    TORCH_CHECK(weight.scalar_type() == at::kHalf && L.K % 8 == 0, what,
                ": weight must be int8 codes or float16 with in_features a multiple of 8");
    L.half = weight.data_ptr<at::Half>();
  }
  if (present(bias)) {
    TORCH_CHECK(bias.scalar_type() == at::kFloat && bias.is_contiguous() && bias.numel() == L.N,
                what, ": bias must be contiguous float32 (out,)");
    L.bias = bias.data_ptr<float>();
  }
  return L;
}

// out (M, N) = x (M, K) @ W.T (+ bias), either weight kind.
void run_linear(const Linear& L, const float* x, int64_t M, float* out) {
  const int64_t N = L.N, K = L.K;
  if (L.half != nullptr) {
    at::parallel_for(0, N, 64, [&](int64_t n0, int64_t n1) {
      // A few output rows at a time for every input row, so their weights are read from memory
      // once and from L1 by the next tiles of input rows.
      for (int64_t nb = n0; nb < n1; nb += kRowBlock) {
        const int64_t ne = std::min(nb + kRowBlock, n1);
        int64_t m = 0;
        for (; m + 4 <= M; m += 4) half_rows<4>(x + m * K, L.half, L.bias, out + m * N, N, K, nb, ne);
        for (; m + 2 <= M; m += 2) half_rows<2>(x + m * K, L.half, L.bias, out + m * N, N, K, nb, ne);
        for (; m < M; ++m) half_rows<1>(x + m * K, L.half, L.bias, out + m * N, N, K, nb, ne);
      }
    });
    return;
  }
  const int64_t groups = K / kGroup;
  std::vector<int16_t> xq(static_cast<size_t>(M * K));
  std::vector<float> x_scale(static_cast<size_t>(M * groups));
  std::vector<float> x_sum(static_cast<size_t>(M * groups));
  quantize_groups(x, M, K, xq.data(), x_scale.data(), x_sum.data());
  auto rows_of = [&](int64_t m, auto tile, int64_t n0, int64_t n1) {
    constexpr int MT = decltype(tile)::value;
    linear_rows<MT>(xq.data() + m * K, x_scale.data() + m * groups, x_sum.data() + m * groups,
                    L.codes, L.scale, L.offset, L.bias, out + m * N, N, K, n0, n1);
  };
  at::parallel_for(0, N, 64, [&](int64_t n0, int64_t n1) {
    for (int64_t nb = n0; nb < n1; nb += kRowBlock) {  // as above: weights read once
      const int64_t ne = std::min(nb + kRowBlock, n1);
      int64_t m = 0;
      for (; m + 4 <= M; m += 4) rows_of(m, std::integral_constant<int, 4>{}, nb, ne);
      for (; m + 2 <= M; m += 2) rows_of(m, std::integral_constant<int, 2>{}, nb, ne);
      for (; m < M; ++m) rows_of(m, std::integral_constant<int, 1>{}, nb, ne);
    }
  });
}

at::Tensor linear_op(const at::Tensor& x, const Linear& L, const char* what) {
  TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == at::kFloat, what, ": x must be float32 on CPU");
  TORCH_CHECK(x.size(-1) == L.K, what, ": x has ", x.size(-1), " features, weight expects ", L.K);
  const at::Tensor rows = x.reshape({-1, L.K}).contiguous();
  at::Tensor out = at::empty({rows.size(0), L.N}, x.options());
  run_linear(L, rows.data_ptr<float>(), rows.size(0), out.data_ptr<float>());
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = L.N;
  return out.view(shape);
}

at::Tensor int8_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& scale,
                       const at::Tensor& offset, const std::optional<at::Tensor>& bias) {
  TORCH_CHECK(weight.scalar_type() == at::kChar, "int8_linear: weight must be int8 codes");
  return linear_op(x, as_linear(weight, scale, offset, bias.value_or(at::Tensor()), "int8_linear"),
                   "int8_linear");
}

at::Tensor half_linear(const at::Tensor& x, const at::Tensor& weight,
                       const std::optional<at::Tensor>& bias) {
  TORCH_CHECK(weight.scalar_type() == at::kHalf, "half_linear: weight must be float16");
  return linear_op(x, as_linear(weight, at::Tensor(), at::Tensor(), bias.value_or(at::Tensor()), "half_linear"),
                   "half_linear");
}

void rms_rows(const float* xp, const float* w, int64_t rows, int64_t H, float eps, float* o) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = xp + r * H;
    float* orow = o + r * H;
    int64_t k = 0;
    __m256 sq = _mm256_setzero_ps();
    for (; k + 8 <= H; k += 8) {
      const __m256 v = _mm256_loadu_ps(xr + k);
      sq = _mm256_fmadd_ps(v, v, sq);
    }
    float sum = hsum(sq);
    for (; k < H; ++k) sum += xr[k] * xr[k];
    const float inv = 1.f / std::sqrt(sum / static_cast<float>(H) + eps);
    const __m256 scale = _mm256_set1_ps(inv);
    for (k = 0; k + 8 <= H; k += 8)
      _mm256_storeu_ps(orow + k, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(xr + k), scale),
                                               _mm256_loadu_ps(w + k)));
    for (; k < H; ++k) orow[k] = xr[k] * inv * w[k];
  }
}

// RMSNorm of a few decode rows in one call: torch's CPU rms_norm dispatches ~6 kernels a call
// (~50 us measured, 61 calls a SmolLM2 step); this is one pass of loads and FMAs.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  TORCH_CHECK(x.scalar_type() == at::kFloat && weight.scalar_type() == at::kFloat &&
                  weight.is_contiguous(),
              "rms_norm: float32 x and contiguous float32 weight");
  const int64_t H = weight.numel();
  TORCH_CHECK(x.size(-1) == H, "rms_norm: x has ", x.size(-1), " features, weight ", H);
  const at::Tensor rows = x.contiguous();
  at::Tensor out = at::empty_like(rows);
  rms_rows(rows.data_ptr<float>(), weight.data_ptr<float>(), rows.numel() / H, H,
           static_cast<float>(eps), out.data_ptr<float>());
  return out;
}

// exp for 8 floats (Cephes' polynomial, as in sse_mathfun): ~1e-7 relative error, and the
// softmax of a long context calls it once per cached token per head, where libm's scalar expf
// was most of the attention time.
inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3762626647949f));
  __m256 fx = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f));
  fx = _mm256_floor_ps(fx);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  const __m256 z = _mm256_mul_ps(x, x);
  __m256 y = _mm256_set1_ps(1.9875691500E-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
  y = _mm256_add_ps(_mm256_fmadd_ps(y, z, x), _mm256_set1_ps(1.f));
  const __m256i pow2 = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(pow2));
}

// Where a decode step's keys and values live: (B, H_kv, capacity, D) with unit stride along D.
struct KVView {
  const float* keys;
  const float* values;
  int64_t key_strides[3];
  int64_t value_strides[3];
};

KVView kv_view(const at::Tensor& keys, const at::Tensor& values) {
  return {keys.data_ptr<float>(), values.data_ptr<float>(),
          {keys.stride(0), keys.stride(1), keys.stride(2)},
          {values.stride(0), values.stride(1), values.stride(2)}};
}

// Attention of one query token per row: q and out (B, H, D) with head h reading kv head
// h / (H / H_kv); T cached tokens; mask (B, T) with false = padding, or null. One task per query
// head (not per kv head), so two threads stay busy with 3 kv heads.
void attend(const float* q, const KVView& kv, int64_t B, int64_t H, int64_t H_kv, int64_t D,
            int64_t T, const bool* mask, float* out) {
  const int64_t G = H / H_kv;
  const int64_t T8 = (T + 7) / 8 * 8;
  const float scale = 1.f / std::sqrt(static_cast<float>(D));
  const int64_t chunks = D / 8;
  at::parallel_for(0, B * H, 1, [&](int64_t i0, int64_t i1) {
    std::vector<float> scores(static_cast<size_t>(T8));
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t b = i / H, h = i % H, kvh = h / G;
      const float* kb = kv.keys + b * kv.key_strides[0] + kvh * kv.key_strides[1];
      const float* vb = kv.values + b * kv.value_strides[0] + kvh * kv.value_strides[1];
      const float* qr = q + i * D;
      const bool* mr = mask != nullptr ? mask + b * T : nullptr;
      float best = -INFINITY;
      for (int64_t t = 0; t < T; ++t) {
        if (mr != nullptr && !mr[t]) {
          scores[t] = -INFINITY;
          continue;
        }
        const float* kr = kb + t * kv.key_strides[2];
        __m256 acc = _mm256_setzero_ps();
        for (int64_t d = 0; d < D; d += 8)
          acc = _mm256_fmadd_ps(_mm256_loadu_ps(qr + d), _mm256_loadu_ps(kr + d), acc);
        scores[t] = hsum(acc) * scale;
        best = std::max(best, scores[t]);
      }
      for (int64_t t = T; t < T8; ++t) scores[t] = -INFINITY;
      const __m256 top = _mm256_set1_ps(best);
      const __m256 minus_inf = _mm256_set1_ps(-INFINITY);
      __m256 total8 = _mm256_setzero_ps();
      for (int64_t t = 0; t < T8; t += 8) {
        const __m256 s = _mm256_loadu_ps(scores.data() + t);
        // Masked tokens weigh exactly 0 (exp8 would give ~1e-38).
        const __m256 e = _mm256_and_ps(exp8(_mm256_sub_ps(s, top)), _mm256_cmp_ps(s, minus_inf, _CMP_NEQ_OQ));
        _mm256_storeu_ps(scores.data() + t, e);
        total8 = _mm256_add_ps(total8, e);
      }
      const float total = hsum(total8);
      float* orow = out + i * D;
      for (int64_t c = 0; c < chunks; c += 4) {  // 4 accumulators of 8 dims per pass over T
        const int64_t width = std::min<int64_t>(4, chunks - c);
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int64_t t = 0; t < T; ++t) {
          const __m256 w = _mm256_set1_ps(scores[t]);
          const float* vr = vb + t * kv.value_strides[2] + c * 8;
          for (int64_t j = 0; j < width; ++j) acc[j] = _mm256_fmadd_ps(w, _mm256_loadu_ps(vr + j * 8), acc[j]);
        }
        const __m256 inv = _mm256_set1_ps(1.f / total);
        for (int64_t j = 0; j < width; ++j) _mm256_storeu_ps(orow + (c + j) * 8, _mm256_mul_ps(acc[j], inv));
      }
    }
  });
}

at::Tensor bool_mask(const std::optional<at::Tensor>& mask, int64_t B, int64_t T, const char* what) {
  if (!mask.has_value()) return at::Tensor();
  at::Tensor m = mask->to(at::kBool).contiguous();
  TORCH_CHECK(m.dim() == 2 && m.size(0) == B && m.size(1) == T, what, ": mask must be (B, ", T, ")");
  return m;
}

// Attention of one new query token per row over its cached keys and values, grouped-query:
// q (B, H_kv, G, D) contiguous; keys / values (B, H_kv, T, D) with unit stride along D (views of
// a preallocated cache are fine); mask (B, T) bool or None. torch's CPU SDPA costs ~100 us a call
// at these shapes (30 calls a SmolLM2 step); the maths is a few thousand FMAs.
at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values,
                            const std::optional<at::Tensor>& mask) {
  TORCH_CHECK(q.scalar_type() == at::kFloat && keys.scalar_type() == at::kFloat &&
                  values.scalar_type() == at::kFloat,
              "decode_attention: float32 tensors");
  TORCH_CHECK(q.dim() == 4 && keys.dim() == 4 && values.dim() == 4, "decode_attention: 4-D inputs");
  const at::Tensor qc = q.contiguous();
  const int64_t B = qc.size(0), H_kv = qc.size(1), G = qc.size(2), D = qc.size(3);
  const int64_t T = keys.size(2);
  TORCH_CHECK(keys.size(0) == B && keys.size(1) == H_kv && keys.size(3) == D &&
                  values.sizes() == keys.sizes(),
              "decode_attention: keys/values must be (B, H_kv, T, D) matching q");
  TORCH_CHECK(keys.stride(3) == 1 && values.stride(3) == 1 && D % 8 == 0,
              "decode_attention: head_dim must be contiguous and a multiple of 8");
  const at::Tensor m = bool_mask(mask, B, T, "decode_attention");
  at::Tensor out = at::empty_like(qc);
  attend(qc.data_ptr<float>(), kv_view(keys, values), B, H_kv * G, H_kv, D, T,
         m.defined() ? m.data_ptr<bool>() : nullptr, out.data_ptr<float>());
  return out;
}

// Llama's rotary embedding in place on `heads` heads of D at x (rotate_half convention).
void rotate(float* x, int64_t heads, int64_t D, const float* cos, const float* sin) {
  const int64_t half = D / 2;
  for (int64_t h = 0; h < heads; ++h) {
    float* v = x + h * D;
    for (int64_t d = 0; d < half; ++d) {
      const float lo = v[d], hi = v[d + half];
      v[d] = lo * cos[d] - hi * sin[d];
      v[d + half] = hi * cos[d + half] + lo * sin[d + half];
    }
  }
}

inline __m256 silu_times(__m256 gate, __m256 up) {
  const __m256 sig = _mm256_div_ps(_mm256_set1_ps(1.f), _mm256_add_ps(_mm256_set1_ps(1.f), exp8(_mm256_sub_ps(_mm256_setzero_ps(), gate))));
  return _mm256_mul_ps(_mm256_mul_ps(gate, sig), up);
}

constexpr int64_t kLayerTensors = 18;  // 2 norms + 4 projections x (weight, scale, offset, bias)

// Every layer of a Llama-family decode step in one call: hidden (B, hidden) in, the residual
// stream after the last layer out (before the final norm). `weights` holds kLayerTensors per
// layer: input norm, post-attention norm, then q|k|v, o, gate|up and down, each as weight
// (int8 codes or float16), scale, offset, bias (empty tensors where absent). keys[l] / values[l]
// are layer l's preallocated (B, H_kv, capacity, D) buffers: this step's key and value are written
// at position `length`, and attention reads positions 0..length. cos / sin (B, D) are the rotary
// tables of each row's position; mask (B, length + 1), false = padding, or None.
at::Tensor decode_layers(const at::Tensor& hidden, const at::Tensor& cos, const at::Tensor& sin,
                         const std::optional<at::Tensor>& mask, at::TensorList weights,
                         at::TensorList keys, at::TensorList values, int64_t num_heads,
                         int64_t num_kv_heads, double eps, int64_t length) {
  TORCH_CHECK(hidden.dim() == 2 && hidden.scalar_type() == at::kFloat, "decode_layers: hidden must be (B, hidden) float32");
  const int64_t L = static_cast<int64_t>(keys.size());
  TORCH_CHECK(static_cast<int64_t>(weights.size()) == L * kLayerTensors && values.size() == keys.size(),
              "decode_layers: ", kLayerTensors, " weight tensors and one key and value buffer per layer");
  const int64_t B = hidden.size(0), Hd = hidden.size(1);
  const int64_t H = num_heads, H_kv = num_kv_heads;
  TORCH_CHECK(H % H_kv == 0, "decode_layers: num_heads must be a multiple of num_kv_heads");
  const at::Tensor cos_c = cos.contiguous(), sin_c = sin.contiguous();
  TORCH_CHECK(cos_c.scalar_type() == at::kFloat && sin_c.scalar_type() == at::kFloat && cos_c.dim() == 2 &&
                  cos_c.size(0) == B && cos_c.sizes() == sin_c.sizes(),
              "decode_layers: cos and sin must be (B, head_dim) float32");
  const int64_t D = cos_c.size(1);
  TORCH_CHECK(D % 8 == 0, "decode_layers: head_dim must be a multiple of 8");
  const int64_t T = length + 1;
  const at::Tensor m = bool_mask(mask, B, T, "decode_layers");
  const bool* mask_ptr = m.defined() ? m.data_ptr<bool>() : nullptr;

  at::Tensor out = hidden.contiguous().clone();
  float* h = out.data_ptr<float>();
  const int64_t qkv_width = (H + 2 * H_kv) * D;
  std::vector<float> x(B * Hd), qkv(B * qkv_width), q(B * H * D), attn(B * H * D), delta(B * Hd);
  std::vector<float> act, gate_up;
  for (int64_t l = 0; l < L; ++l) {
    const at::Tensor* w = weights.data() + l * kLayerTensors;
    TORCH_CHECK(w[0].numel() == Hd && w[1].numel() == Hd && w[0].scalar_type() == at::kFloat &&
                    w[1].scalar_type() == at::kFloat && w[0].is_contiguous() && w[1].is_contiguous(),
                "decode_layers: layer ", l, " norms must be contiguous float32 (hidden,)");
    const Linear qkv_p = as_linear(w[2], w[3], w[4], w[5], "decode_layers q|k|v");
    const Linear o_p = as_linear(w[6], w[7], w[8], w[9], "decode_layers o");
    const Linear gu_p = as_linear(w[10], w[11], w[12], w[13], "decode_layers gate|up");
    const Linear down_p = as_linear(w[14], w[15], w[16], w[17], "decode_layers down");
    TORCH_CHECK(qkv_p.K == Hd && qkv_p.N == qkv_width && o_p.K == H * D && o_p.N == Hd &&
                    gu_p.K == Hd && gu_p.N % 2 == 0 && down_p.K == gu_p.N / 2 && down_p.N == Hd,
                "decode_layers: layer ", l, " projection shapes do not fit the model");
    const at::Tensor& kbuf = keys[l];
    const at::Tensor& vbuf = values[l];
    TORCH_CHECK(kbuf.scalar_type() == at::kFloat && vbuf.scalar_type() == at::kFloat && kbuf.dim() == 4 &&
                    kbuf.sizes() == vbuf.sizes() && kbuf.size(0) == B && kbuf.size(1) == H_kv &&
                    kbuf.size(2) > length && kbuf.size(3) == D && kbuf.stride(3) == 1 && vbuf.stride(3) == 1,
                "decode_layers: layer ", l, " key/value buffers must be (B, H_kv, > length, head_dim) float32");
    const KVView kv = kv_view(kbuf, vbuf);

    rms_rows(h, w[0].data_ptr<float>(), B, Hd, static_cast<float>(eps), x.data());
    run_linear(qkv_p, x.data(), B, qkv.data());
    for (int64_t b = 0; b < B; ++b) {
      float* row = qkv.data() + b * qkv_width;
      rotate(row, H + H_kv, D, cos_c.data_ptr<float>() + b * D, sin_c.data_ptr<float>() + b * D);
      for (int64_t g = 0; g < H_kv; ++g) {
        float* kdst = const_cast<float*>(kv.keys) + b * kv.key_strides[0] + g * kv.key_strides[1] + length * kv.key_strides[2];
        float* vdst = const_cast<float*>(kv.values) + b * kv.value_strides[0] + g * kv.value_strides[1] + length * kv.value_strides[2];
        std::copy_n(row + (H + g) * D, D, kdst);
        std::copy_n(row + (H + H_kv + g) * D, D, vdst);
      }
      std::copy_n(row, H * D, q.data() + b * H * D);  // the rotated queries
    }
    attend(q.data(), kv, B, H, H_kv, D, T, mask_ptr, attn.data());
    run_linear(o_p, attn.data(), B, delta.data());
    for (int64_t i = 0; i < B * Hd; ++i) h[i] += delta[i];

    rms_rows(h, w[1].data_ptr<float>(), B, Hd, static_cast<float>(eps), x.data());
    const int64_t I = gu_p.N / 2;
    gate_up.resize(B * 2 * I);
    act.resize(B * I);
    run_linear(gu_p, x.data(), B, gate_up.data());
    for (int64_t b = 0; b < B; ++b) {
      const float* gate = gate_up.data() + b * 2 * I;
      float* a = act.data() + b * I;
      int64_t i = 0;
      for (; i + 8 <= I; i += 8)
        _mm256_storeu_ps(a + i, silu_times(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(gate + I + i)));
      for (; i < I; ++i) a[i] = gate[i] / (1.f + std::exp(-gate[i])) * gate[I + i];
    }
    run_linear(down_p, act.data(), B, delta.data());
    for (int64_t i = 0; i < B * Hd; ++i) h[i] += delta[i];
  }
  return out;
}

}  // namespace

TORCH_LIBRARY(huijin_cpu, m) {
  m.def("decode_attention(Tensor q, Tensor keys, Tensor values, Tensor? mask) -> Tensor");
  m.def("rms_norm(Tensor x, Tensor weight, float eps) -> Tensor");
  m.def("half_linear(Tensor x, Tensor weight, Tensor? bias) -> Tensor");
  m.def("int8_linear(Tensor x, Tensor weight, Tensor scale, Tensor offset, Tensor? bias) -> Tensor");
  m.def(
      "decode_layers(Tensor hidden, Tensor cos, Tensor sin, Tensor? mask, Tensor[] weights, "
      "Tensor[] keys, Tensor[] values, int num_heads, int num_kv_heads, float eps, int length) -> Tensor");
}

TORCH_LIBRARY_IMPL(huijin_cpu, CPU, m) {
  m.impl("int8_linear", &int8_linear);
  m.impl("half_linear", &half_linear);
  m.impl("rms_norm", &rms_norm);
  m.impl("decode_attention", &decode_attention);
  m.impl("decode_layers", &decode_layers);
}
