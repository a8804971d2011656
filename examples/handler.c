/*
 * A compiled winipc handler: int64_t handler(void *data, size_t size).
 *
 * The server calls it without the GIL on `size` bytes (wParam) at `data`,
 * already checked to lie inside a buffer this client was given and to be
 * at least the struct's size given to Server.handler().  It computes in
 * place and returns the message's result; the results from -2**31 to
 * -2**31 + 0xFFFF are winipc's error codes, and returning one is refused.
 *
 * Build it as a shared library (examples/compiled_handler.py loads it):
 *   Linux:           cc -O2 -shared -fPIC -o handler.so examples/handler.c
 *   Windows, MSVC:   cl /O2 /LD examples\handler.c
 *   Windows, MinGW:  x86_64-w64-mingw32-gcc -O2 -shared -o handler.dll examples/handler.c
 */
#include <stddef.h>
#include <stdint.h>

#ifdef _WIN32
#define EXPORT __declspec(dllexport)
#else
#define EXPORT __attribute__((visibility("default")))
#endif

/* MyInfo in examples/rpc_compare.py and compiled_handler.py */
struct my_info {
    double red;
    double blue;
};

/* red, blue = blue + 1, red * 2, as the Python handler of rpc_compare.py */
EXPORT int64_t compare(void *data, size_t size)
{
    struct my_info *info = (struct my_info *)data;
    double red = info->red;
    (void)size;
    info->red = info->blue + 1;
    info->blue = red * 2;
    return 1;
}

/* Adds 1 to every byte of the buffer, whatever its size: the number of bytes. */
EXPORT int64_t bump(void *data, size_t size)
{
    unsigned char *p = (unsigned char *)data;
    size_t i;
    for (i = 0; i < size; i++)
        p[i]++;
    return (int64_t)size;
}
