/*
 * The names in the pickup folder that the scan leaves alone (links,
 * folders, other special files, names not ending in .eml) and has
 * logged already, so each is logged once and not on every scan. A name
 * is forgotten when a complete scan no longer sees it, so it is logged
 * again if it comes back. Used by the scan's worker thread only.
 */
#ifndef TERN_PICKUP_IGNORED_H
#define TERN_PICKUP_IGNORED_H

#include <stdbool.h>
#include <stddef.h>

/* Names remembered at once; past it, further names are not logged. */
#define PICKUP_IGNORED_MAX 4096

enum pickup_ignored_result {
	PICKUP_IGNORED_NEW,          /* first seen: log it */
	PICKUP_IGNORED_KNOWN,        /* logged before, or not to be logged */
	PICKUP_IGNORED_FULL          /* the set just became full: log that */
};

struct pickup_ignored_entry {
	char *name;
	bool seen;                   /* seen in the current scan */
};

struct pickup_ignored {
	struct pickup_ignored_entry *entries;   /* sorted by name */
	size_t count;
	size_t cap;
	bool full_reported;          /* PICKUP_IGNORED_FULL was returned */
};

/* Starts a scan: every name counts as not seen. */
void pickup_ignored_begin(struct pickup_ignored *s);

/*
 * Marks name as seen in this scan and adds it when it is new. Returns
 * PICKUP_IGNORED_NEW for a name added now. Returns PICKUP_IGNORED_FULL
 * once for a name that does not fit (and again only after the set had
 * room once more), and PICKUP_IGNORED_KNOWN otherwise. A name that
 * cannot be added for lack of memory counts as known, so it is not
 * logged.
 */
enum pickup_ignored_result pickup_ignored_note(struct pickup_ignored *s,
    const char *name);

/* Ends a scan that listed the whole folder: forgets the names it did
 * not see. */
void pickup_ignored_end(struct pickup_ignored *s);

void pickup_ignored_free(struct pickup_ignored *s);

#endif
