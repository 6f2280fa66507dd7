/*
 * The settle rule; see pickup_settle.h. A linear search is enough: the
 * list is bounded and a scan takes a bounded number of files.
 */
#include <stdlib.h>
#include <string.h>

#include "pickup_settle.h"

static struct pickup_settle_entry *
find(struct pickup_settle *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->count; i++) {
		if (strcmp(s->entries[i].name, name) == 0)
			return &s->entries[i];
	}
	return NULL;
}

static void
remove_at(struct pickup_settle *s, size_t i)
{
	free(s->entries[i].name);
	s->entries[i] = s->entries[--s->count];
}

void
pickup_settle_begin(struct pickup_settle *s)
{
	size_t i;

	for (i = 0; i < s->count; i++)
		s->entries[i].seen = false;
}

/* Adds an entry; NULL when the list is full or memory is short. */
static struct pickup_settle_entry *
add(struct pickup_settle *s, const char *name)
{
	struct pickup_settle_entry *e;

	if (s->count == PICKUP_SETTLE_MAX)
		return NULL;
	if (s->count == s->cap) {
		size_t cap = s->cap == 0 ? 64 : s->cap * 2;

		e = realloc(s->entries, cap * sizeof(*e));
		if (e == NULL)
			return NULL;
		s->entries = e;
		s->cap = cap;
	}
	e = &s->entries[s->count];
	memset(e, 0, sizeof(*e));
	e->name = strdup(name);
	if (e->name == NULL)
		return NULL;
	s->count++;
	return e;
}

bool
pickup_settle_ready(struct pickup_settle *s, const char *name,
    const struct pickup_file *f, uint64_t now_ms, uint64_t settle_ms)
{
	struct pickup_settle_entry *e = find(s, name);

	if (e != NULL && e->size == f->size && e->mtime_sec == f->mtime_sec &&
	    e->mtime_nsec == f->mtime_nsec && e->inode == f->inode) {
		e->seen = true;
		return now_ms >= e->since_ms + settle_ms;
	}
	if (e == NULL)
		e = add(s, name);
	if (e == NULL)
		return false;
	e->size = f->size;
	e->mtime_sec = f->mtime_sec;
	e->mtime_nsec = f->mtime_nsec;
	e->inode = f->inode;
	e->since_ms = now_ms;
	e->seen = true;
	return false;
}

void
pickup_settle_forget(struct pickup_settle *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->count; i++) {
		if (strcmp(s->entries[i].name, name) == 0) {
			remove_at(s, i);
			return;
		}
	}
}

void
pickup_settle_end(struct pickup_settle *s)
{
	size_t i = 0;

	while (i < s->count) {
		if (!s->entries[i].seen)
			remove_at(s, i);
		else
			i++;
	}
}

void
pickup_settle_free(struct pickup_settle *s)
{
	while (s->count > 0)
		remove_at(s, s->count - 1);
	free(s->entries);
	memset(s, 0, sizeof(*s));
}
