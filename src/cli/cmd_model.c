/*
 * cmd_model.c — `laotie train` and `laotie recommend`: the same learner and
 * feed pipeline the server runs, from the command line.
 *
 * Models live in DATA/models (written by lt_feed_train). `recommend` loads
 * the newest; when the store has none it trains one first, so `import`
 * followed by `recommend` just works.
 */
#include "cli/cli.h"

#include "core/clock.h"
#include "core/error.h"
#include "feed/feed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Opens the store (writable: training writes models, not the log) and a
 * feed engine over it. */
static int open_engine(lt_config_t *cfg, lt_store_t **store, lt_feed_t **feed) {
  cfg->store.log.read_only = 1;
  *store = lt_cli_open_store(cfg, 0);
  if (!*store) return 1;
  char mdir[600];
  snprintf(mdir, sizeof mdir, "%s/models", cfg->data_dir);
  mkdir(mdir, 0700);
  int rc = lt_feed_new(lt_store_state(*store), &cfg->feed, mdir, feed);
  if (rc) {
    fprintf(stderr, "laotie: feed engine: %s\n", lt_strerror(rc));
    lt_store_close(*store, 0);
    return 1;
  }
  return 0;
}

int lt_cmd_train(int argc, char **argv) {
  lt_config_t cfg;
  lt_config_default(&cfg);
  if (lt_cli_config(&cfg, argc, argv)) return 2;
  for (int i = 1; i < argc; i++) {
    int r = lt_cli_common(&cfg, argc, argv, &i);
    if (r < 0) return 2;
    if (r) continue;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: laotie train --data DIR\n"
             "  one training pass over the store (iALS, co-watch similarity, ANN index),\n"
             "  printing the time of each stage; the model is saved in DIR/models\n");
      return 0;
    }
    fprintf(stderr, "laotie train: unknown argument %s\n", argv[i]);
    return 2;
  }
  lt_store_t *store;
  lt_feed_t *feed;
  if (open_engine(&cfg, &store, &feed)) return 1;
  uint64_t t0 = lt_mono_ns();
  int rc = lt_feed_train(feed, 0, stdout);
  if (rc) fprintf(stderr, "laotie train: %s\n", lt_strerror(rc));
  else
    printf("model version %llu trained in %.2f s\n", (unsigned long long)lt_feed_model_version(feed),
           (double)(lt_mono_ns() - t0) / 1e9);
  lt_feed_free(feed);
  lt_store_close(store, 0);
  return rc ? 1 : 0;
}

static int recommend_one(lt_feed_t *feed, lt_state_t *st, const char *user, uint32_t n,
                         int64_t now, lt_feed_result_t *res) {
  int rc = lt_feed_get(feed, user, strlen(user), n, now, res);
  if (rc) {
    fprintf(stderr, "laotie recommend: %s: %s\n", user, lt_strerror(rc));
    return rc;
  }
  for (uint32_t i = 0; i < res->n; i++)
    printf("%s\t%s\t%u\t%.6f\n", user, lt_state_name(st, LT_NS_ITEM, res->items[i].item), i + 1,
           res->items[i].score);
  return 0;
}

int lt_cmd_recommend(int argc, char **argv) {
  lt_config_t cfg;
  lt_config_default(&cfg);
  if (lt_cli_config(&cfg, argc, argv)) return 2;
  const char *user = NULL, *users = NULL, *v;
  uint32_t n = 10;
  int reasons = 0;
  for (int i = 1; i < argc; i++) {
    int r = lt_cli_common(&cfg, argc, argv, &i);
    if (r < 0) return 2;
    if (r) continue;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("usage: laotie recommend --data DIR (--user U | --users FILE) [--n N] [--reasons]\n"
             "  prints user<TAB>item<TAB>rank<TAB>score lines; items the user already\n"
             "  interacted with are excluded. FILE has one user id per line. Trains a\n"
             "  model first when the store has none.\n"
             "  --reasons  add a fifth column: source and reason\n");
      return 0;
    } else if (!strcmp(argv[i], "--user")) {
      if (!(user = lt_cli_value(argc, argv, &i))) return 2;
    } else if (!strcmp(argv[i], "--users")) {
      if (!(users = lt_cli_value(argc, argv, &i))) return 2;
    } else if (!strcmp(argv[i], "--n")) {
      if (!(v = lt_cli_value(argc, argv, &i))) return 2;
      char *end;
      unsigned long x = strtoul(v, &end, 10);
      if (*end || x < 1 || x > LT_FEED_MAX) {
        fprintf(stderr, "laotie recommend: --n must be 1..%d\n", LT_FEED_MAX);
        return 2;
      }
      n = (uint32_t)x;
    } else if (!strcmp(argv[i], "--reasons")) reasons = 1;
    else {
      fprintf(stderr, "laotie recommend: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  if (!user == !users) {
    fprintf(stderr, "laotie recommend: give exactly one of --user U or --users FILE\n");
    return 2;
  }
  FILE *uf = NULL;
  if (users && !(uf = fopen(users, "r"))) {
    fprintf(stderr, "laotie recommend: cannot read %s\n", users);
    return 1;
  }
  lt_store_t *store;
  lt_feed_t *feed;
  if (open_engine(&cfg, &store, &feed)) {
    if (uf) fclose(uf);
    return 1;
  }
  int rc = 0;
  if (!lt_feed_model_version(feed)) {
    fprintf(stderr, "laotie recommend: no trained model yet: training ...\n");
    rc = lt_feed_train(feed, 0, stderr);
    if (rc) fprintf(stderr, "laotie recommend: training failed: %s\n", lt_strerror(rc));
  }
  lt_feed_result_t *res = malloc(sizeof *res);
  lt_state_t *st = lt_store_state(store);
  /* "now" for a dataset is its last event, so time decay means something */
  lt_state_totals_t t;
  lt_state_totals(st, &t);
  int64_t now = t.max_ts_ms ? t.max_ts_ms : lt_now_ms();
  if (!res) rc = LT_ENOMEM;
  if (!rc && user) {
    rc = recommend_one(feed, st, user, n, now, res);
    if (!rc && reasons)
      for (uint32_t i = 0; i < res->n; i++)
        fprintf(stderr, "  %u. %s [%s] %s\n", i + 1, lt_state_name(st, LT_NS_ITEM, res->items[i].item),
                lt_feed_source_name(res->items[i].source), res->items[i].reason);
  } else if (!rc) {
    char line[512];
    unsigned long lineno = 0;
    while (fgets(line, sizeof line, uf)) {
      lineno++;
      line[strcspn(line, "\r\n")] = 0;
      if (!line[0]) continue;
      if (recommend_one(feed, st, line, n, now, res)) {
        fprintf(stderr, "laotie recommend: %s line %lu skipped\n", users, lineno);
        rc = 0;
      }
    }
  }
  free(res);
  if (uf) fclose(uf);
  lt_feed_free(feed);
  lt_store_close(store, 0);
  return rc ? 1 : 0;
}
