/*
 * The subcommands of the tern command line program. Each gets the
 * arguments after its own name (argv[0] is that name) and the
 * configuration file chosen with -c, and returns the exit status:
 * 0 success, 1 a failure it reports, 2 wrong usage.
 */
#ifndef TERN_COMMANDS_H
#define TERN_COMMANDS_H

/* tern doctor DOMAIN [--json]: mta/tern_doctor.c */
int tern_cmd_doctor(const char *config_path, int argc, char **argv);

/* tern dkim keygen --domain D --selector S [--algorithm rsa|ed25519]
 * [--output FILE]: mta/tern_dkim.c */
int tern_cmd_dkim(const char *config_path, int argc, char **argv);

/* tern spf check --ip ADDRESS --sender ADDRESS [--helo NAME] [--json]:
 * mta/tern_spf.c */
int tern_cmd_spf(const char *config_path, int argc, char **argv);

/* tern config check [--domain DOMAIN]: mta/tern_config_check.c */
int tern_cmd_config(const char *config_path, int argc, char **argv);

/* tern reload: mta/tern_reload.c */
int tern_cmd_reload(const char *config_path, int argc, char **argv);

struct tern_config;

/* Loads config_path into cfg and checks its policy and secrets files
 * and its source addresses, printing every error on standard error. Returns 0 when all are
 * valid, else 1. mta/tern_config_check.c */
int tern_check_files(const char *config_path, struct tern_config *cfg);

/* tern warmup status [--json]: mta/tern_warmup.c */
int tern_cmd_warmup(const char *config_path, int argc, char **argv);

/* tern user add|del|passwd|list: mta/tern_user.c */
int tern_cmd_user(const char *config_path, int argc, char **argv);

/* tern queue [list|show ...]: mta/tern_queue.c */
int tern_cmd_queue(const char *config_path, int argc, char **argv);

/* sendmail [OPTIONS] [RECIPIENT...] and mailq, with sendmail's exit
 * statuses (<sysexits.h>) instead of the ones above:
 * mta/tern_sendmail.c */
int tern_cmd_sendmail(const char *config_path, int argc, char **argv);
int tern_cmd_mailq(const char *config_path, int argc, char **argv);

typedef int tern_command_fn(const char *config_path, int argc, char **argv);

/* The command that the program runs when its file name (argv0, any
 * folder) is "sendmail" or "mailq" ("sendmail.exe" in any case on
 * Windows); NULL for any other name. mta/tern_sendmail.c */
tern_command_fn *tern_command_for_program(const char *argv0);

#endif
