/*
 * chanmsg: the text of a message on an object's Redis channel; the format and the meaning
 * of each header key are in chanmsg.h.
 */

#include <assert.h>
#include <string.h>

#include "chanmsg.h"
#include "json.h"

/* {"k":"<kind>","i":<instance>,"s":<sid> */
static void head_start(struct buf *b, const struct chanmsg *m)
{
    buf_printf(b, "{\"" CHANMSG_KEY_KIND "\":\"%c\",\"" CHANMSG_KEY_INSTANCE "\":", (char)m->kind);
    json_append_string(b, m->instance, strlen(m->instance));
    buf_printf(b, ",\"" CHANMSG_KEY_SID "\":%llu", (unsigned long long)m->sid);
}

/* ,"<key>":<s as a JSON string> */
static void head_string(struct buf *b, const char *key, const char *s)
{
    buf_printf(b, ",\"%s\":", key);
    json_append_string(b, s, strlen(s));
}

static void message_head(struct buf *out, const struct chanmsg *m)
{
    assert(m->kind == CHANMSG_BROADCAST || m->kind == CHANMSG_EMIT);
    head_start(out, m);
    if (m->echo)
        buf_append_str(out, ",\"" CHANMSG_KEY_ECHO "\":true");
    if (m->kind == CHANMSG_EMIT)
        head_string(out, CHANMSG_KEY_TO, m->to);
}

void chanmsg_encode_message(struct buf *out, const struct chanmsg *m, const char *payload,
                            size_t len)
{
    buf_reserve(out, len + 128);
    message_head(out, m);
    if (m->offset > 0)
        buf_printf(out, ",\"" CHANMSG_KEY_OFFSET "\":%lld", m->offset);
    if (m->epoch)
        head_string(out, CHANMSG_KEY_EPOCH, m->epoch);
    buf_append_str(out, "}\n");
    buf_append(out, payload, len);
}

void chanmsg_encode_message_head(struct buf *head, const struct chanmsg *m)
{
    message_head(head, m);
    buf_append_str(head, ",\"" CHANMSG_KEY_OFFSET "\":");
}

void chanmsg_encode_presence(struct buf *head, struct buf *tail, const struct chanmsg *m,
                             const char *participant, size_t len)
{
    assert(m->kind == CHANMSG_PRESENCE);
    head_start(head, m);
    head_string(head, CHANMSG_KEY_USER, m->user_key);
    buf_append_str(head, ",\"" CHANMSG_KEY_SEQ "\":");
    buf_append_str(tail, "}\n");
    buf_append(tail, participant, len);
}

void chanmsg_encode_data_head(struct buf *head, const struct chanmsg *m)
{
    assert(m->kind == CHANMSG_DATA);
    head_start(head, m);
    buf_append_str(head, ",\"" CHANMSG_KEY_VERSION "\":");
}

/* Reads the integer member key of h into *out: 0 when absent (*out is left alone), -1 when
 * present but not an integer. */
static int head_integer(const struct json_value *h, const char *key, long long *out)
{
    const struct json_value *v = json_get(h, key);
    return v ? json_integer(v, out) : 0;
}

static enum chanmsg_status decode_head(const struct json_value *h, struct chanmsg *m,
                                       const char **err)
{
    const char *kind = json_string(json_get(h, CHANMSG_KEY_KIND));
    m->instance = json_string(json_get(h, CHANMSG_KEY_INSTANCE));
    if (!kind || !m->instance) {
        *err = "header without kind or instance";
        return CHANMSG_MALFORMED;
    }
    long long sid = 0;
    if (head_integer(h, CHANMSG_KEY_SID, &sid) != 0 || sid < 0) {
        *err = "bad session id";
        return CHANMSG_MALFORMED;
    }
    m->sid = (uint64_t)sid;
    if (head_integer(h, CHANMSG_KEY_OFFSET, &m->offset) != 0 || m->offset < 0) {
        *err = "bad offset";
        return CHANMSG_MALFORMED;
    }
    const struct json_value *ep = json_get(h, CHANMSG_KEY_EPOCH);
    m->epoch = json_string(ep);
    if (ep && !m->epoch) {
        *err = "bad epoch";
        return CHANMSG_MALFORMED;
    }
    m->at = -1;
    if (head_integer(h, CHANMSG_KEY_AT, &m->at) != 0 || m->at < -1) {
        *err = "bad position";
        return CHANMSG_MALFORMED;
    }
    m->echo = json_typeof(json_get(h, CHANMSG_KEY_ECHO)) == JSON_TRUE;
    m->mark = json_typeof(json_get(h, CHANMSG_KEY_MARK)) == JSON_TRUE;
    m->to = json_string(json_get(h, CHANMSG_KEY_TO));
    if (strcmp(kind, "b") == 0) {
        m->kind = CHANMSG_BROADCAST;
    } else if (strcmp(kind, "e") == 0) {
        m->kind = CHANMSG_EMIT;
        if (!m->to) {
            *err = "emit without recipient";
            return CHANMSG_MALFORMED;
        }
    } else if (strcmp(kind, "p") == 0) {
        m->kind = CHANMSG_PRESENCE;
        m->user_key = json_string(json_get(h, CHANMSG_KEY_USER));
        if (!m->user_key) {
            *err = "presence without user";
            return CHANMSG_MALFORMED;
        }
        /* Every change has a number from 1 up (HINCRBY): none is missing. */
        if (json_integer(json_get(h, CHANMSG_KEY_SEQ), &m->seq) != 0 || m->seq <= 0) {
            *err = "bad presence change number";
            return CHANMSG_MALFORMED;
        }
    } else if (strcmp(kind, "d") == 0) {
        m->kind = CHANMSG_DATA;
        if (head_integer(h, CHANMSG_KEY_VERSION, &m->version) != 0 ||
            head_integer(h, CHANMSG_KEY_UPDATED_AT, &m->updated_at) != 0) {
            *err = "bad data version or time";
            return CHANMSG_MALFORMED;
        }
    } else {
        *err = "unknown kind";
        return CHANMSG_UNKNOWN_KIND;
    }
    return CHANMSG_OK;
}

enum chanmsg_status chanmsg_decode(const char *text, size_t len, struct chanmsg *m,
                                   const char **err)
{
    memset(m, 0, sizeof(*m));
    const char *nl = memchr(text, '\n', len);
    if (!nl) {
        *err = "no header line";
        return CHANMSG_MALFORMED;
    }
    struct json_value *h = json_parse(text, (size_t)(nl - text), err);
    if (!h)
        return CHANMSG_MALFORMED;
    enum chanmsg_status st = decode_head(h, m, err);
    if (st != CHANMSG_OK) {
        json_free(h);
        memset(m, 0, sizeof(*m));
        return st;
    }
    m->head = h;
    m->body = nl + 1;
    m->body_len = len - (size_t)(m->body - text);
    return CHANMSG_OK;
}

void chanmsg_clear(struct chanmsg *m)
{
    json_free(m->head);
    memset(m, 0, sizeof(*m));
}
