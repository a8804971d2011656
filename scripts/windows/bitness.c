/* bitness.exe: prints "POINTER_BYTES WOW64" (e.g. "4 1" for a 32-bit process
 * under WoW64, "8 0" for a 64-bit one).  setup-wow64.sh builds it for both
 * bitnesses and checks that Wine runs each in the prefix as what it is, with
 * user32 (which the test peers need) loaded: CharUpperA needs no desktop. */
#include <windows.h>
#include <stdio.h>

int main(void)
{
    BOOL wow64 = FALSE;
    char word[] = "wow";
    if (!IsWow64Process(GetCurrentProcess(), &wow64)) {
        fprintf(stderr, "IsWow64Process failed: error %lu\n", GetLastError());
        return 2;
    }
    CharUpperA(word);
    printf("%u %d %s\n", (unsigned)sizeof(void *), wow64 ? 1 : 0, word);
    return 0;
}
