/*
 * The names logged as left alone; see pickup_ignored.h. The array is
 * kept sorted, so a scan looks each name up by binary search.
 */
#include <stdlib.h>
#include <string.h>

#include "pickup_ignored.h"

/* Returns the index of name, or where it would be inserted. */
static size_t
search(const struct pickup_ignored *s, const char *name, bool *found)
{
	size_t low = 0, high = s->count;

	*found = false;
	while (low < high) {
		size_t mid = low + (high - low) / 2;
		int cmp = strcmp(s->entries[mid].name, name);

		if (cmp == 0) {
			*found = true;
			return mid;
		}
		if (cmp < 0)
			low = mid + 1;
		else
			high = mid;
	}
	return low;
}

void
pickup_ignored_begin(struct pickup_ignored *s)
{
	size_t i;

	for (i = 0; i < s->count; i++)
		s->entries[i].seen = false;
}

static bool
grow(struct pickup_ignored *s)
{
	size_t cap = s->cap == 0 ? 64 : s->cap * 2;
	struct pickup_ignored_entry *entries;

	if (cap > PICKUP_IGNORED_MAX)
		cap = PICKUP_IGNORED_MAX;
	entries = realloc(s->entries, cap * sizeof(*entries));
	if (entries == NULL)
		return false;
	s->entries = entries;
	s->cap = cap;
	return true;
}

enum pickup_ignored_result
pickup_ignored_note(struct pickup_ignored *s, const char *name)
{
	bool found;
	size_t at = search(s, name, &found);
	char *copy;

	if (found) {
		s->entries[at].seen = true;
		return PICKUP_IGNORED_KNOWN;
	}
	if (s->count == PICKUP_IGNORED_MAX) {
		if (s->full_reported)
			return PICKUP_IGNORED_KNOWN;
		s->full_reported = true;
		return PICKUP_IGNORED_FULL;
	}
	if (s->count == s->cap && !grow(s))
		return PICKUP_IGNORED_KNOWN;
	copy = strdup(name);
	if (copy == NULL)
		return PICKUP_IGNORED_KNOWN;
	memmove(&s->entries[at + 1], &s->entries[at],
	    (s->count - at) * sizeof(*s->entries));
	s->entries[at].name = copy;
	s->entries[at].seen = true;
	s->count++;
	return PICKUP_IGNORED_NEW;
}

void
pickup_ignored_end(struct pickup_ignored *s)
{
	size_t i, kept = 0;

	for (i = 0; i < s->count; i++) {
		if (s->entries[i].seen)
			s->entries[kept++] = s->entries[i];
		else
			free(s->entries[i].name);
	}
	s->count = kept;
	if (s->count < PICKUP_IGNORED_MAX)
		s->full_reported = false;
}

void
pickup_ignored_free(struct pickup_ignored *s)
{
	size_t i;

	for (i = 0; i < s->count; i++)
		free(s->entries[i].name);
	free(s->entries);
	memset(s, 0, sizeof(*s));
}
