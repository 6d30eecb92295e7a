#include "conf_lex.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "util.h"

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

static void words_push(struct conf_words *w, char *word)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 8;
        w->v = oc_realloc(w->v, (size_t)w->cap * sizeof(*w->v));
    }
    w->v[w->n++] = word;
}

void conf_words_free(struct conf_words *w)
{
    for (int i = 0; i < w->n; i++)
        free(w->v[i]);
    free(w->v);
    memset(w, 0, sizeof(*w));
}

/* Reads one quoted word starting at the quote *p. Returns the position after the closing
 * quote, or NULL with *err set. */
static const char *read_quoted(const char *p, const char *end, struct buf *word, const char **err)
{
    char quote = *p++;
    for (;;) {
        if (p == end) {
            *err = "unbalanced quotes";
            return NULL;
        }
        char ch = *p++;
        if (ch == quote)
            break;
        if (ch != '\\' || p == end) {
            buf_append_char(word, ch);
            continue;
        }
        if (quote == '\'') {
            if (*p == '\'')
                buf_append_char(word, *p++);
            else
                buf_append_char(word, '\\');
            continue;
        }
        char esc = *p++;
        switch (esc) {
        case '"':
        case '\\':
            buf_append_char(word, esc);
            break;
        case 'n':
            buf_append_char(word, '\n');
            break;
        case 't':
            buf_append_char(word, '\t');
            break;
        case 'r':
            buf_append_char(word, '\r');
            break;
        case 'x': {
            int hi = end - p >= 2 ? util_hex_value(p[0]) : -1;
            int lo = end - p >= 2 ? util_hex_value(p[1]) : -1;
            if (hi < 0 || lo < 0) {
                *err = "\\x must be followed by two hex digits";
                return NULL;
            }
            if (hi == 0 && lo == 0) {
                *err = "\\x00 is not allowed";
                return NULL;
            }
            buf_append_char(word, (char)(hi * 16 + lo));
            p += 2;
            break;
        }
        default:
            /* Silently dropping the backslash (as redis does) would turn "C:\dir" into
             * "C:dir"; better to say so. */
            *err = "unknown escape in quotes (use \\\\ for a backslash)";
            return NULL;
        }
    }
    if (p != end && !is_blank(*p)) {
        *err = "closing quote must be followed by a space";
        return NULL;
    }
    return p;
}

int conf_lex_line(const char *p, const char *end, struct conf_words *w, const char **err)
{
    while (p < end && is_blank(*p))
        p++;
    if (p < end && *p == '#')
        return 0;
    for (;;) {
        while (p < end && is_blank(*p))
            p++;
        if (p == end)
            return 0;
        struct buf word = {0};
        if (*p == '"' || *p == '\'') {
            p = read_quoted(p, end, &word, err);
            if (!p) {
                buf_free(&word);
                return -1;
            }
        } else {
            while (p < end && !is_blank(*p)) {
                if (*p == '"' || *p == '\'') {
                    *err = "quote inside an unquoted word (quote the whole word)";
                    buf_free(&word);
                    return -1;
                }
                buf_append_char(&word, *p++);
            }
        }
        words_push(w, buf_detach(&word));
    }
}
