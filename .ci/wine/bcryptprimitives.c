/* wine 8.0 lacks bcryptprimitives.dll, whose ProcessPrng every Go 1.24+ Windows binary loads at start.
   This stand-in forwards to BCryptGenRandom, which wine has. It is used only to run the Windows build
   under wine in CI; real Windows has the DLL. */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    return BCryptGenRandom(NULL, data, (ULONG)len, BCRYPT_USE_SYSTEM_PREFERRED_RNG) == 0;
}
