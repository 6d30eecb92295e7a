/* Unit tests for src/presence.c: states, aggregation over instances, the replica's changes. */
#include <stdlib.h>
#include <string.h>

#include "presence.h"
#include "unit.h"

static struct identity ident(const char *user)
{
    struct identity id = {0};
    id.user_key = (char *)user;
    id.user_json = (char *)user;
    id.ws_json = "987";
    id.ws_key = "987";
    id.name = "Name";
    id.avatar_url = "";
    return id;
}

static struct participant *part(const char *user, enum presence_state st)
{
    struct identity id = ident(user);
    return participant_new(&id, NULL, 0, st);
}

/* Applies and returns (before << 4 | after), or -1 when nothing changed. */
static int apply(struct presence *pr, const char *inst, const char *user,
                 enum presence_state st)
{
    struct participant *p = st == PRESENCE_NONE ? NULL : part(user, st);
    enum presence_state before, after;
    int changed = presence_apply(pr, inst, user, p, &before, &after);
    participant_free(p);
    return changed ? (int)(before << 4 | after) : -1;
}

#define T(b, a) ((int)((b) << 4 | (a)))

START_TEST(names)
{
    ck_assert_str_eq(presence_state_name(PRESENCE_NONE), "unsubscribed");
    ck_assert_str_eq(presence_state_name(PRESENCE_SUBSCRIBED), "subscribed");
    ck_assert_str_eq(presence_state_name(PRESENCE_LEFT), "left");
    ck_assert_str_eq(presence_state_name(PRESENCE_JOINED), "joined");
    ck_assert_str_eq(presence_event_name(PRESENCE_JOINED), "ovice_participant_joined");
    ck_assert_str_eq(presence_event_name(PRESENCE_NONE), "ovice_participant_unsubscribed");
    ck_assert_str_eq(presence_event_name(PRESENCE_LEFT), "ovice_participant_left");
    ck_assert_str_eq(presence_event_name(PRESENCE_SUBSCRIBED), "ovice_participant_subscribed");
}
END_TEST

START_TEST(participant_defaults)
{
    struct identity id = ident("u1");
    id.language = "en";
    struct participant *p = participant_new(&id, NULL, 1, PRESENCE_JOINED);
    ck_assert_str_eq(p->object_type, "static");
    ck_assert_str_eq(p->language, "en");
    ck_assert_ptr_null(p->email);
    ck_assert_int_eq(p->host, 1);
    struct participant *q = participant_copy(p);
    ck_assert_ptr_ne(q->name, p->name);
    ck_assert_str_eq(q->name, p->name);
    ck_assert_int_eq(q->state, PRESENCE_JOINED);
    participant_free(p);
    participant_free(q);
    p = participant_new(&id, "dynamic", 0, PRESENCE_SUBSCRIBED);
    ck_assert_str_eq(p->object_type, "dynamic");
    participant_free(p);
}
END_TEST

START_TEST(single_instance_transitions)
{
    struct presence pr;
    presence_init(&pr);
    ck_assert_int_eq(apply(&pr, "i1", "u", PRESENCE_SUBSCRIBED), T(PRESENCE_NONE, PRESENCE_SUBSCRIBED));
    ck_assert_int_eq(apply(&pr, "i1", "u", PRESENCE_SUBSCRIBED), -1); /* same entry again */
    ck_assert_int_eq(apply(&pr, "i1", "u", PRESENCE_JOINED), T(PRESENCE_SUBSCRIBED, PRESENCE_JOINED));
    ck_assert_int_eq(apply(&pr, "i1", "u", PRESENCE_LEFT), T(PRESENCE_JOINED, PRESENCE_LEFT));
    ck_assert_int_eq(apply(&pr, "i1", "u", PRESENCE_JOINED), T(PRESENCE_LEFT, PRESENCE_JOINED));
    ck_assert_int_eq(apply(&pr, "i1", "u", PRESENCE_NONE), T(PRESENCE_JOINED, PRESENCE_NONE));
    ck_assert_int_eq(apply(&pr, "i1", "u", PRESENCE_NONE), -1); /* removing nothing */
    ck_assert_uint_eq(presence_user_count(&pr), 0);
    presence_clear(&pr);
}
END_TEST

START_TEST(aggregate_over_instances)
{
    struct presence pr;
    presence_init(&pr);
    apply(&pr, "i1", "u", PRESENCE_SUBSCRIBED);
    /* joined elsewhere wins */
    ck_assert_int_eq(apply(&pr, "i2", "u", PRESENCE_JOINED), T(PRESENCE_SUBSCRIBED, PRESENCE_JOINED));
    /* a third instance subscribing changes nothing visible */
    ck_assert_int_eq(apply(&pr, "i3", "u", PRESENCE_SUBSCRIBED), T(PRESENCE_JOINED, PRESENCE_JOINED));
    /* the joined one leaves: left beats subscribed */
    ck_assert_int_eq(apply(&pr, "i2", "u", PRESENCE_LEFT), T(PRESENCE_JOINED, PRESENCE_LEFT));
    /* the left one goes: the user was linked and is still in range, so stays left */
    ck_assert_int_eq(apply(&pr, "i2", "u", PRESENCE_NONE), T(PRESENCE_LEFT, PRESENCE_LEFT));
    ck_assert_int_eq(apply(&pr, "i1", "u", PRESENCE_NONE), T(PRESENCE_LEFT, PRESENCE_LEFT));
    ck_assert_uint_eq(presence_user_count(&pr), 1);
    ck_assert_int_eq(apply(&pr, "i3", "u", PRESENCE_NONE), T(PRESENCE_LEFT, PRESENCE_NONE));
    ck_assert_uint_eq(presence_user_count(&pr), 0);
    /* gone and back: the past link is forgotten */
    ck_assert_int_eq(apply(&pr, "i1", "u", PRESENCE_SUBSCRIBED), T(PRESENCE_NONE, PRESENCE_SUBSCRIBED));
    ck_assert_int_eq(apply(&pr, "i2", "u", PRESENCE_SUBSCRIBED), T(PRESENCE_SUBSCRIBED, PRESENCE_SUBSCRIBED));
    ck_assert_int_eq(apply(&pr, "i2", "u", PRESENCE_NONE), T(PRESENCE_SUBSCRIBED, PRESENCE_SUBSCRIBED));
    presence_clear(&pr);
}
END_TEST

START_TEST(users_are_separate_and_ordered)
{
    struct presence pr;
    presence_init(&pr);
    apply(&pr, "i1", "b", PRESENCE_JOINED);
    apply(&pr, "i1", "a", PRESENCE_SUBSCRIBED);
    apply(&pr, "i2", "c", PRESENCE_LEFT);
    ck_assert_uint_eq(presence_user_count(&pr), 3);
    ck_assert_int_eq(presence_user_state(&pr, "a", NULL), PRESENCE_SUBSCRIBED);
    ck_assert_int_eq(presence_user_state(&pr, "b", NULL), PRESENCE_JOINED);
    ck_assert_int_eq(presence_user_state(&pr, "c", NULL), PRESENCE_LEFT);
    ck_assert_int_eq(presence_user_state(&pr, "zz", NULL), PRESENCE_NONE);
    const char *want[] = {"b", "a", "c"};
    int i = 0;
    struct presence_user *u;
    TAILQ_FOREACH(u, &pr.order, link)
    ck_assert_str_eq(u->user_key, want[i++]);
    ck_assert_int_eq(i, 3);
    presence_clear(&pr);
    ck_assert_uint_eq(presence_user_count(&pr), 0);
}
END_TEST

START_TEST(best_entry_shows_attributes)
{
    struct presence pr;
    presence_init(&pr);
    struct identity id = ident("u");
    struct participant *sub = participant_new(&id, "static", 0, PRESENCE_SUBSCRIBED);
    struct participant *join = participant_new(&id, "dynamic", 1, PRESENCE_JOINED);
    enum presence_state b, a;
    presence_apply(&pr, "i1", "u", sub, &b, &a);
    presence_apply(&pr, "i2", "u", join, &b, &a);
    const struct participant *best = NULL;
    ck_assert_int_eq(presence_user_state(&pr, "u", &best), PRESENCE_JOINED);
    ck_assert_str_eq(best->object_type, "dynamic");
    ck_assert_int_eq(best->host, 1);
    /* an attribute change with the same state is a change of the entry, not of the state */
    join->host = 0;
    ck_assert_int_eq(presence_apply(&pr, "i2", "u", join, &b, &a), 1);
    ck_assert_int_eq(b, a);
    presence_user_state(&pr, "u", &best);
    ck_assert_int_eq(best->host, 0);
    /* among equal states the newest entry shows */
    sub->state = PRESENCE_JOINED;
    presence_apply(&pr, "i1", "u", sub, &b, &a);
    presence_user_state(&pr, "u", &best);
    ck_assert_str_eq(best->object_type, "static");
    participant_free(sub);
    participant_free(join);
    presence_clear(&pr);
}
END_TEST

static Suite *presence_suite(void)
{
    Suite *s = suite_create("presence");
    TCase *tc = tcase_create("presence");
    tcase_add_test(tc, names);
    tcase_add_test(tc, participant_defaults);
    tcase_add_test(tc, single_instance_transitions);
    tcase_add_test(tc, aggregate_over_instances);
    tcase_add_test(tc, users_are_separate_and_ordered);
    tcase_add_test(tc, best_entry_shows_attributes);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(presence_suite)
