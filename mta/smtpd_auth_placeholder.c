/*
 * Weak placeholders for the EHLO hooks of SMTP AUTH, so smtpd links
 * while mta/smtpd_auth.c is not in this tree. Delete this file (and its
 * line in Makefile.am) when smtpd_auth.c arrives: its definitions
 * replace these at link time anyway.
 *
 * Privileges: smtpd's. No AUTH command exists behind these: the keyword
 * only lets the listener tests see where EHLO offers AUTH.
 */
#include "smtpd_session_internal.h"

__attribute__((weak)) bool
smtpd_auth_advertised(const struct smtpd_session *s)
{
	return s->lcfg->auth_offered && s->settings->auth_available;
}

__attribute__((weak)) void
smtpd_auth_ehlo_keyword(struct smtpd_session *s)
{
	smtpd_reply(s, "250-AUTH PLAIN LOGIN");
}
