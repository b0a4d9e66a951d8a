/* holdopen PATH READY RELEASE: opens PATH the way an editor or a log viewer that locks it does (read and write
 * sharing, no delete sharing, so the file cannot be renamed), creates READY, and keeps the file open until
 * RELEASE exists. The Windows smoke test uses it to hold tfsync's log file open while a pass rotates it. */
#include <windows.h>

int main(int argc, char **argv) {
    if (argc != 4) return 2;
    HANDLE h = CreateFileA(argv[1], GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_EXISTING,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) return 1;
    HANDLE r = CreateFileA(argv[2], GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (r == INVALID_HANDLE_VALUE) return 1;
    CloseHandle(r);
    while (GetFileAttributesA(argv[3]) == INVALID_FILE_ATTRIBUTES) Sleep(50);
    CloseHandle(h);
    return 0;
}
