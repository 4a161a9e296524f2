// Runs one jq program over one input N times against the system libjq, for
// measuring rules in isolation: wall time per run, or (under callgrind with
// --toggle-collect=jq_next) the instructions libjq executes, which do not
// depend on what else the machine is doing.
//
//   cc -O2 -o jqcost jqcost.c -ljq
//   ./jqcost RULES_DIR PROGRAM.jq INPUT.json N
#include <jq.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_us(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
static void on_error(void *data, jv msg) { (void)data; jv m = jq_format_error(msg); fprintf(stderr, "%s\n", jv_string_value(m)); jv_free(m); }
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb"); if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END); long n = ftell(f); fseek(f, 0, SEEK_SET);
    char *b = malloc(n + 1); if (fread(b, 1, n, f) != (size_t)n) exit(2); b[n] = 0; fclose(f); return b;
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: %s RULES_DIR PROGRAM.jq INPUT.json N\n", argv[0]); return 2; }
    jq_state *jq = jq_init();
    jq_set_error_cb(jq, on_error, NULL);
    jq_set_attr(jq, jv_string("JQ_LIBRARY_PATH"), jv_array_append(jv_array(), jv_string(argv[1])));
    if (!jq_compile_args(jq, slurp(argv[2]), jv_object())) return 1;
    jv input = jv_parse(slurp(argv[3]));
    if (!jv_is_valid(input)) { fprintf(stderr, "input is not JSON\n"); return 1; }
    int n = atoi(argv[4]);
    double best = 1e18;
    for (int round = 0; round < 5; round++) {
        double t0 = now_us();
        for (int i = 0; i < n; i++) {
            jq_start(jq, jv_copy(input), 0);
            jv out;
            while (jv_is_valid(out = jq_next(jq))) jv_free(out);
            if (jv_invalid_has_msg(jv_copy(out))) { jv m = jv_dump_string(jv_invalid_get_msg(out), 0); fprintf(stderr, "error: %s\n", jv_string_value(m)); return 1; }
            jv_free(out);
        }
        double t = (now_us() - t0) / n;
        if (t < best) best = t;
    }
    printf("%.1f us/run (best of 5 rounds of %d)\n", best, n);
    jv_free(input);
    jq_teardown(&jq);
    return 0;
}
