#ifndef OC_BUF_H
#define OC_BUF_H

#include <stdarg.h>
#include <stddef.h>

/*
 * A growable byte buffer. The bytes are always NUL-terminated (the NUL is not counted in
 * len), so a buffer holding text can be used as a C string. A zeroed struct is an empty
 * buffer; buf_free() releases the storage and leaves an empty buffer behind.
 */
struct buf {
    char *p;    /* storage, NULL while nothing was ever appended */
    size_t len; /* bytes in use */
    size_t cap; /* bytes allocated, NUL included */
};

/* Makes room for at least n more bytes. Aborts when memory runs out, like every allocation
 * in objcast: a server that cannot allocate cannot answer anyone. */
void buf_reserve(struct buf *b, size_t n);
void buf_append(struct buf *b, const void *data, size_t n);
void buf_append_str(struct buf *b, const char *s);
void buf_append_char(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Empties the buffer and keeps its storage. */
void buf_reset(struct buf *b);
void buf_free(struct buf *b);
/* Hands the storage to the caller (who frees it) and leaves an empty buffer. Never NULL. */
char *buf_detach(struct buf *b);

/* Allocation helpers that abort instead of returning NULL. */
void *oc_malloc(size_t n);
void *oc_calloc(size_t n, size_t size);
void *oc_realloc(void *p, size_t n);
char *oc_strdup(const char *s);
char *oc_strndup(const char *s, size_t n);

#endif
