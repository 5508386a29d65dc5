/*
 * routes_stats.h — the handlers of the analytics routes and the dashboard
 * (http module only; the route table in routes.c lists them).
 *
 * Each reads the state and the server's lt_stats_t (opts.stats; routes
 * that need it answer 503 when it is NULL) and answers through r->out:
 *   GET /                           the dashboard (HTML, inline SVG)   AUTH_NONE*
 *   GET /v1/reports/watch-time      ?date=&group=&min_minutes=&format= AUTH_READ
 *   GET /v1/stats/platform          ?from=&to=&format=json|csv         AUTH_READ
 *   GET /v1/stats/ecosystem         ?from=&to=&format=json|csv         AUTH_READ
 *   GET /v1/stats/creators/{id}     ?from=&to=                         AUTH_READ
 *   GET /v1/stats/items/{id}                                           AUTH_READ
 *   GET /v1/stats/top               ?from=&to=&n=&by=                  AUTH_READ
 * (*) the dashboard checks the read key itself when one is configured,
 * accepting it as a Bearer token or as the password of HTTP Basic auth
 * (so a browser can log in); it never shows any key.
 */
#ifndef LT_HTTP_ROUTES_STATS_H
#define LT_HTTP_ROUTES_STATS_H

#include "http/http_int.h"

void lt__h_dashboard(lt__req_t *r);
void lt__h_report_watch_time(lt__req_t *r);
void lt__h_stats_platform(lt__req_t *r);
void lt__h_stats_ecosystem(lt__req_t *r);
void lt__h_stats_creator(lt__req_t *r);
void lt__h_stats_item(lt__req_t *r);
void lt__h_stats_top(lt__req_t *r);

#endif
