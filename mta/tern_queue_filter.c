/*
 * The filter options that the queue listing and the queue operations
 * share: --from, --to, --domain, --older-than and --status.
 *
 * An empty value is a usage error, never "any": a script that passes an
 * unset variable (--domain "$DOMAIN") must not select the whole queue
 * for delete or bounce. The null sender is selected with --from '<>',
 * the way it is written in SMTP's MAIL FROM:<>.
 */
#include <stdio.h>
#include <string.h>

#include "../lib/clock.h"
#include "../lib/tern_error.h"
#include "../policy/duration.h"
#include "../queue/queue_list.h"
#include "tern_queue.h"

int
tern_queue_parse_status(const char *value, struct queue_list_filter *f)
{
	if (strcmp(value, "held") == 0) {
		f->held = QUEUE_LIST_HELD_ONLY;
		f->status = QUEUE_LIST_STATUS_HELD;
	} else if (strcmp(value, "deferred") == 0) {
		f->status = QUEUE_LIST_STATUS_DEFERRED;
	} else if (strcmp(value, "active") == 0) {
		f->status = QUEUE_LIST_STATUS_ACTIVE;
	} else if (strcmp(value, "queued") == 0) {
		f->status = QUEUE_LIST_STATUS_QUEUED;
	} else {
		fprintf(stderr, "%s: invalid --status \"%s\"; give queued, "
		    "deferred, held or active\n", tern_queue_program(), value);
		return 2;
	}
	return 0;
}

bool
tern_queue_is_filter_option(const char *arg)
{
	return strcmp(arg, "--from") == 0 || strcmp(arg, "--to") == 0 ||
	    strcmp(arg, "--domain") == 0 || strcmp(arg, "--older-than") == 0 ||
	    strcmp(arg, "--status") == 0;
}

/* The hint after "invalid OPTION: empty". */
static const char *
empty_hint(const char *option)
{
	if (strcmp(option, "--from") == 0)
		return "give an address, or <> for the null sender";
	if (strcmp(option, "--to") == 0)
		return "give an address";
	if (strcmp(option, "--domain") == 0)
		return "give a domain";
	if (strcmp(option, "--status") == 0)
		return "give queued, deferred, held or active";
	return "give seconds or a number with s, m, h or d, such as 4h";
}

int
tern_queue_parse_filter(const char *command, const char *option,
    const char *value, struct queue_list_filter *f)
{
	const char *prefix = command != NULL ? command : "";
	int64_t age;

	if (value[0] == '\0') {
		fprintf(stderr, "%s%s%s: invalid %s: empty; %s\n",
		    tern_queue_program(), prefix[0] != '\0' ? " " : "", prefix,
		    option, empty_hint(option));
		return 2;
	}
	if (strcmp(option, "--from") == 0) {
		f->null_sender = strcmp(value, "<>") == 0;
		f->sender = f->null_sender ? NULL : value;
	} else if (strcmp(option, "--to") == 0) {
		f->recipient = value;
	} else if (strcmp(option, "--domain") == 0) {
		f->domain = value;
	} else if (strcmp(option, "--status") == 0) {
		return tern_queue_parse_status(value, f);
	} else if (duration_parse(value, &age) != TERN_OK) {
		fprintf(stderr, "%s%s%s: invalid --older-than duration \"%s\"; "
		    "give seconds or a number with s, m, h or d, such as 4h\n",
		    tern_queue_program(), prefix[0] != '\0' ? " " : "", prefix,
		    value);
		return 2;
	} else {
		f->arrived_before = tern_clock_now() - age;
	}
	return 0;
}
