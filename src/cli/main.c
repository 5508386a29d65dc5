/*
 * main.c — the laotie binary: dispatches to subcommands (cli.h) and holds
 * the options every command shares.
 */
#include "cli/cli.h"

#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const struct {
  const char *name;
  int (*fn)(int, char **);
  const char *help;
} commands[] = {
    {"import", lt_cmd_import, "import events: kuairec | movielens | csv | ndjson | users FILE"},
    {"stats", lt_cmd_stats, "users, items, creators, events, days covered, log size"},
    {"serve", lt_cmd_serve, "serve the HTTP API (feeds, events, catalog, metrics)"},
    {"report", lt_cmd_report, "reports: watch-time | platform | ecosystem | revenue (table, CSV, JSON)"},
    {"train", lt_cmd_train, "one training pass (iALS, co-watch, ANN), time per stage"},
    {"recommend", lt_cmd_recommend, "top-N items for users: user<TAB>item<TAB>rank<TAB>score"},
    {"eval", lt_cmd_eval, "offline evaluation: Recall@20 / NDCG@20 against baselines"},
    {"simulate", lt_cmd_simulate, "closed-loop simulation of distribution policies, per day"},
};

static void usage(FILE *f) {
  fprintf(f,
          "laotie — a short-video distribution engine\n\n"
          "usage: laotie COMMAND [options]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
  fprintf(f,
          "\ncommon options:\n"
          "  --data DIR        data directory (default ./data)\n"
          "  --config FILE     config file (key = value lines; see docs/config.md)\n"
          "  --fsync MODE      batch | interval:MS | off\n"
          "  --timezone TZ     time zone of report days (default Asia/Shanghai)\n"
          "  --repair          cut a log corrupted in the middle (quarantining the rest)\n"
          "\n`laotie COMMAND --help` shows a command's own options.\n");
}

const char *lt_cli_value(int argc, char **argv, int *i) {
  if (*i + 1 >= argc) {
    fprintf(stderr, "laotie: %s needs a value\n", argv[*i]);
    return NULL;
  }
  return argv[++*i];
}

int lt_cli_config(lt_config_t *c, int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--config")) {
      char err[512];
      if (i + 1 >= argc) {
        fprintf(stderr, "laotie: --config needs a file\n");
        return -1;
      }
      if (lt_config_load(c, argv[i + 1], err, sizeof err)) {
        fprintf(stderr, "laotie: %s\n", err);
        return -1;
      }
    }
  const char *env = getenv("LAOTIE_API_KEY");
  if (env && *env && strlen(env) < sizeof c->api_key) strcpy(c->api_key, env);
  return 0;
}

int lt_cli_common(lt_config_t *c, int argc, char **argv, int *i) {
  const char *a = argv[*i], *v;
  char err[256];
  const char *key = NULL;
  if (!strcmp(a, "--data")) key = "data";
  else if (!strcmp(a, "--fsync")) key = "fsync";
  else if (!strcmp(a, "--timezone")) key = "timezone";
  else if (!strcmp(a, "--config")) {
    (*i)++; /* loaded by lt_cli_config */
    return 1;
  } else if (!strcmp(a, "--repair")) {
    c->store.log.repair = 1;
    return 1;
  } else return 0;
  if (!(v = lt_cli_value(argc, argv, i))) return -1;
  if (lt_config_set(c, key, v, err, sizeof err)) {
    fprintf(stderr, "laotie: %s\n", err);
    return -1;
  }
  return 1;
}

lt_store_t *lt_cli_open_store(lt_config_t *c, int verbose) {
  char err[256];
  if (lt_config_store_opts(c, err, sizeof err)) {
    fprintf(stderr, "laotie: %s\n", err);
    return NULL;
  }
  lt_store_t *s;
  lt_store_report_t rep;
  int rc = lt_store_open(c->data_dir, &c->store, &s, &rep);
  if (rc) {
    fprintf(stderr, "laotie: cannot open %s: %s\n  %s\n", c->data_dir, lt_strerror(rc),
            rep.message);
    if (rc == LT_ECORRUPT)
      fprintf(stderr, "  the log is damaged in the middle; --repair cuts it there and moves the "
                      "rest to %s/log/quarantine/\n",
              c->data_dir);
    return NULL;
  }
  if (verbose || rep.log.cut_bytes || rep.snapshots_rejected || rep.log.quarantined)
    fprintf(stderr, "laotie: opened %s: %s\n", c->data_dir, rep.message);
  return s;
}

int main(int argc, char **argv) {
  /* everything laotie creates (log, snapshots, models, keys) is private to
   * its user, whatever umask it was started with: files 0600, dirs 0700 */
  umask(077);
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
      !strcmp(argv[1], "help")) {
    if (argc >= 3) /* laotie help CMD */
      for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[2], commands[i].name)) {
          char *av[] = {argv[2], "--help", NULL};
          return commands[i].fn(2, av);
        }
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("laotie 0.1\n");
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "laotie: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
