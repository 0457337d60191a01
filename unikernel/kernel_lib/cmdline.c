/* cmdline.c - split the command line into key=value tokens.
 *
 * Grammar: tokens separated by spaces; a token is KEY=VALUE or KEY=\"VALUE WITH SPACES\";
 * KEY is letters, digits, '_' , '-' or '.'.  Anything else - a token without '=', an empty key,
 * an unterminated quote, text glued after a closing quote, too many tokens - is an error the
 * kernel reports before running anything, so a typo never silently changes a run.
 */
#include "runtime.h"

static int is_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
}

int cmdline_parse(const char *text, struct cmdline *cl, char *err, size_t errlen)
{
    size_t out = 0;
    cl->argc = 0;
    const char *p = text;
    for (;;) {
        while (*p == ' ')
            p++;
        if (!*p)
            return 0;
        size_t col = (size_t)(p - text);
        if (cl->argc == CMDLINE_MAX_ARGS) {
            snprintf(err, errlen, "more than %d arguments (column %u)", CMDLINE_MAX_ARGS,
                     (unsigned)col);
            return -1;
        }
        const char *k = p;
        while (is_key_char(*p))
            p++;
        if (p == k) {
            snprintf(err, errlen, "expected a key at column %u, found '%c'", (unsigned)col, *p);
            return -1;
        }
        if (*p != '=') {
            snprintf(err, errlen, "'%.*s' at column %u is not key=value", (int)(p - k), k,
                     (unsigned)col);
            return -1;
        }
        struct cmdline_arg *a = &cl->args[cl->argc];
        a->key = &cl->buf[out];
        memcpy(&cl->buf[out], k, (size_t)(p - k));
        out += (size_t)(p - k);
        cl->buf[out++] = 0;
        p++;                        /* '=' */
        a->value = &cl->buf[out];
        if (*p == '"') {
            const char *q = ++p;
            while (*p && *p != '"')
                p++;
            if (!*p) {
                snprintf(err, errlen, "unterminated quote after '%s=' (column %u)", a->key,
                         (unsigned)(q - text - 1));
                return -1;
            }
            memcpy(&cl->buf[out], q, (size_t)(p - q));
            out += (size_t)(p - q);
            p++;                    /* closing quote */
            if (*p && *p != ' ') {
                snprintf(err, errlen, "unexpected '%c' after the closing quote (column %u)", *p,
                         (unsigned)(p - text));
                return -1;
            }
        } else {
            const char *v = p;
            while (*p && *p != ' ') {
                if (*p == '"') {
                    snprintf(err, errlen, "quote inside an unquoted value (column %u)",
                             (unsigned)(p - text));
                    return -1;
                }
                p++;
            }
            memcpy(&cl->buf[out], v, (size_t)(p - v));
            out += (size_t)(p - v);
        }
        cl->buf[out++] = 0;
        cl->argc++;
    }
}

const char *cmdline_get(const struct cmdline *cl, const char *key)
{
    for (int i = cl->argc - 1; i >= 0; i--)   /* the last occurrence wins */
        if (strcmp(cl->args[i].key, key) == 0)
            return cl->args[i].value;
    return NULL;
}

long cmdline_get_int(const struct cmdline *cl, const char *key, long def)
{
    const char *v = cmdline_get(cl, key);
    if (!v || !*v)
        return def;
    int neg = *v == '-';
    if (neg)
        v++;
    long n = 0;
    if (!*v)
        return def;
    for (; *v; v++) {
        if (*v < '0' || *v > '9')
            return def;
        n = n * 10 + (*v - '0');
    }
    return neg ? -n : n;
}
