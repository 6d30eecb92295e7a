#ifndef OC_LOG_H
#define OC_LOG_H

enum log_level {
    LOG_LEVEL_DEBUG = 0,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARNING,
    LOG_LEVEL_ERROR,
};

/* Messages below this level are dropped. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "debug", "info", "warning" or "error" (the conf file's words); "?" for anything else. */
const char *log_level_name(enum log_level level);

/*
 * Writes one line to stdout: a UTC timestamp, the level, the process id, then the message,
 * which is an event name followed by key=value fields ("client closed id=12 code=1001").
 * Lines are written whole with one write(), so the workers of one terminal never interleave.
 */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like log_msg at info level, whatever the level: for the lines operators and scripts rely
 * on (the listening line). */
void log_always(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_get_level() <= LOG_LEVEL_DEBUG)                                                    \
            log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__);                                                 \
    } while (0)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
