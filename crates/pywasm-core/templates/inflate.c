/*
 * A raw DEFLATE (RFC 1951) decoder for the embedded image's compressed files
 * (templates/embedfs.c). Written for pywasm from the RFC: a module without zlib linked still
 * reads them, and the whole file is inflated at once into a buffer of its known size, so no
 * window or streaming state is needed.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pywasm_fs.h"

#define MAX_BITS 15
#define LITERAL_CODES 288
#define DISTANCE_CODES 30

struct stream {
    const uint8_t *in;
    size_t in_len, in_pos;
    uint32_t bit_buffer;
    int bit_count;
    uint8_t *out;
    size_t out_len, out_pos;
};

/* A canonical Huffman code: how many codes have each length, and the symbols ordered by code. */
struct huffman {
    uint16_t count[MAX_BITS + 1];
    uint16_t symbol[LITERAL_CODES];
};

static const uint16_t length_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                         31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t length_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                         2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t distance_base[DISTANCE_CODES] = {
    1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
    193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t distance_extra[DISTANCE_CODES] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
/* The order in which a dynamic block lists the code lengths of its code-length code. */
static const uint8_t length_order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

/* Reads `need` bits (at most 16), least significant first; -1 when the input ends. */
static int32_t bits(struct stream *s, int need) {
    while (s->bit_count < need) {
        if (s->in_pos == s->in_len)
            return -1;
        s->bit_buffer |= (uint32_t)s->in[s->in_pos++] << s->bit_count;
        s->bit_count += 8;
    }
    int32_t value = (int32_t)(s->bit_buffer & ((1u << need) - 1));
    s->bit_buffer >>= need;
    s->bit_count -= need;
    return value;
}

/* Builds the code from each symbol's length; -1 when the lengths over-subscribe the code space. */
static int build(struct huffman *h, const uint8_t *lengths, int n) {
    uint16_t offsets[MAX_BITS + 2];
    memset(h->count, 0, sizeof h->count);
    for (int i = 0; i < n; i++)
        h->count[lengths[i]]++;
    h->count[0] = 0;
    int left = 1;
    for (int len = 1; len <= MAX_BITS; len++) {
        left = (left << 1) - h->count[len];
        if (left < 0)
            return -1;
    }
    offsets[1] = 0;
    for (int len = 1; len <= MAX_BITS; len++)
        offsets[len + 1] = (uint16_t)(offsets[len] + h->count[len]);
    for (int i = 0; i < n; i++) {
        if (lengths[i] != 0)
            h->symbol[offsets[lengths[i]]++] = (uint16_t)i;
    }
    return 0;
}

/* Decodes one symbol a bit at a time: codes of each length are consecutive integers. */
static int decode(struct stream *s, const struct huffman *h) {
    int code = 0, first = 0, index = 0;
    for (int len = 1; len <= MAX_BITS; len++) {
        int32_t bit = bits(s, 1);
        if (bit < 0)
            return -1;
        code |= bit;
        int count = h->count[len];
        if (code - first < count)
            return h->symbol[index + code - first];
        index += count;
        first = (first + count) << 1;
        code <<= 1;
    }
    return -1;
}

static int stored_block(struct stream *s) {
    s->bit_buffer = 0;
    s->bit_count = 0;
    if (s->in_len - s->in_pos < 4)
        return -1;
    const uint8_t *p = s->in + s->in_pos;
    size_t len = (size_t)p[0] | (size_t)p[1] << 8;
    if ((len ^ ((size_t)p[2] | (size_t)p[3] << 8)) != 0xffff)
        return -1;
    s->in_pos += 4;
    if (s->in_len - s->in_pos < len || s->out_len - s->out_pos < len)
        return -1;
    memcpy(s->out + s->out_pos, s->in + s->in_pos, len);
    s->in_pos += len;
    s->out_pos += len;
    return 0;
}

static int compressed_block(struct stream *s, const struct huffman *lengths,
                            const struct huffman *distances) {
    for (;;) {
        int symbol = decode(s, lengths);
        if (symbol < 0)
            return -1;
        if (symbol < 256) {
            if (s->out_pos == s->out_len)
                return -1;
            s->out[s->out_pos++] = (uint8_t)symbol;
            continue;
        }
        if (symbol == 256)
            return 0;
        symbol -= 257;
        if (symbol >= 29)
            return -1;
        int32_t extra = bits(s, length_extra[symbol]);
        int distance_symbol = decode(s, distances);
        if (extra < 0 || distance_symbol < 0 || distance_symbol >= DISTANCE_CODES)
            return -1;
        size_t len = length_base[symbol] + (size_t)extra;
        int32_t distance_extra_bits = bits(s, distance_extra[distance_symbol]);
        if (distance_extra_bits < 0)
            return -1;
        size_t distance = distance_base[distance_symbol] + (size_t)distance_extra_bits;
        if (distance > s->out_pos || s->out_len - s->out_pos < len)
            return -1;
        /* Byte by byte: a match may overlap the bytes it produces. */
        for (size_t i = 0; i < len; i++, s->out_pos++)
            s->out[s->out_pos] = s->out[s->out_pos - distance];
    }
}

static int fixed_block(struct stream *s) {
    static struct huffman lengths, distances;
    static int built;
    if (!built) {
        uint8_t code_lengths[LITERAL_CODES];
        memset(code_lengths, 8, 144);
        memset(code_lengths + 144, 9, 112);
        memset(code_lengths + 256, 7, 24);
        memset(code_lengths + 280, 8, 8);
        build(&lengths, code_lengths, LITERAL_CODES);
        memset(code_lengths, 5, DISTANCE_CODES);
        build(&distances, code_lengths, DISTANCE_CODES);
        built = 1;
    }
    return compressed_block(s, &lengths, &distances);
}

static int dynamic_block(struct stream *s) {
    int32_t literal_count = bits(s, 5), distance_count = bits(s, 5), length_count = bits(s, 4);
    if (literal_count < 0 || distance_count < 0 || length_count < 0)
        return -1;
    literal_count += 257, distance_count += 1, length_count += 4;
    if (literal_count > 286 || distance_count > DISTANCE_CODES)
        return -1;
    uint8_t code_lengths[LITERAL_CODES + DISTANCE_CODES] = {0};
    for (int i = 0; i < length_count; i++) {
        int32_t len = bits(s, 3);
        if (len < 0)
            return -1;
        code_lengths[length_order[i]] = (uint8_t)len;
    }
    struct huffman lengths, distances;
    if (build(&lengths, code_lengths, 19) != 0)
        return -1;
    int total = literal_count + distance_count;
    memset(code_lengths, 0, sizeof code_lengths);
    for (int i = 0; i < total;) {
        int symbol = decode(s, &lengths);
        if (symbol < 0)
            return -1;
        if (symbol < 16) {
            code_lengths[i++] = (uint8_t)symbol;
            continue;
        }
        /* 16 repeats the previous length 3-6 times, 17 and 18 write 3-10 and 11-138 zeros. */
        uint8_t repeated = 0;
        int32_t times;
        if (symbol == 16) {
            if (i == 0)
                return -1;
            repeated = code_lengths[i - 1];
            times = bits(s, 2);
            times = times < 0 ? -1 : times + 3;
        } else if (symbol == 17) {
            times = bits(s, 3);
            times = times < 0 ? -1 : times + 3;
        } else {
            times = bits(s, 7);
            times = times < 0 ? -1 : times + 11;
        }
        if (times < 0 || i + times > total)
            return -1;
        while (times-- > 0)
            code_lengths[i++] = repeated;
    }
    if (code_lengths[256] == 0 || build(&lengths, code_lengths, literal_count) != 0 ||
        build(&distances, code_lengths + literal_count, distance_count) != 0)
        return -1;
    return compressed_block(s, &lengths, &distances);
}

int pywasm_inflate(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len) {
    struct stream s = {.in = in, .in_len = in_len, .out = out, .out_len = out_len};
    int32_t last;
    do {
        last = bits(&s, 1);
        int32_t type = bits(&s, 2);
        int failed;
        if (last < 0 || type < 0)
            return -1;
        switch (type) {
        case 0:
            failed = stored_block(&s);
            break;
        case 1:
            failed = fixed_block(&s);
            break;
        case 2:
            failed = dynamic_block(&s);
            break;
        default:
            return -1;
        }
        if (failed)
            return -1;
    } while (!last);
    return s.out_pos == out_len ? 0 : -1;
}
