/*
 * cmd_simulate.c — `laotie simulate`: the closed-loop simulator
 * (eval/simulate.h) comparing distribution policies side by side on a
 * synthetic platform, in process or against a running server (--url).
 */
#include "cli/cli.h"

#include "core/error.h"
#include "eval/simulate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void simulate_usage(FILE *f) {
  fprintf(f, "usage: laotie simulate [--days 30] [--users 5000] [--items 10000] [--seed 1]\n"
             "                       [--policy all|random|popularity|laotie|laotie-nopools]\n"
             "                       [--url http://127.0.0.1:PORT --api-key KEY] [--json]\n"
             "  a synthetic short-video platform (users, creators with power-law sizes, new\n"
             "  creators daily, AIGC, live rooms; KuaiRec-like durations and watch ratios)\n"
             "  served by each policy for N simulated days; per day: watch minutes per\n"
             "  active user, completion rate, creator Gini, young-creator share, new items\n"
             "  reaching pool 2, AIGC share, users who stopped returning\n"
             "  --creators N       creators at the start (default items / 8)\n"
             "  --new-items N      items published a day (default items / 80)\n"
             "  --new-creators N   creators joining a day (default 20)\n"
             "  --page N           items per feed request (default 10)\n"
             "  --threads N        policies simulated at once (default 2)\n"
             "  --pool-quota N     pool 0 quota for the laotie policies (default 20)\n"
             "  --pool-growth N    quota growth per pool (default 5)\n"
             "  --explore MODE     egreedy | thompson (default egreedy)\n"
             "  --fair-target X    creator Gini target (default 0.6)\n"
             "  --set KEY=VALUE    any feed option of the config file (docs/policies.md),\n"
             "                     for the laotie policies; repeatable\n"
             "  --keep DIR         keep each run's data directory as DIR/<policy> (then\n"
             "                     e.g. laotie eval --snips --data DIR/laotie)\n"
             "  --url URL          run against a laotie server (its own policy) over HTTP;\n"
             "                     the key comes from --api-key or LAOTIE_API_KEY\n"
             "  --json             one JSON object instead of tables\n"
             "  --quiet            no progress lines\n"
             "  --verbose          also the time of each training stage\n");
}

static int num(const char *opt, const char *v, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double x = strtod(v, &end);
  if (!*v || *end || errno || x < lo || x > hi) {
    fprintf(stderr, "laotie simulate: %s wants a number in [%g, %g], got '%s'\n", opt, lo, hi, v);
    return -1;
  }
  *out = x;
  return 0;
}

int lt_cmd_simulate(int argc, char **argv) {
  lt_sim_opts_t o;
  lt_sim_opts_default(&o);
  int json = 0, quiet = 0;
  const char *env = getenv("LAOTIE_API_KEY");
  if (env && *env) o.api_key = env;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    double x;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      simulate_usage(stdout);
      return 0;
    } else if (!strcmp(a, "--json")) {
      json = 1;
      continue;
    } else if (!strcmp(a, "--quiet")) {
      quiet = 1;
      continue;
    } else if (!strcmp(a, "--verbose")) {
      o.verbose = 1;
      continue;
    }
    if (strncmp(a, "--", 2) || !(v = lt_cli_value(argc, argv, &i))) {
      if (strncmp(a, "--", 2)) fprintf(stderr, "laotie simulate: unknown argument %s\n", a);
      simulate_usage(stderr);
      return 2;
    }
    if (!strcmp(a, "--days")) {
      if (num(a, v, 1, 3650, &x)) return 2;
      o.days = (uint32_t)x;
    } else if (!strcmp(a, "--users")) {
      if (num(a, v, 1, 1e7, &x)) return 2;
      o.users = (uint32_t)x;
    } else if (!strcmp(a, "--items")) {
      if (num(a, v, 1, 1e7, &x)) return 2;
      o.items = (uint32_t)x;
    } else if (!strcmp(a, "--creators")) {
      if (num(a, v, 1, 1e7, &x)) return 2;
      o.creators = (uint32_t)x;
    } else if (!strcmp(a, "--new-items")) {
      if (num(a, v, 1, 1e6, &x)) return 2;
      o.new_items = (uint32_t)x;
    } else if (!strcmp(a, "--new-creators")) {
      if (num(a, v, 0, 1e6, &x)) return 2;
      o.new_creators = (uint32_t)x;
    } else if (!strcmp(a, "--page")) {
      if (num(a, v, 1, LT_FEED_MAX, &x)) return 2;
      o.page = (uint32_t)x;
    } else if (!strcmp(a, "--seed")) {
      if (num(a, v, 0, 1e18, &x)) return 2;
      o.seed = (uint64_t)x;
    } else if (!strcmp(a, "--threads")) {
      if (num(a, v, 1, 64, &x)) return 2;
      o.threads = (uint32_t)x;
    } else if (!strcmp(a, "--pool-quota")) {
      if (num(a, v, 1, 1e9, &x)) return 2;
      o.feed.pool_quota = (uint32_t)x;
      o.feed.explore_max_impressions = (uint32_t)x;
    } else if (!strcmp(a, "--pool-growth")) {
      if (num(a, v, 1, 1000, &x)) return 2;
      o.feed.pool_growth = (uint32_t)x;
    } else if (!strcmp(a, "--fair-target")) {
      if (num(a, v, 0.01, 1, &x)) return 2;
      o.feed.fair_target = (float)x;
    } else if (!strcmp(a, "--explore")) {
      if (!strcmp(v, "egreedy"))
        o.feed.explore_mode = LT_EXPLORE_EGREEDY;
      else if (!strcmp(v, "thompson"))
        o.feed.explore_mode = LT_EXPLORE_THOMPSON;
      else {
        fprintf(stderr, "laotie simulate: --explore wants egreedy or thompson\n");
        return 2;
      }
    } else if (!strcmp(a, "--policy")) {
      if (lt_sim_policy_parse(v, &o.policies)) {
        fprintf(stderr,
                "laotie simulate: --policy wants all, random, popularity, laotie or "
                "laotie-nopools, got '%s'\n",
                v);
        return 2;
      }
    } else if (!strcmp(a, "--set")) {
      char key[64], err[256];
      const char *eq = strchr(v, '=');
      if (!eq || eq == v || (size_t)(eq - v) >= sizeof key) {
        fprintf(stderr, "laotie simulate: --set wants KEY=VALUE, got '%s'\n", v);
        return 2;
      }
      snprintf(key, sizeof key, "%.*s", (int)(eq - v), v);
      if (lt_feed_opts_set(&o.feed, key, eq + 1, err, sizeof err)) {
        fprintf(stderr, "laotie simulate: --set %s\n", err);
        return 2;
      }
    } else if (!strcmp(a, "--keep")) {
      o.keep_dir = v;
    } else if (!strcmp(a, "--url")) {
      o.url = v;
    } else if (!strcmp(a, "--api-key")) {
      o.api_key = v;
    } else {
      fprintf(stderr, "laotie simulate: unknown argument %s\n", a);
      simulate_usage(stderr);
      return 2;
    }
  }
  if (o.url && strncmp(o.url, "http://", 7)) {
    fprintf(stderr, "laotie simulate: --url wants http://HOST:PORT\n");
    return 2;
  }
  o.log = quiet ? NULL : stderr;
  lt_sim_report_t *rep = calloc(1, sizeof *rep);
  if (!rep) return 1;
  int rc = lt_sim_run(&o, rep);
  int failed = rc != 0;
  if (rc) {
    fprintf(stderr, "laotie simulate: %s\n", lt_strerror(rc));
  } else {
    for (uint32_t k = 0; k < rep->nruns; k++)
      if (rep->runs[k].error) {
        fprintf(stderr, "laotie simulate: %s stopped on day %u: %s\n",
                lt_sim_policy_name(rep->runs[k].policy), rep->runs[k].ndays,
                lt_strerror(rep->runs[k].error));
        failed = 1;
      }
    if (json)
      lt_sim_print_json(stdout, rep);
    else
      lt_sim_print_table(stdout, rep);
  }
  lt_sim_report_free(rep);
  free(rep);
  return failed ? 1 : 0;
}
