// libcurl from Debian's libcurl4-openssl-dev. curl_easy_setopt and friends are
// variadic, which Swift cannot call: these typed wrappers can be.
#include <curl/curl.h>

typedef size_t (*cp_curl_data_cb)(char *ptr, size_t size, size_t nmemb, void *userdata);
static inline CURLcode cp_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode cp_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode cp_setopt_str(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode cp_setopt_ptr(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode cp_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode cp_setopt_data_cb(CURL *h, CURLoption o, cp_curl_data_cb cb) { return curl_easy_setopt(h, o, cb); }
static inline CURLcode cp_getinfo_long(CURL *h, CURLINFO i, long *out) { return curl_easy_getinfo(h, i, out); }
static inline CURLMcode cp_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return curl_multi_setopt(m, o, v); }

// Added for UpstreamTransport: values of macros Swift does not import reliably.
static inline size_t cp_writefunc_pause(void) { return CURL_WRITEFUNC_PAUSE; }
static inline long cp_global_default(void) { return CURL_GLOBAL_DEFAULT; }
static inline int cp_pause_cont(void) { return CURLPAUSE_CONT; }

// Sockets libcurl opens are close-on-exec, so that a child process spawned
// meanwhile does not keep an upstream connection open after it was aborted.
#include <sys/socket.h>
#include <fcntl.h>
static inline curl_socket_t cp_open_cloexec_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a) {
    (void)clientp; (void)purpose;
#ifdef SOCK_CLOEXEC
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
#else
    curl_socket_t fd = socket(a->family, a->socktype, a->protocol);
    if (fd != CURL_SOCKET_BAD) fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
#endif
}
static inline CURLcode cp_setopt_cloexec_sockets(CURL *h) {
    return curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, cp_open_cloexec_socket);
}
