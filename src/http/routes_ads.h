/*
 * routes_ads.h — the handlers of the ads and revenue routes (http module
 * only; the route table in routes.c lists them). Each answers 503 when the
 * server runs without an ads engine (lt_server_opts_t.ads == NULL).
 *
 *   POST /v1/campaigns                  create (body: docs/ads.md)   AUTH_WRITE  201
 *   GET  /v1/campaigns                  ?advertiser=                 AUTH_READ
 *   GET  /v1/campaigns/{id}                                          AUTH_READ
 *   PUT  /v1/campaigns/{id}             change the fields given      AUTH_WRITE
 *   POST /v1/campaigns/{id}/pause                                    AUTH_WRITE
 *   POST /v1/campaigns/{id}/resume                                   AUTH_WRITE
 *   GET  /v1/campaigns/{id}/report      ?from=&to=&format=json|csv   AUTH_READ
 *   GET  /v1/stats/revenue              ?from=&to=&format=json|csv   AUTH_READ
 *                                       or ?by=creator|room|item&n=  (JSON)
 * Errors: 400 invalid / bad_json (what is wrong with the body), 404 no
 * such campaign, 409 an id or creative already taken, 503 the log cannot
 * take writes or ads are off.
 */
#ifndef LT_HTTP_ROUTES_ADS_H
#define LT_HTTP_ROUTES_ADS_H

#include "ads/ads.h"
#include "http/http_int.h"

/* The server's ads engine (opts.ads) or NULL. Defined in routes.c. */
lt_ads_t *lt__srv_ads(const lt_server_t *s);

void lt__h_campaigns_post(lt__req_t *r);
void lt__h_campaigns_list(lt__req_t *r);
void lt__h_campaign_get(lt__req_t *r);
void lt__h_campaign_put(lt__req_t *r);
void lt__h_campaign_pause(lt__req_t *r);
void lt__h_campaign_resume(lt__req_t *r);
void lt__h_campaign_report(lt__req_t *r);
void lt__h_stats_revenue(lt__req_t *r);

#endif
