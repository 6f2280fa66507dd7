/*
 * The doctor's report: collecting checks and printing them as text (one
 * line per check) or as JSON for scripts.
 *
 * The JSON form is one object:
 *   {"domain": "example.com", "status": "fail", "checks": [
 *     {"name": "mx", "subject": "example.com", "status": "ok",
 *      "detail": "...", "fix": ""}, ...]}
 * status is "ok", "warn" or "fail"; the top-level one is the worst.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../lib/log.h"
#include "doctor.h"

static const char *const json_status[] = {
	[DOCTOR_OK] = "ok", [DOCTOR_WARN] = "warn", [DOCTOR_FAIL] = "fail",
};

static const char *const text_status[] = {
	[DOCTOR_OK] = "ok", [DOCTOR_WARN] = "warn", [DOCTOR_FAIL] = "FAIL",
};

const char *
doctor_status_label(enum doctor_status status)
{
	return text_status[status];
}

struct doctor_check *
doctor_add(struct doctor_report *r, const char *name, const char *subject,
    enum doctor_status status, const char *fix, const char *detail_fmt, ...)
{
	static struct doctor_check overflow;
	struct doctor_check *c;
	va_list ap;

	/* DOCTOR_MAX_CHECKS covers the configuration's limits, so this only
	 * guards against a check added without raising it. */
	if (r->count >= DOCTOR_MAX_CHECKS) {
		r->dropped++;
		return &overflow;
	}
	c = &r->checks[r->count++];
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->subject, sizeof(c->subject), "%s", subject);
	c->status = status;
	va_start(ap, detail_fmt);
	vsnprintf(c->detail, sizeof(c->detail), detail_fmt, ap);
	va_end(ap);
	if (fix != NULL)
		snprintf(c->fix, sizeof(c->fix), "%s", fix);
	return c;
}

void
doctor_add_fix(struct doctor_check *c, const char *fmt, ...)
{
	size_t used = strlen(c->fix);
	va_list ap;

	/* Sentences added one after another get a space between them. */
	if (used > 0 && used + 1 < sizeof(c->fix)) {
		c->fix[used++] = ' ';
		c->fix[used] = '\0';
	}
	va_start(ap, fmt);
	vsnprintf(c->fix + used, sizeof(c->fix) - used, fmt, ap);
	va_end(ap);
}

char *
doctor_escape(char *out, size_t out_size, const char *text, size_t max_shown)
{
	size_t len = strlen(text);

	if (len <= max_shown)
		return log_escape(out, out_size, text, len);
	log_escape(out, out_size, text, max_shown);
	if (strlen(out) + 4 <= out_size)
		strcat(out, "...");
	return out;
}

enum doctor_status
doctor_worst(const struct doctor_report *r)
{
	enum doctor_status worst = r->dropped > 0 ? DOCTOR_FAIL : DOCTOR_OK;
	size_t i;

	for (i = 0; i < r->count; i++) {
		if (r->checks[i].status > worst)
			worst = r->checks[i].status;
	}
	return worst;
}

void
doctor_print_text(const struct doctor_report *r, FILE *out)
{
	size_t i, counts[3] = {0, 0, 0};

	fprintf(out, "tern doctor: %s\n", r->domain);
	for (i = 0; i < r->count; i++) {
		const struct doctor_check *c = &r->checks[i];

		counts[c->status]++;
		fprintf(out, "%-4s  %s %s: %s", text_status[c->status],
		    c->name, c->subject, c->detail);
		if (c->fix[0] != '\0')
			fprintf(out, " Fix: %s", c->fix);
		fputc('\n', out);
	}
	fprintf(out, "%zu checks: %zu ok, %zu warn, %zu FAIL\n",
	    r->count, counts[DOCTOR_OK], counts[DOCTOR_WARN],
	    counts[DOCTOR_FAIL]);
	if (r->dropped > 0)
		fprintf(out, "%zu more checks did not fit in the report\n",
		    r->dropped);
}

/* Writes a JSON string. Bytes outside printable ASCII are written as
 * \u00XX, so the output stays valid JSON whatever the text holds. */
static void
json_string(FILE *out, const char *text)
{
	const unsigned char *p;

	fputc('"', out);
	for (p = (const unsigned char *)text; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

void
doctor_print_json(const struct doctor_report *r, FILE *out)
{
	size_t i;

	fputs("{\"domain\": ", out);
	json_string(out, r->domain);
	fprintf(out, ", \"status\": \"%s\", \"checks\": [",
	    json_status[doctor_worst(r)]);
	for (i = 0; i < r->count; i++) {
		const struct doctor_check *c = &r->checks[i];

		fputs(i == 0 ? "\n  {\"name\": " : ",\n  {\"name\": ", out);
		json_string(out, c->name);
		fputs(", \"subject\": ", out);
		json_string(out, c->subject);
		fprintf(out, ", \"status\": \"%s\", \"detail\": ",
		    json_status[c->status]);
		json_string(out, c->detail);
		fputs(", \"fix\": ", out);
		json_string(out, c->fix);
		fputc('}', out);
	}
	fputs("\n]}\n", out);
}
