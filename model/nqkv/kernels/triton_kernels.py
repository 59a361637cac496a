"""Triton kernels of the paged NQKV cache: quantize-and-store, split-K decode attention, dequantize.

Do not import this file directly: `loader.load_kernels(interpret)` executes it as a private
module, once for the compiler and once for the interpreter, because triton decides at
`@triton.jit` time which of the two a function is built for (see loader.py).

Row layout (layout.py): `code_bytes` packed codes, element i of a row in byte i // (8 / BITS) at
bit (i % (8 / BITS)) * BITS, then `head_size / GROUP` fp16 scales. The scales are read and written
through an fp16 view of the same cache (`cache_f16_ptr`), indexed by byte offset / 2: every row
starts at an even byte and `code_bytes` is even, so each scale is 2-byte aligned.
"""

import triton
import triton.language as tl


@triton.jit
def _quantize_rows(
    x, edges_ptr, BITS: tl.constexpr, HEAD: tl.constexpr, GROUP: tl.constexpr, BLOCK_T: tl.constexpr
):
    """(BLOCK_T, HEAD) values -> (BLOCK_T, HEAD * BITS // 8) packed uint8 codes and
    (BLOCK_T, HEAD // GROUP) fp16 scales.

    Bit-exact with model.nqkv.quantize.quantize: the scale is the group absmax rounded to fp16
    (clamped to 1e-6), the division is IEEE (div_rn, as torch), and a code is the number of
    midpoint edges strictly below x / scale, which is what torch.bucketize returns.
    """
    CODES_PER_BYTE: tl.constexpr = 8 // BITS
    groups = tl.reshape(x.to(tl.float32), (BLOCK_T, HEAD // GROUP, GROUP))
    scales = tl.maximum(tl.max(tl.abs(groups), axis=2), 1e-6).to(tl.float16)
    normed = tl.math.div_rn(
        groups, tl.broadcast_to(scales.to(tl.float32)[:, :, None], groups.shape)
    )
    codes = tl.zeros((BLOCK_T, HEAD // GROUP, GROUP), tl.int32)
    for level in tl.static_range(2**BITS - 1):
        codes += (normed > tl.load(edges_ptr + level)).to(tl.int32)
    # (tokens, bytes, codes a byte): code j of a byte goes to bits [j * BITS, (j + 1) * BITS).
    codes = tl.reshape(codes, (BLOCK_T, HEAD // CODES_PER_BYTE, CODES_PER_BYTE))
    shifts = tl.arange(0, CODES_PER_BYTE) * BITS
    packed = tl.sum(codes << shifts[None, None, :], axis=2)
    return packed.to(tl.uint8), scales


@triton.jit
def _dequantize_rows(
    cache_ptr,
    cache_f16_ptr,
    rows,
    is_row,
    lut_ptr,
    BITS: tl.constexpr,
    HEAD: tl.constexpr,
    GROUP: tl.constexpr,
    BLOCK_N: tl.constexpr,
    LUT_PER_CODE: tl.constexpr = False,
):
    """(BLOCK_N,) byte offsets of rows -> (BLOCK_N, HEAD) values in the LUT's dtype (0 if masked).

    Unpacking and the codebook lookup are one load: lut_ptr is a (256, 8 / BITS) table holding,
    for every byte value, the levels of the codes packed in it (built on the host from the
    codebook with pack_codes' bit order, see loader.byte_lut). A byte's 2 or 4 values are
    adjacent, so that is one 4- or 8-byte L1-resident access per byte, with no shifts or masks.
    The alternatives cost more instructions an element in this loop, which decides whether decode
    keeps up with HBM: shifts/masks then tl.gather (lowered to warp shuffles when compiled for
    sm_90), a select chain (a compare and a select per level), or a table load per code.

    LUT_PER_CODE: lut_ptr is instead the (2^BITS,) codebook, and each code is shifted and masked
    out of its byte first: two more integer ops an element, but a warp's table reads stay in
    one cache line instead of the byte table's eight. On an H200 (benchmarks/results/
    nqkv_kernels_tiles.md) the two ran within 2% of each other at the same launch shape; the
    per-code table had the fastest shape and is DecodeTile's default.
    """
    CODES_PER_BYTE: tl.constexpr = 8 // BITS
    CODE_BYTES: tl.constexpr = HEAD // CODES_PER_BYTE
    NUM_GROUPS: tl.constexpr = HEAD // GROUP
    # One load of every packed byte of the tile: (BLOCK_N, CODE_BYTES) uint8.
    offs_byte = tl.arange(0, CODE_BYTES)
    packed = tl.load(cache_ptr + rows[:, None] + offs_byte[None, :], mask=is_row[:, None], other=0)
    # (BLOCK_N, CODE_BYTES, CODES_PER_BYTE) levels, i.e. (BLOCK_N, groups, GROUP) in element order.
    offs_code = tl.arange(0, CODES_PER_BYTE)
    if LUT_PER_CODE:
        shifts = offs_code * BITS
        lut_index = (packed.to(tl.int32)[:, :, None] >> shifts[None, None, :]) & (2**BITS - 1)
    else:
        lut_index = packed.to(tl.int32)[:, :, None] * CODES_PER_BYTE + offs_code[None, None, :]
    values = tl.reshape(tl.load(lut_ptr + lut_index), (BLOCK_N, NUM_GROUPS, GROUP))
    offs_group = tl.arange(0, NUM_GROUPS)
    scale_index = (rows[:, None] + CODE_BYTES) // 2 + offs_group[None, :]
    scales = tl.load(cache_f16_ptr + scale_index, mask=is_row[:, None], other=0.0)
    # Each group times its own scale, in the LUT's dtype (fp16 x fp16 products for fp16 queries).
    values = values * scales.to(values.dtype)[:, :, None]
    return tl.reshape(values, (BLOCK_N, HEAD))


@triton.jit
def store_kernel(
    key_ptr,
    value_ptr,
    cache_ptr,
    cache_f16_ptr,
    slot_ptr,
    edges_ptr,
    num_tokens,
    stride_key_token,
    stride_key_head,
    stride_value_token,
    stride_value_head,
    stride_cache_block,
    stride_cache_kv,
    stride_cache_token,
    stride_cache_head,
    BITS: tl.constexpr,
    HEAD: tl.constexpr,
    GROUP: tl.constexpr,
    BLOCK_SIZE: tl.constexpr,
    BLOCK_T: tl.constexpr,
    ROW_ALIGN: tl.constexpr,
):
    """One program per (tile of BLOCK_T tokens, kv head): quantize K and V rows into their slots."""
    CODE_BYTES: tl.constexpr = HEAD * BITS // 8
    offs_t = tl.program_id(0) * BLOCK_T + tl.arange(0, BLOCK_T)
    head = tl.program_id(1).to(tl.int64)
    is_token = offs_t < num_tokens
    slots = tl.load(slot_ptr + offs_t, mask=is_token, other=-1).to(tl.int64)
    # A negative slot is padding: quantized like the others but never written.
    is_slot = slots >= 0
    slots = tl.maximum(slots, 0)
    rows = (slots // BLOCK_SIZE) * stride_cache_block + (slots % BLOCK_SIZE) * stride_cache_token
    rows = tl.multiple_of(rows + head * stride_cache_head, ROW_ALIGN)
    offs_d = tl.arange(0, HEAD)
    byte_offsets = rows[:, None] + tl.arange(0, CODE_BYTES)[None, :]
    scale_index = (rows[:, None] + CODE_BYTES) // 2 + tl.arange(0, HEAD // GROUP)[None, :]
    tokens = offs_t.to(tl.int64)[:, None]

    key_ptrs = key_ptr + tokens * stride_key_token + head * stride_key_head + offs_d[None, :]
    key = tl.load(key_ptrs, mask=is_token[:, None], other=0.0)
    codes, scales = _quantize_rows(key, edges_ptr, BITS, HEAD, GROUP, BLOCK_T)
    tl.store(cache_ptr + byte_offsets, codes, mask=is_slot[:, None])
    tl.store(cache_f16_ptr + scale_index, scales, mask=is_slot[:, None])

    value_ptrs = (
        value_ptr + tokens * stride_value_token + head * stride_value_head + offs_d[None, :]
    )
    value = tl.load(value_ptrs, mask=is_token[:, None], other=0.0)
    codes, scales = _quantize_rows(value, edges_ptr, BITS, HEAD, GROUP, BLOCK_T)
    tl.store(cache_ptr + stride_cache_kv + byte_offsets, codes, mask=is_slot[:, None])
    tl.store(cache_f16_ptr + stride_cache_kv // 2 + scale_index, scales, mask=is_slot[:, None])


@triton.jit
def decode_split_kernel(
    query_ptr,
    cache_ptr,
    cache_f16_ptr,
    block_table_ptr,
    seq_lens_ptr,
    lut_ptr,
    part_out_ptr,
    part_max_ptr,
    part_sum_ptr,
    qk_scale,
    num_splits,
    stride_query_seq,
    stride_query_head,
    stride_cache_block,
    stride_cache_kv,
    stride_cache_token,
    stride_cache_head,
    stride_table_seq,
    BITS: tl.constexpr,
    HEAD: tl.constexpr,
    GROUP: tl.constexpr,
    BLOCK_SIZE: tl.constexpr,
    BLOCK_N: tl.constexpr,
    QUERIES_PER_KV: tl.constexpr,
    QUERIES_PAD: tl.constexpr,
    ROW_ALIGN: tl.constexpr,
    LUT_PER_CODE: tl.constexpr,
):
    """One program per (sequence, kv head, split): attention of the kv head's query group over
    its slice of the context, as an unnormalised fp32 partial (acc, running max, running sum).

    All QUERIES_PER_KV query heads sharing the kv head are one tile (GQA: each page is read once
    per group), padded to QUERIES_PAD >= 16 rows for tl.dot. The dots take the LUT's dtype (the
    query's: fp16 / bf16 / fp32) and accumulate in fp32; the softmax runs in fp32, base 2
    (qk_scale = scale * log2 e).
    """
    DOT_DTYPE: tl.constexpr = lut_ptr.dtype.element_ty
    seq = tl.program_id(0)
    kv_head = tl.program_id(1)
    split = tl.program_id(2)
    num_heads = tl.num_programs(1) * QUERIES_PER_KV
    seq_len = tl.load(seq_lens_ptr + seq)
    # Each sequence splits its own length: whole BLOCK_N tiles a split, trailing splits may be empty.
    split_len = tl.cdiv(tl.cdiv(seq_len, num_splits), BLOCK_N) * BLOCK_N
    start = split * split_len
    end = tl.minimum(start + split_len, seq_len)

    offs_query = tl.arange(0, QUERIES_PAD)
    offs_d = tl.arange(0, HEAD)
    heads = kv_head * QUERIES_PER_KV + offs_query
    is_query = offs_query < QUERIES_PER_KV
    query_ptrs = (
        query_ptr + seq.to(tl.int64) * stride_query_seq + heads[:, None] * stride_query_head
    )
    query = tl.load(query_ptrs + offs_d[None, :], mask=is_query[:, None], other=0.0).to(DOT_DTYPE)

    row_max = tl.full((QUERIES_PAD,), float("-inf"), tl.float32)
    row_sum = tl.zeros((QUERIES_PAD,), tl.float32)
    acc = tl.zeros((QUERIES_PAD, HEAD), tl.float32)
    table_row_ptr = block_table_ptr + seq.to(tl.int64) * stride_table_seq
    head_offset = kv_head.to(tl.int64) * stride_cache_head
    for start_n in range(start, end, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        is_token = offs_n < end
        # Byte offsets of the tile's K rows, int64 (a layer's cache can exceed 2 GiB); every
        # stride is a multiple of ROW_ALIGN, which lets the byte loads vectorise.
        block = tl.load(table_row_ptr + offs_n // BLOCK_SIZE, mask=is_token, other=0).to(tl.int64)
        rows = block * stride_cache_block + (offs_n % BLOCK_SIZE) * stride_cache_token + head_offset
        key_rows = tl.multiple_of(rows, ROW_ALIGN)
        value_rows = tl.multiple_of(rows + stride_cache_kv, ROW_ALIGN)

        key = _dequantize_rows(
            cache_ptr,
            cache_f16_ptr,
            key_rows,
            is_token,
            lut_ptr,
            BITS,
            HEAD,
            GROUP,
            BLOCK_N,
            LUT_PER_CODE,
        )
        # (QUERIES_PAD, HEAD) @ (HEAD, BLOCK_N) -> fp32 scores, -inf past the split's end.
        scores = tl.dot(query, tl.trans(key)) * qk_scale
        scores = tl.where(is_token[None, :], scores, float("-inf"))
        # Online softmax: rescale what was accumulated so far to the new running max.
        new_max = tl.maximum(row_max, tl.max(scores, axis=1))
        alpha = tl.exp2(row_max - new_max)
        probs = tl.exp2(scores - new_max[:, None])
        row_sum = row_sum * alpha + tl.sum(probs, axis=1)
        value = _dequantize_rows(
            cache_ptr,
            cache_f16_ptr,
            value_rows,
            is_token,
            lut_ptr,
            BITS,
            HEAD,
            GROUP,
            BLOCK_N,
            LUT_PER_CODE,
        )
        acc = acc * alpha[:, None] + tl.dot(probs.to(DOT_DTYPE), value)
        row_max = new_max

    # Partials are (seq, head, split[, HEAD]) contiguous fp32.
    part = (seq * num_heads + heads).to(tl.int64) * num_splits + split
    tl.store(part_out_ptr + part[:, None] * HEAD + offs_d[None, :], acc, mask=is_query[:, None])
    tl.store(part_max_ptr + part, row_max, mask=is_query)
    tl.store(part_sum_ptr + part, row_sum, mask=is_query)


@triton.jit
def decode_reduce_kernel(
    part_out_ptr,
    part_max_ptr,
    part_sum_ptr,
    out_ptr,
    num_splits,
    stride_out_seq,
    stride_out_head,
    HEAD: tl.constexpr,
    SPLITS_PAD: tl.constexpr,
):
    """One program per (sequence, query head): merge the split partials (log-sum-exp weights)."""
    seq = tl.program_id(0)
    head = tl.program_id(1)
    num_heads = tl.num_programs(1)
    offs_split = tl.arange(0, SPLITS_PAD)
    is_split = offs_split < num_splits
    part = (seq * num_heads + head).to(tl.int64) * num_splits + offs_split
    part_max = tl.load(part_max_ptr + part, mask=is_split, other=float("-inf"))
    part_sum = tl.load(part_sum_ptr + part, mask=is_split, other=0.0)
    offs_d = tl.arange(0, HEAD)
    part_ptrs = part_out_ptr + part[:, None] * HEAD + offs_d[None, :]
    part_out = tl.load(part_ptrs, mask=is_split[:, None], other=0.0)
    # Empty splits have max -inf and weight 0; an empty sequence (all -inf) gives zeros.
    top = tl.max(part_max, axis=0)
    top = tl.where(top == float("-inf"), 0.0, top)
    weights = tl.exp2(part_max - top)
    total = tl.sum(weights * part_sum, axis=0)
    out = tl.sum(part_out * weights[:, None], axis=0) / tl.where(total > 0, total, 1.0)
    out_ptrs = out_ptr + seq.to(tl.int64) * stride_out_seq + head * stride_out_head + offs_d
    tl.store(out_ptrs, out.to(out_ptr.dtype.element_ty))


@triton.jit
def dequantize_kernel(
    cache_ptr,
    cache_f16_ptr,
    block_table_ptr,
    seq_lens_ptr,
    seq_starts_ptr,
    lut_ptr,
    key_out_ptr,
    value_out_ptr,
    stride_cache_block,
    stride_cache_kv,
    stride_cache_token,
    stride_cache_head,
    stride_table_seq,
    stride_out_token,
    stride_out_head,
    BITS: tl.constexpr,
    HEAD: tl.constexpr,
    GROUP: tl.constexpr,
    BLOCK_SIZE: tl.constexpr,
    BLOCK_N: tl.constexpr,
    ROW_ALIGN: tl.constexpr,
):
    """One program per (sequence, kv head, tile of BLOCK_N tokens): K and V rows into flat
    (total tokens, kv heads, HEAD) outputs, sequence `seq` starting at row seq_starts[seq].
    With an fp32 LUT the values are exactly level * scale, as the torch reference computes."""
    seq = tl.program_id(0)
    kv_head = tl.program_id(1)
    tile = tl.program_id(2)
    seq_len = tl.load(seq_lens_ptr + seq)
    offs_n = tile * BLOCK_N + tl.arange(0, BLOCK_N)
    is_token = offs_n < seq_len
    table_row_ptr = block_table_ptr + seq.to(tl.int64) * stride_table_seq
    block = tl.load(table_row_ptr + offs_n // BLOCK_SIZE, mask=is_token, other=0).to(tl.int64)
    rows = block * stride_cache_block + (offs_n % BLOCK_SIZE) * stride_cache_token
    rows += kv_head.to(tl.int64) * stride_cache_head
    key_rows = tl.multiple_of(rows, ROW_ALIGN)
    value_rows = tl.multiple_of(rows + stride_cache_kv, ROW_ALIGN)
    key = _dequantize_rows(
        cache_ptr, cache_f16_ptr, key_rows, is_token, lut_ptr, BITS, HEAD, GROUP, BLOCK_N
    )
    value = _dequantize_rows(
        cache_ptr, cache_f16_ptr, value_rows, is_token, lut_ptr, BITS, HEAD, GROUP, BLOCK_N
    )
    start = tl.load(seq_starts_ptr + seq).to(tl.int64)
    out_rows = (start + offs_n) * stride_out_token + kv_head * stride_out_head
    out_offsets = out_rows[:, None] + tl.arange(0, HEAD)[None, :]
    out_mask = is_token[:, None]
    tl.store(key_out_ptr + out_offsets, key.to(key_out_ptr.dtype.element_ty), mask=out_mask)
    tl.store(value_out_ptr + out_offsets, value.to(value_out_ptr.dtype.element_ty), mask=out_mask)
