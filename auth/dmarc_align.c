/*
 * DMARC identifier alignment with libpsl; see dmarc_align.h.
 *
 * The list is loaded once per process and kept: libpsl's context is
 * read-only after loading, so threads may share it.
 */
#include <ctype.h>
#include <libpsl.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "../lib/tern_error.h"
#include "dmarc_align.h"

static uv_once_t psl_once = UV_ONCE_INIT;
static const psl_ctx_t *psl;

static void
psl_load(void)
{
	/* psl_latest() picks the newer of the built-in list and the
	 * system's file; the built-in list remains when that fails. */
	psl = psl_latest(NULL);
	if (psl == NULL)
		psl = psl_builtin();
}

/* Copies domain in lower case without a final dot; false when it does
 * not fit. */
static bool
normalize(const char *domain, char *out, size_t out_size)
{
	size_t len = strlen(domain), i;

	if (len > 0 && domain[len - 1] == '.')
		len--;
	if (len == 0 || len >= out_size)
		return false;
	for (i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)domain[i]);
	out[len] = '\0';
	return true;
}

int
dmarc_organizational_domain(const char *domain, char *out, size_t out_size)
{
	char name[256];
	const char *registrable;

	if (!normalize(domain, name, sizeof(name)))
		return TERN_EINVAL;
	uv_once(&psl_once, psl_load);
	if (psl == NULL)
		return TERN_EINVAL;
	registrable = psl_registrable_domain(psl, name);
	if (registrable == NULL)
		registrable = name;
	if (strlen(registrable) >= out_size)
		return TERN_EINVAL;
	snprintf(out, out_size, "%s", registrable);
	return TERN_OK;
}

bool
dmarc_aligned(const char *authenticated, const char *from_domain,
    enum dmarc_alignment mode)
{
	char a[256], b[256];

	if (mode == DMARC_ALIGN_STRICT) {
		if (!normalize(authenticated, a, sizeof(a)) ||
		    !normalize(from_domain, b, sizeof(b)))
			return false;
		return strcmp(a, b) == 0;
	}
	if (dmarc_organizational_domain(authenticated, a, sizeof(a)) !=
	    TERN_OK || dmarc_organizational_domain(from_domain, b,
	    sizeof(b)) != TERN_OK)
		return false;
	return strcmp(a, b) == 0;
}
