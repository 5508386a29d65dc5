/*
 * cli.h — the subcommands of the laotie binary, shared option handling.
 * Each command is `int lt_cmd_<name>(int argc, char **argv)` returning the
 * process exit code (0 ok, 1 failure, 2 usage error).
 */
#ifndef LT_CLI_CLI_H
#define LT_CLI_CLI_H

#include "cli/config.h"

int lt_cmd_import(int argc, char **argv);
int lt_cmd_stats(int argc, char **argv);
int lt_cmd_serve(int argc, char **argv);
int lt_cmd_report(int argc, char **argv);
int lt_cmd_eval(int argc, char **argv);
int lt_cmd_train(int argc, char **argv);
int lt_cmd_recommend(int argc, char **argv);
int lt_cmd_simulate(int argc, char **argv);

/* Common options: --data DIR, --config FILE, --fsync MODE, --timezone TZ,
 * --repair. lt_cli_common parses one of them at argv[*i] (advancing *i
 * past its value) and returns 1 when it did, 0 when the option is not a
 * common one, -1 on error (message printed). */
int lt_cli_common(lt_config_t *c, int argc, char **argv, int *i);
/* Loads the config named by --config (if any) before the other options:
 * scans argv for it. Returns 0 or -1 (message printed). */
int lt_cli_config(lt_config_t *c, int argc, char **argv);
/* Opens the store of c (prints the recovery report to stderr when it cut
 * or rejected anything, or verbose). Returns NULL on failure (printed). */
lt_store_t *lt_cli_open_store(lt_config_t *c, int verbose);
/* `laotie report revenue` (cmd_revenue.c): builds the ads books of the
 * open store s with one scan of its log and appends the revenue report of
 * local days [from, to] in fmt (LT_FMT_*) to out. Returns 0 or an LT_E*
 * code. */
int lt_cli_report_revenue(lt_store_t *s, const lt_ads_opts_t *opts, int32_t from, int32_t to,
                          int fmt, lt_buf_t *out);
/* Value of an option that takes one: argv[*i + 1]; prints an error and
 * returns NULL when missing. */
const char *lt_cli_value(int argc, char **argv, int *i);

#endif
