// glibc's mallopt (not in Swift's Glibc module), for the server's malloc arena limit.
#include <malloc.h>
