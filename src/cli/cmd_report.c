/*
 * cmd_report.c — `laotie report`: the daily reports from a data directory,
 * printed as a table, CSV or JSON (the JSON and CSV are the API's bytes).
 *
 *   laotie report watch-time --data D [--date YYYY-MM-DD] [--group G]
 *                            [--min-minutes 60] [--format table|csv|json]
 *   laotie report platform   --data D [--from DAY] [--to DAY] [--format ...]
 *   laotie report ecosystem  --data D [--from DAY] [--to DAY] [--format ...]
 *   laotie report revenue    --data D [--from DAY] [--to DAY] [--format ...]
 *
 * The store is opened read-only (it works beside a running server and
 * changes nothing on disk); the ecosystem report also scans the log once
 * to build the stats (stats/stats.h). Exit codes: 0 ok, 1 failure (no
 * data directory, unknown group, ...), 2 usage.
 */
#include "cli/cli.h"

#include "core/clock.h"
#include "core/error.h"
#include "stats/stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void report_usage(FILE *f) {
  fprintf(f, "usage: laotie report KIND --data DIR [options]\n"
             "  watch-time  minutes watched and plays per user on one local day, and whether\n"
             "              a daily minimum was met (members with no activity listed at 0)\n"
             "      --date YYYY-MM-DD   the day (default today in the time zone)\n"
             "      --group G           members of group G (default: users active that day)\n"
             "      --min-minutes M     the minimum (default 60; met when >= M)\n"
             "  platform    DAU, MAU, new users, watch minutes per DAU, watch hours,\n"
             "              impressions, plays, completion rate, likes per 1k, gifts, GMV\n"
             "  ecosystem   creator Gini, young-creator share, AIGC share per day\n"
             "  revenue     revenue lines per day: online marketing (ad spend, of which AIGC\n"
             "              creatives), live streaming (gifts), other; e-commerce GMV\n"
             "      --from / --to YYYY-MM-DD   the days (default the last 30 days with data)\n"
             "  common: --format table|csv|json (default table), --timezone TZ, --config FILE\n");
}

int lt_cmd_report(int argc, char **argv) {
  lt_config_t cfg;
  lt_config_default(&cfg);
  if (lt_cli_config(&cfg, argc, argv)) return 2;
  const char *kind = NULL, *date = NULL, *group = NULL, *from = NULL, *to = NULL;
  double min = 60;
  int fmt = LT_FMT_TABLE;
  for (int i = 1; i < argc; i++) {
    int rc = lt_cli_common(&cfg, argc, argv, &i);
    if (rc < 0) return 2;
    if (rc) continue;
    const char *a = argv[i], *v = NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      report_usage(stdout);
      return 0;
    }
    int takes = !strcmp(a, "--date") || !strcmp(a, "--group") || !strcmp(a, "--min-minutes") ||
                !strcmp(a, "--from") || !strcmp(a, "--to") || !strcmp(a, "--format");
    if (takes && !(v = lt_cli_value(argc, argv, &i))) return 2;
    if (!strcmp(a, "--date"))
      date = v;
    else if (!strcmp(a, "--group"))
      group = v;
    else if (!strcmp(a, "--from"))
      from = v;
    else if (!strcmp(a, "--to"))
      to = v;
    else if (!strcmp(a, "--min-minutes")) {
      char *end;
      min = strtod(v, &end);
      if (*end || !*v || !isfinite(min) || min < 0 || min > 1440) {
        fprintf(stderr, "laotie report: --min-minutes wants a number in [0, 1440], got '%s'\n", v);
        return 2;
      }
    } else if (!strcmp(a, "--format")) {
      if (lt_stats_fmt_parse(v, &fmt)) {
        fprintf(stderr, "laotie report: --format is table, csv or json, not '%s'\n", v);
        return 2;
      }
    } else if (a[0] == '-' && a[1]) {
      fprintf(stderr, "laotie report: unknown option %s\n", a);
      report_usage(stderr);
      return 2;
    } else if (!kind)
      kind = a;
    else {
      fprintf(stderr, "laotie report: unexpected argument %s\n", a);
      return 2;
    }
  }
  int wt = kind && !strcmp(kind, "watch-time"), plat = kind && !strcmp(kind, "platform"),
      eco = kind && !strcmp(kind, "ecosystem"), rev = kind && !strcmp(kind, "revenue");
  if (!wt && !plat && !eco && !rev) {
    if (kind) fprintf(stderr, "laotie report: unknown report '%s'\n", kind);
    report_usage(stderr);
    return 2;
  }
  int32_t day = 0;
  if (date && lt_day_parse(date, &day)) {
    fprintf(stderr, "laotie report: --date wants YYYY-MM-DD, got '%s'\n", date);
    return 2;
  }
  if (access(cfg.data_dir, F_OK)) {
    fprintf(stderr, "laotie report: no data directory %s\n", cfg.data_dir);
    return 1;
  }
  cfg.store.log.read_only = 1; /* works beside a running server */
  lt_store_t *s = lt_cli_open_store(&cfg, 0);
  if (!s) return 1;
  lt_state_t *st = lt_store_state(s);
  const char *tz = lt_state_tz(st)->name;
  lt_buf_t out;
  lt_buf_init(&out);
  int exit_code = 0, rc = 0;
  if (wt) {
    if (!date) day = lt_tz_day(lt_state_tz(st), lt_now_ms() / 1000);
    lt_stats_wt_t r;
    rc = lt_stats_watch_time(st, day, group, min, &r);
    if (rc == LT_ENOTFOUND) {
      fprintf(stderr, "laotie report: no user has ever been in group '%s'\n", group);
      exit_code = 1;
    } else if (!rc) {
      rc = lt_stats_wt_write(&r, fmt, &out);
      lt_stats_wt_free(&r);
    }
  } else {
    int32_t f, t;
    const char *why = NULL;
    if ((rc = lt_stats_range(st, from, to, 30, &f, &t, &why))) {
      fprintf(stderr, "laotie report: %s\n", why ? why : lt_strerror(rc));
      lt_store_close(s, 0);
      return 2;
    }
    if (rev) {
      rc = lt_cli_report_revenue(s, &cfg.ads, f, t, fmt, &out);
    } else if (plat) {
      lt_stats_platform_t p;
      if (!(rc = lt_stats_platform(st, f, t, &p))) rc = lt_stats_platform_write(&p, tz, fmt, &out);
      lt_stats_platform_free(&p);
    } else {
      lt_stats_t *stats = NULL;
      lt_stats_eco_t e;
      if (!(rc = lt_stats_open(s, &stats)) && !(rc = lt_stats_ecosystem(stats, f, t, &e))) {
        rc = lt_stats_eco_write(&e, tz, fmt, &out);
        lt_stats_eco_free(&e);
      }
      lt_stats_free(stats);
    }
  }
  if (rc && !exit_code) {
    fprintf(stderr, "laotie report: %s\n", lt_strerror(rc));
    exit_code = 1;
  }
  if (!exit_code && out.len && fwrite(out.p, 1, out.len, stdout) != out.len) exit_code = 1;
  lt_buf_free(&out);
  lt_store_close(s, 0);
  return exit_code;
}
