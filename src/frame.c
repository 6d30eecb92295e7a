#include "frame.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "ws.h"

void frame_begin(struct buf *b)
{
    buf_reset(b);
    buf_reserve(b, WS_MAX_HEADER + 256);
    memset(b->p, 0, WS_MAX_HEADER);
    b->len = WS_MAX_HEADER;
}

struct frame *frame_finish(struct buf *b)
{
    assert(b->len >= WS_MAX_HEADER);
    size_t payload_len = b->len - WS_MAX_HEADER;
    uint8_t hdr[WS_MAX_HEADER];
    size_t hlen = ws_header_encode(hdr, WS_OP_TEXT, payload_len);

    struct frame *f = oc_malloc(sizeof(*f));
    f->refs = 1;
    f->storage = buf_detach(b);
    /* The header goes right before the payload, in the room frame_begin() left. */
    f->data = (uint8_t *)f->storage + WS_MAX_HEADER - hlen;
    memcpy(f->data, hdr, hlen);
    f->len = hlen + payload_len;
    metrics.encoded++;
    return f;
}

struct frame *frame_new_text(const char *payload, size_t len)
{
    struct buf b = {0};
    frame_begin(&b);
    buf_append(&b, payload, len);
    return frame_finish(&b);
}

struct frame *frame_new_copy(const char *payload, size_t len)
{
    struct frame *f = frame_new_text(payload, len);
    metrics.encoded--;
    return f;
}

struct frame *frame_new_bytes(const void *data, size_t len)
{
    struct frame *f = oc_malloc(sizeof(*f));
    f->refs = 1;
    f->storage = oc_malloc(len);
    if (len)
        memcpy(f->storage, data, len);
    f->data = (uint8_t *)f->storage;
    f->len = len;
    return f;
}

const char *frame_payload(const struct frame *f, size_t *len)
{
    /* The header's second byte tells its length: 2, 4 or 10 bytes (server frames are
     * never masked). */
    uint8_t l7 = f->data[1] & 0x7f;
    size_t hlen = l7 < 126 ? 2 : l7 == 126 ? 4 : 10;
    *len = f->len - hlen;
    return (const char *)f->data + hlen;
}

struct frame *frame_ref(struct frame *f)
{
    f->refs++;
    return f;
}

void frame_unref(struct frame *f)
{
    if (!f)
        return;
    assert(f->refs > 0);
    if (--f->refs > 0)
        return;
    free(f->storage);
    free(f);
}
