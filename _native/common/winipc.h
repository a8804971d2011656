/* winipc's wire conventions, shared by both backends and by C peers.
 *
 * A handler is  LRESULT handler(void *data, size_t size)  : it computes in
 * place on `size` bytes at `data` in the server's own memory and returns the
 * message's result.  It must not block for long: the server serves one
 * message at a time, as a window thread does.
 *
 * A server that refuses a message (no handler, wParam smaller than the
 * handler's struct, lParam not a committed private read-write buffer of
 * wParam bytes, the handler failed) returns WINIPC_ERROR_RESULT(code) with a
 * Win32 error code.  Handler results in that range are reserved.
 */
#ifndef WINIPC_H
#define WINIPC_H

#include <stddef.h>
#include <stdint.h>

/* A 32-bit Windows program's LRESULT has 32 bits: a 64-bit sender receives
 * it sign-extended, and a 32-bit sender receives the low 32 bits of a 64-bit
 * result.  So the refusals are INT32_MIN + code on every build: truncated to
 * 32 bits and sign-extended back they read the same, and a sender of either
 * bitness tells them from a handler's result, whichever the server's. */
#define WINIPC_ERROR_BASE   ((int64_t)INT32_MIN)   /* -0x80000000 */
#define WINIPC_ERROR_SPAN   0x10000     /* error codes 0..0xFFFF */
#define WINIPC_ERROR_RESULT(code) ((int64_t)(WINIPC_ERROR_BASE + (int64_t)(code)))
#define WINIPC_IS_ERROR(r)  ((int64_t)(r) >= WINIPC_ERROR_BASE && (int64_t)(r) < WINIPC_ERROR_BASE + WINIPC_ERROR_SPAN)
#define WINIPC_ERROR_CODE(r) ((uint32_t)((int64_t)(r) - WINIPC_ERROR_BASE))

typedef int64_t (*winipc_handler)(void *data, size_t size);

/* The sample handlers that the package ships compiled, for the examples,
 * the tests and the benchmark.  */

/* struct { double red, blue; }: red, blue = blue + 1, red * 2 */
static inline int64_t winipc_sample_compare(void *data, size_t size)
{
    double *v = (double *)data;
    double red = v[0], blue = v[1];
    (void)size;
    v[0] = blue + 1.0;
    v[1] = red * 2.0;
    return 0;
}

/* Adds one to every byte; returns the number of bytes touched. */
static inline int64_t winipc_sample_bump(void *data, size_t size)
{
    unsigned char *p = (unsigned char *)data;
    size_t i;
    for (i = 0; i < size; i++)
        p[i] = (unsigned char)(p[i] + 1);
    return (int64_t)size;
}

#endif
