/*
 * What the files of `tern queue` share (mta/tern_queue*.c): opening the
 * queue read-only and printing queue values as text.
 */
#ifndef TERN_QUEUE_CMD_H
#define TERN_QUEUE_CMD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct queue;
struct tern_config;

/*
 * Loads the configuration and opens its queue read-only into *q. Sets
 * *q to NULL when no queue database exists yet, which is an empty queue.
 * Returns 0, or the exit status after printing why on standard error:
 * 2 for a configuration that cannot be loaded, 1 for a queue that
 * cannot be read (naming the queue folder when permission is denied).
 */
int tern_queue_open(const char *config_path, struct tern_config *cfg,
    struct queue **q);

/* Prints text with control characters replaced by '?', because the text
 * may come from a remote server or client. */
void tern_queue_text(FILE *out, const char *text);

/* Writes t as local time in the mailq form "Mon Jan  2 15:04:05". */
void tern_queue_format_local(int64_t t, char *out, size_t out_size);

/* Writes t as UTC in ISO 8601, "2027-01-02T15:04:05Z". */
void tern_queue_format_utc(int64_t t, char *out, size_t out_size);

/* tern queue show ID [--body]: mta/tern_queue_show.c */
int tern_queue_show(const char *config_path, int argc, char **argv);

/* The name that starts error messages: "tern queue", or "mailq" when
 * the listing runs as mailq (tern_cmd_queue() with argv[0] "mailq"). */
const char *tern_queue_program(void);
void tern_queue_set_program(const char *name);

/* Reads a --status value into f; returns 2 after printing why it is
 * invalid, else 0 (mta/tern_queue_filter.c). */
struct queue_list_filter;
int tern_queue_parse_status(const char *value, struct queue_list_filter *f);

/* The message's status as the listing's --json and --status name it:
 * active, held, deferred (tried), or queued (never tried). */
struct queue_list_message;
const char *tern_queue_status_name(const struct queue_list_message *m);

/* True for --from, --to, --domain, --older-than and --status. */
bool tern_queue_is_filter_option(const char *arg);

/* Reads one filter option and its value into f; command (NULL for the
 * listing) names the operation in messages. An empty value is invalid,
 * and --from '<>' selects the null sender. Returns 2 after printing the
 * problem, else 0. */
int tern_queue_parse_filter(const char *command, const char *option,
    const char *value, struct queue_list_filter *f);

/* True for the commands tern_queue_ops() runs. */
bool tern_queue_is_op(const char *command);

/* tern queue flush|hold|release|delete|bounce|requeue: argv[0] is the
 * command (mta/tern_queue_ops.c). */
int tern_queue_ops(const char *config_path, int argc, char **argv);

#endif
