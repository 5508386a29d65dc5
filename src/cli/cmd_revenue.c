/*
 * cmd_revenue.c — `laotie report revenue`: the platform's revenue lines per
 * day (online marketing services = ad spend, of which AIGC creatives; live
 * streaming = gifts on live rooms; other = other gifts + e-commerce
 * commission) and e-commerce GMV, as a table, CSV or JSON — the bytes of
 * GET /v1/stats/revenue.
 *
 * `laotie report` (cmd_report.c) parses the options and opens the store
 * read-only; for KIND = revenue it calls lt_cli_report_revenue, which
 * builds the books with one scan of the log (ads/ads.h) — the same books a
 * running server keeps, since they are a pure function of the log.
 */
#include "cli/cli.h"

#include "ads/ads.h"
#include "core/error.h"

#include <stdio.h>

int lt_cli_report_revenue(lt_store_t *s, const lt_ads_opts_t *opts, int32_t from, int32_t to,
                          int fmt, lt_buf_t *out);

int lt_cli_report_revenue(lt_store_t *s, const lt_ads_opts_t *opts, int32_t from, int32_t to,
                          int fmt, lt_buf_t *out) {
  lt_ads_t *a = NULL;
  lt_ads_revenue_t r = {0};
  int rc = lt_ads_new(opts, &a);
  if (!rc) rc = lt_ads_attach(a, s);
  if (!rc) rc = lt_ads_revenue(a, from, to, &r);
  if (!rc) rc = lt_ads_revenue_write(&r, lt_state_tz(lt_store_state(s))->name, fmt, out);
  lt_ads_revenue_free(&r);
  lt_ads_free(a);
  return rc;
}
