/*
 * tern user add|del|passwd|list: edits the SMTP AUTH users file named by
 * smtpd.auth.users_file (format in auth/user_file.h). A password is read
 * from the terminal without echo and asked twice, or as one line from
 * standard input when that is not a terminal, never from the command
 * line, where other users would see it in the process list. ternd reads
 * the file when it starts and on `tern reload`.
 *
 * Exit status: 0 on success; 1 when the user is not found or exists
 * already, a value is invalid, the passwords differ or the file cannot
 * be read or written; 2 for wrong usage.
 *
 * Privileges: the file is root's with mode 0600, so this is run as
 * root. It never prints a password or a hash.
 */
#include <stdio.h>
#include <string.h>

#include "../auth/user_file.h"
#include "../lib/log.h"
#include "../lib/tern_error.h"
#include "../policy/config.h"
#include "tern_commands.h"
#include "tern_user_tty.h"

/* Longest SENDERS that --sender options may build. */
#define SENDERS_BUFFER (USER_SENDERS_MAX + 1)

static void
usage(FILE *out)
{
	fprintf(out, "usage: tern [-c CONFIG] user add NAME [--sender LIST]\n"
	    "       tern [-c CONFIG] user del NAME\n"
	    "       tern [-c CONFIG] user passwd NAME\n"
	    "       tern [-c CONFIG] user list\n"
	    "  edits the SMTP AUTH users file (smtpd.auth.users_file)\n"
	    "  --sender LIST  envelope senders the user may use, separated by "
	    "commas:\n"
	    "                 alice@example.com, @example.com (the domain) or\n"
	    "                 .example.com (its subdomains); default: any\n"
	    "  The password is asked twice on the terminal, or read as one "
	    "line from\n"
	    "  standard input when that is not a terminal.\n");
}

/* Rejects an argument that looks like a password given on the command
 * line, saying where the password goes instead. */
static int
reject_extra(const char *argument)
{
	if (strncmp(argument, "--pass", 6) == 0 ||
	    (argument[0] != '-' && argument[0] != '\0'))
		fprintf(stderr, "tern user: unexpected argument; a password is "
		    "never taken on the command line, where the process list "
		    "shows it. Type it when asked, or pipe it on standard "
		    "input\n");
	else
		fprintf(stderr, "tern user: unknown option \"%s\"\n", argument);
	usage(stderr);
	return 2;
}

/* Loads the configuration and returns the users file, or NULL after
 * printing why there is none. */
static const char *
users_file_of(const char *config_path, struct tern_config *cfg)
{
	static char err[16384];

	if (tern_config_load(config_path, cfg, err, sizeof(err)) != TERN_OK) {
		fprintf(stderr, "%s\n", err);
		return NULL;
	}
	if (cfg->users_file[0] == '\0') {
		fprintf(stderr, "tern user: smtpd.auth.users_file is not set in "
		    "%s; set it to the users file, such as \"users\" beside "
		    "the configuration\n", config_path);
		return NULL;
	}
	return cfg->users_file;
}

/* Overwrites n bytes so that the compiler cannot drop the writes. */
static void
wipe(void *p, size_t n)
{
	volatile unsigned char *c = p;

	while (n-- > 0)
		*c++ = 0;
}

/*
 * Reads the new password of name, twice on a terminal, and hashes it
 * into hash. Returns 0, or 1 after printing why not.
 */
static int
read_new_password(const char *name, char *hash, size_t hash_size)
{
	char password[USER_PASSWORD_MAX + 1], again[USER_PASSWORD_MAX + 1];
	char prompt[USER_NAME_MAX + 40], err[200];
	long len, again_len;
	int status = 1, rc;

	snprintf(prompt, sizeof(prompt), "New password for %s: ", name);
	len = tty_read_password(prompt, password, sizeof(password), err,
	    sizeof(err));
	if (len < 0) {
		fprintf(stderr, "tern user: %s; nothing changed\n", err);
		goto done;
	}
	if (len == 0) {
		fprintf(stderr, "tern user: the password is empty; nothing "
		    "changed\n");
		goto done;
	}
	if (tty_stdin_is_terminal()) {
		again_len = tty_read_password("Repeat the password: ", again,
		    sizeof(again), err, sizeof(err));
		if (again_len < 0) {
			fprintf(stderr, "tern user: %s; nothing changed\n", err);
			goto done;
		}
		if (again_len != len || memcmp(password, again,
		    (size_t)len) != 0) {
			fprintf(stderr, "tern user: the passwords do not match; "
			    "nothing changed\n");
			goto done;
		}
	}
	rc = user_password_hash(password, (size_t)len, hash, hash_size);
	if (rc != TERN_OK) {
		fprintf(stderr, "tern user: cannot hash the password: %s\n",
		    tern_strerror(rc));
		goto done;
	}
	status = 0;

done:
	wipe(password, sizeof(password));
	wipe(again, sizeof(again));
	return status;
}

/*
 * Checks before a password is asked for whether the edit can succeed:
 * whether the name is taken (add) or exists (passwd). A file that does
 * not load is left for the edit to report.
 */
static int
precheck(const char *path, const char *name, bool must_exist)
{
	struct user_db *db = NULL;
	char err[1024];
	bool exists;

	if (user_file_load(path, &db, err, sizeof(err)) != TERN_OK)
		return 0;
	exists = user_db_contains(db, name);
	user_db_free(db);
	if (exists && !must_exist) {
		fprintf(stderr, "tern user: %s: user \"%s\" exists already; "
		    "use tern user passwd to change the password\n", path, name);
		return 1;
	}
	if (!exists && must_exist) {
		fprintf(stderr, "tern user: %s: no user \"%s\"\n", path, name);
		return 1;
	}
	return 0;
}

/* Joins a --sender value onto senders with a comma. */
static int
add_senders(char *senders, const char *value)
{
	size_t used = strlen(senders);
	int n;

	n = snprintf(senders + used, SENDERS_BUFFER - used, "%s%s",
	    used > 0 ? "," : "", value);
	if (n < 0 || (size_t)n >= SENDERS_BUFFER - used) {
		fprintf(stderr, "tern user: --sender lists are longer than %d "
		    "octets\n", USER_SENDERS_MAX);
		return 1;
	}
	return 0;
}

/* Prints the outcome of an edit: status 0, else 1 with the reason. */
static int
report_edit(int rc, const char *err, const char *done, const char *name,
    const char *preposition, const char *path)
{
	if (rc != TERN_OK) {
		fprintf(stderr, "tern user: %s\n", err);
		return 1;
	}
	printf("%s %s %s %s; run tern reload to make ternd use it\n", done,
	    name, preposition, path);
	return 0;
}

static int
user_add(const char *config_path, int argc, char **argv)
{
	static struct tern_config cfg;
	char senders[SENDERS_BUFFER] = "", hash[USER_HASH_MAX];
	char err[2048], shown[USER_NAME_MAX * 4 + 8];
	const char *path, *name;
	int i;

	if (argc < 2 || argv[1][0] == '-') {
		usage(stderr);
		return 2;
	}
	name = argv[1];
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--sender") != 0)
			return reject_extra(argv[i]);
		if (i + 1 >= argc) {
			fprintf(stderr, "tern user: --sender needs a list\n");
			return 2;
		}
		if (add_senders(senders, argv[++i]) != 0)
			return 1;
	}
	if (!user_name_valid(name)) {
		fprintf(stderr, "tern user: invalid user name \"%s\" (1 to %d "
		    "printable ASCII octets without ':' or spaces, not "
		    "starting with '#')\n", log_escape(shown, sizeof(shown),
		    name, strlen(name)), USER_NAME_MAX);
		return 1;
	}
	if (!user_senders_valid(senders, err, sizeof(err))) {
		fprintf(stderr, "tern user: %s\n", err);
		return 1;
	}
	path = users_file_of(config_path, &cfg);
	if (path == NULL || precheck(path, name, false) != 0)
		return 1;
	if (read_new_password(name, hash, sizeof(hash)) != 0)
		return 1;
	return report_edit(user_file_add(path, name, hash, senders, err,
	    sizeof(err)), err, "added user", name, "to", path);
}

static int
user_passwd(const char *config_path, int argc, char **argv)
{
	static struct tern_config cfg;
	char hash[USER_HASH_MAX], err[2048];
	const char *path;

	if (argc < 2 || argv[1][0] == '-') {
		usage(stderr);
		return 2;
	}
	if (argc > 2)
		return reject_extra(argv[2]);
	path = users_file_of(config_path, &cfg);
	if (path == NULL || precheck(path, argv[1], true) != 0)
		return 1;
	if (read_new_password(argv[1], hash, sizeof(hash)) != 0)
		return 1;
	return report_edit(user_file_set_hash(path, argv[1], hash, err,
	    sizeof(err)), err, "changed the password of user", argv[1], "in",
	    path);
}

static int
user_del(const char *config_path, int argc, char **argv)
{
	static struct tern_config cfg;
	char err[2048];
	const char *path;

	if (argc < 2 || argv[1][0] == '-') {
		usage(stderr);
		return 2;
	}
	if (argc > 2)
		return reject_extra(argv[2]);
	path = users_file_of(config_path, &cfg);
	if (path == NULL)
		return 1;
	return report_edit(user_file_delete(path, argv[1], err, sizeof(err)),
	    err, "deleted user", argv[1], "from", path);
}

/* Prints each account as "NAME SENDERS", with "any" for an empty
 * SENDERS; never a hash. */
static int
user_list(const char *config_path, int argc, char **argv)
{
	static struct tern_config cfg;
	static char err[16384];
	struct user_db *db = NULL;
	const char *path, *name, *senders;
	size_t i;

	(void)argv;
	if (argc != 1) {
		usage(stderr);
		return 2;
	}
	path = users_file_of(config_path, &cfg);
	if (path == NULL)
		return 1;
	if (user_file_load(path, &db, err, sizeof(err)) != TERN_OK) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	for (i = 0; i < user_db_count(db); i++) {
		user_db_entry(db, i, &name, &senders);
		printf("%s %s\n", name, senders[0] != '\0' ? senders : "any");
	}
	user_db_free(db);
	return 0;
}

int
tern_cmd_user(const char *config_path, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "add") == 0)
		return user_add(config_path, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "del") == 0)
		return user_del(config_path, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "passwd") == 0)
		return user_passwd(config_path, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		return user_list(config_path, argc - 1, argv + 1);
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
