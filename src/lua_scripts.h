#ifndef OC_LUA_SCRIPTS_H
#define OC_LUA_SCRIPTS_H

/*
 * The Lua scripts of engine redis. Each src/lua/NAME.lua is embedded by the build as
 * lua_NAME, the file's text exactly, NUL-terminated (build-aux/lua2c.sh writes
 * lua_scripts.c; Makefile.am lists the files). The comment at the top of each file says
 * its KEYS, ARGV and reply.
 */

extern const char lua_presence_set[];      /* store or remove an entry, publish it */
extern const char lua_presence_reap[];     /* remove a dead generation's entries, publish each */
extern const char lua_presence_snapshot[]; /* the entries and the last change's number */
extern const char lua_data_get[];          /* the saved data with version, updated_at */
extern const char lua_data_save[];         /* replace or merge, limits, version, publish */
extern const char lua_instances_refresh[]; /* this instance's registry entry, drop stale */
extern const char lua_house[];             /* heartbeat, generations, dead instances, jobs */
extern const char lua_publish[];           /* offset, history, publish a message */
extern const char lua_history_since[];     /* an object's messages after an offset */
extern const char lua_epoch_renew[];       /* a new epoch after lost writes */

#endif
