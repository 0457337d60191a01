/* cmdline.h - the kernel command line: space-separated key=value tokens.
 *
 * Values may be double-quoted to hold spaces: prompt="Once upon" steps=40 exit=1
 * The parser copies the line, so the keys and values stay valid for the whole run.
 */
#ifndef BAREFLOW_CMDLINE_H
#define BAREFLOW_CMDLINE_H

#include "boot_info.h"

#define CMDLINE_MAX_ARGS 32

struct cmdline_arg {
    const char *key;
    const char *value;
};

struct cmdline {
    int argc;
    struct cmdline_arg args[CMDLINE_MAX_ARGS];
    char buf[BOOT_CMDLINE_MAX * 2];   /* keys and values, NUL-separated */
};

/* Parse `text` into `cl`.  Returns 0, or -1 with a one-line reason in `err`. */
int cmdline_parse(const char *text, struct cmdline *cl, char *err, size_t errlen);
/* The value for `key`, or NULL when absent. */
const char *cmdline_get(const struct cmdline *cl, const char *key);
/* The value for `key` as a decimal integer (with optional '-'), or `def` if absent or not a number. */
long cmdline_get_int(const struct cmdline *cl, const char *key, long def);

#endif
