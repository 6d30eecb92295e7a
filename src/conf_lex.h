#ifndef OC_CONF_LEX_H
#define OC_CONF_LEX_H

/*
 * The conf file's tokenizer: one line in, its words out (redis.conf style). Words are
 * separated by blanks (spaces and tabs); a line whose first word starts with '#' is a
 * comment. A word may be quoted: "..." knows the escapes \" \\ \n \t \r and \xHH (not \x00),
 * '...' knows only \' (any other backslash is literal). A quote inside an unquoted word,
 * an unknown escape or a closing quote not followed by a blank is an error rather than a
 * guess.
 */

/* The words of one line. A zeroed struct is empty. */
struct conf_words {
    char **v; /* owned words, NUL-terminated (a word cannot hold NUL) */
    int n;    /* words in use */
    int cap;  /* slots allocated */
};

/*
 * Appends the words of the line [p, end) (without its newline) to w. Returns 0 (no words for
 * a blank or comment line), or -1 with *err set to a static reason; the words read before
 * the error stay in w, so the caller can name the key.
 */
int conf_lex_line(const char *p, const char *end, struct conf_words *w, const char **err);

/* Frees the words and leaves w empty. */
void conf_words_free(struct conf_words *w);

#endif
