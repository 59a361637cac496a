// Weight-only int8 (and float16) linear layers for CPU decode steps (AVX2 + FMA + F16C).
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

at::Tensor int8_linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& scale,
                       const at::Tensor& offset, const std::optional<at::Tensor>& bias) {
  TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == at::kFloat, "int8_linear: x must be float32 on CPU");
  TORCH_CHECK(weight.dim() == 2 && weight.scalar_type() == at::kChar && weight.is_contiguous(),
              "int8_linear: weight must be a contiguous int8 (out, in) matrix");
  const int64_t N = weight.size(0), K = weight.size(1);
  TORCH_CHECK(K % kGroup == 0, "int8_linear: in_features must be a multiple of ", kGroup);
  TORCH_CHECK(x.size(-1) == K, "int8_linear: x has ", x.size(-1), " features, weight expects ", K);
  TORCH_CHECK(scale.scalar_type() == at::kFloat && scale.is_contiguous() &&
                  scale.numel() == N * (K / kGroup),
              "int8_linear: scale must be contiguous float32 (out, in / 32)");
  TORCH_CHECK(offset.scalar_type() == at::kFloat && offset.is_contiguous() &&
                  offset.numel() == scale.numel(),
              "int8_linear: offset must be contiguous float32 (out, in / 32)");
  const float* bias_ptr = nullptr;
  if (bias.has_value()) {
    TORCH_CHECK(bias->scalar_type() == at::kFloat && bias->is_contiguous() && bias->numel() == N,
                "int8_linear: bias must be contiguous float32 (out,)");
    bias_ptr = bias->data_ptr<float>();
  }
  const at::Tensor rows = x.reshape({-1, K}).contiguous();
  const int64_t M = rows.size(0);
  std::vector<int16_t> xq(static_cast<size_t>(M * K));
  const int64_t groups = K / kGroup;
  std::vector<float> x_scale(static_cast<size_t>(M * groups));
  std::vector<float> x_sum(static_cast<size_t>(M * groups));
  quantize_groups(rows.data_ptr<float>(), M, K, xq.data(), x_scale.data(), x_sum.data());

  at::Tensor out = at::empty({M, N}, x.options());
  const int8_t* w = weight.data_ptr<int8_t>();
  const float* s = scale.data_ptr<float>();
  const float* off = offset.data_ptr<float>();
  float* o = out.data_ptr<float>();
  auto rows_of = [&](int64_t m, auto tile, int64_t n0, int64_t n1) {
    constexpr int MT = decltype(tile)::value;
    linear_rows<MT>(xq.data() + m * K, x_scale.data() + m * groups, x_sum.data() + m * groups, w, s, off,
                    bias_ptr, o + m * N, N, K, n0, n1);
  };
  at::parallel_for(0, N, 64, [&](int64_t n0, int64_t n1) {
    int64_t m = 0;
    for (; m + 4 <= M; m += 4) rows_of(m, std::integral_constant<int, 4>{}, n0, n1);
    for (; m + 2 <= M; m += 2) rows_of(m, std::integral_constant<int, 2>{}, n0, n1);
    for (; m < M; ++m) rows_of(m, std::integral_constant<int, 1>{}, n0, n1);
  });
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = N;
  return out.view(shape);
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

at::Tensor half_linear(const at::Tensor& x, const at::Tensor& weight,
                       const std::optional<at::Tensor>& bias) {
  TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == at::kFloat, "half_linear: x must be float32 on CPU");
  TORCH_CHECK(weight.dim() == 2 && weight.scalar_type() == at::kHalf && weight.is_contiguous(),
              "half_linear: weight must be a contiguous float16 (out, in) matrix");
  const int64_t N = weight.size(0), K = weight.size(1);
  TORCH_CHECK(K % 8 == 0, "half_linear: in_features must be a multiple of 8");
  TORCH_CHECK(x.size(-1) == K, "half_linear: x has ", x.size(-1), " features, weight expects ", K);
  const float* bias_ptr = nullptr;
  if (bias.has_value()) {
    TORCH_CHECK(bias->scalar_type() == at::kFloat && bias->is_contiguous() && bias->numel() == N,
                "half_linear: bias must be contiguous float32 (out,)");
    bias_ptr = bias->data_ptr<float>();
  }
  const at::Tensor rows = x.reshape({-1, K}).contiguous();
  const int64_t M = rows.size(0);
  at::Tensor out = at::empty({M, N}, x.options());
  const float* xp = rows.data_ptr<float>();
  const at::Half* w = weight.data_ptr<at::Half>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, N, 64, [&](int64_t n0, int64_t n1) {
    int64_t m = 0;
    for (; m + 4 <= M; m += 4) half_rows<4>(xp + m * K, w, bias_ptr, o + m * N, N, K, n0, n1);
    for (; m + 2 <= M; m += 2) half_rows<2>(xp + m * K, w, bias_ptr, o + m * N, N, K, n0, n1);
    for (; m < M; ++m) half_rows<1>(xp + m * K, w, bias_ptr, o + m * N, N, K, n0, n1);
  });
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = N;
  return out.view(shape);
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
  const float* xp = rows.data_ptr<float>();
  const float* w = weight.data_ptr<float>();
  float* o = out.data_ptr<float>();
  for (int64_t r = 0; r < rows.numel() / H; ++r) {
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
    const float inv = 1.f / std::sqrt(sum / static_cast<float>(H) + static_cast<float>(eps));
    const __m256 scale = _mm256_set1_ps(inv);
    for (k = 0; k + 8 <= H; k += 8)
      _mm256_storeu_ps(orow + k, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(xr + k), scale),
                                               _mm256_loadu_ps(w + k)));
    for (; k < H; ++k) orow[k] = xr[k] * inv * w[k];
  }
  return out;
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
  const int64_t B = qc.size(0), H = qc.size(1), G = qc.size(2), D = qc.size(3);
  const int64_t T = keys.size(2);
  TORCH_CHECK(keys.size(0) == B && keys.size(1) == H && keys.size(3) == D &&
                  values.sizes() == keys.sizes(),
              "decode_attention: keys/values must be (B, H_kv, T, D) matching q");
  TORCH_CHECK(keys.stride(3) == 1 && values.stride(3) == 1 && D % 8 == 0,
              "decode_attention: head_dim must be contiguous and a multiple of 8");
  const bool* mask_ptr = nullptr;
  at::Tensor mask_c;
  if (mask.has_value()) {
    mask_c = mask->to(at::kBool).contiguous();
    TORCH_CHECK(mask_c.numel() == B * T, "decode_attention: mask must be (B, T)");
    mask_ptr = mask_c.data_ptr<bool>();
  }
  at::Tensor out = at::empty_like(qc);
  const float* qp = qc.data_ptr<float>();
  const float* kp = keys.data_ptr<float>();
  const float* vp = values.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const float scale = 1.f / std::sqrt(static_cast<float>(D));
  at::parallel_for(0, B * H, 1, [&](int64_t i0, int64_t i1) {
    std::vector<float> scores(static_cast<size_t>(T));
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t b = i / H, h = i % H;
      const float* kb = kp + b * keys.stride(0) + h * keys.stride(1);
      const float* vb = vp + b * values.stride(0) + h * values.stride(1);
      for (int64_t g = 0; g < G; ++g) {
        const float* qr = qp + ((b * H + h) * G + g) * D;
        float best = -INFINITY;
        for (int64_t t = 0; t < T; ++t) {
          if (mask_ptr != nullptr && !mask_ptr[b * T + t]) {
            scores[t] = -INFINITY;
            continue;
          }
          const float* kr = kb + t * keys.stride(2);
          __m256 acc = _mm256_setzero_ps();
          for (int64_t d = 0; d < D; d += 8)
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(qr + d), _mm256_loadu_ps(kr + d), acc);
          scores[t] = hsum(acc) * scale;
          best = std::max(best, scores[t]);
        }
        float total = 0.f;
        for (int64_t t = 0; t < T; ++t) {
          scores[t] = scores[t] == -INFINITY ? 0.f : std::exp(scores[t] - best);
          total += scores[t];
        }
        float* orow = op + ((b * H + h) * G + g) * D;
        for (int64_t d = 0; d < D; d += 8) {
          __m256 acc = _mm256_setzero_ps();
          for (int64_t t = 0; t < T; ++t)
            acc = _mm256_fmadd_ps(_mm256_set1_ps(scores[t]), _mm256_loadu_ps(vb + t * values.stride(2) + d), acc);
          _mm256_storeu_ps(orow + d, _mm256_mul_ps(acc, _mm256_set1_ps(1.f / total)));
        }
      }
    }
  });
  return out;
}

}  // namespace

TORCH_LIBRARY(huijin_cpu, m) {
  m.def("decode_attention(Tensor q, Tensor keys, Tensor values, Tensor? mask) -> Tensor");
  m.def("rms_norm(Tensor x, Tensor weight, float eps) -> Tensor");
  m.def("half_linear(Tensor x, Tensor weight, Tensor? bias) -> Tensor");
  m.def("int8_linear(Tensor x, Tensor weight, Tensor scale, Tensor offset, Tensor? bias) -> Tensor");
}

TORCH_LIBRARY_IMPL(huijin_cpu, CPU, m) {
  m.impl("int8_linear", &int8_linear);
  m.impl("half_linear", &half_linear);
  m.impl("rms_norm", &rms_norm);
  m.impl("decode_attention", &decode_attention);
}
