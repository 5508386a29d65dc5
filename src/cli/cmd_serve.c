/*
 * cmd_serve.c — `laotie serve`: the store, the feed engine, a background
 * worker (periodic snapshots and retraining) and the HTTP server, with a
 * graceful shutdown on SIGINT/SIGTERM: stop accepting, finish in-flight
 * requests, flush the log, write a snapshot.
 *
 * Start-up (each stage timed on stderr: "start +T s: STAGE (S s)"): open
 * the store (newest state snapshot + the log after it), load the feed
 * engine's models, then one pass over the whole log (lt_store_scan) feeds
 * every record, decoded once, to the three things derived from it above
 * the state — the feed policies' state, the analytics and the ads books —
 * in log order; the same functions keep them live afterwards as the
 * store's observer. Then listen. The pass runs before any writer exists
 * and with no write in progress (lt_store_locked), so the observer takes
 * over exactly at the record after the last one scanned.
 *
 * The write key comes from --api-key, LAOTIE_API_KEY, the config file, or
 * else DATA/api_key (created at first start with 32 random bytes in hex,
 * mode 0600). The key itself is never printed or logged: only where it is.
 */
#include "cli/cli.h"

#include "ads/ads.h"
#include "core/clock.h"
#include "core/error.h"
#include "feed/feed.h"
#include "http/server.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct worker {
  lt_store_t *store;
  lt_feed_t *feed;
  lt_ads_t *ads;
  lt_config_t *cfg;
  pthread_t th;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int stop, train_requested, training;
} worker_t;

static void *worker_main(void *arg) {
  worker_t *w = arg;
  uint64_t last_snap = lt_mono_ns(), last_train = lt_mono_ns();
  pthread_mutex_lock(&w->lock);
  while (!w->stop) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_cond_timedwait(&w->cond, &w->lock, &ts);
    if (w->stop) break;
    uint64_t now = lt_mono_ns();
    int train = w->train_requested ||
                (w->cfg->train_every_s && now - last_train >= w->cfg->train_every_s * 1000000000ull);
    int snap = w->cfg->snapshot_every_s && now - last_snap >= w->cfg->snapshot_every_s * 1000000000ull;
    w->train_requested = 0;
    w->training = train;
    pthread_mutex_unlock(&w->lock);
    /* ads: day roll-over, expired reservations, pacing (ads/ads.h) */
    lt_ads_tick(w->ads, lt_now_ms());
    if (snap) {
      if (lt_store_dirty(w->store)) {
        int rc = lt_store_snapshot(w->store);
        if (rc) fprintf(stderr, "laotie serve: snapshot failed: %s\n", lt_strerror(rc));
      }
      last_snap = lt_mono_ns();
    }
    if (train) {
      int rc = lt_feed_train(w->feed, 0, NULL);
      if (rc) fprintf(stderr, "laotie serve: training failed: %s\n", lt_strerror(rc));
      else
        fprintf(stderr, "laotie serve: model version %llu published\n",
                (unsigned long long)lt_feed_model_version(w->feed));
      last_train = lt_mono_ns();
    }
    pthread_mutex_lock(&w->lock);
    w->training = 0;
  }
  pthread_mutex_unlock(&w->lock);
  return NULL;
}

static int request_train(void *ctx) {
  worker_t *w = ctx;
  pthread_mutex_lock(&w->lock);
  int busy = w->training || w->train_requested;
  if (!busy) {
    w->train_requested = 1;
    pthread_cond_signal(&w->cond);
  }
  pthread_mutex_unlock(&w->lock);
  return busy ? LT_EBUSY : LT_OK;
}

/* The store has one observer slot: it calls the feed (online learning)
 * then the stats and the ads books, in log order (the second stage of the
 * store's write pipeline: state/store.c). */
typedef struct observers {
  lt_feed_t *feed;
  lt_stats_t *stats;
  lt_ads_t *ads;
} observers_t;

static void prepare(void *ctx, const lt_record_t *recs, size_t n) {
  observers_t *o = ctx;
  lt_feed_prepare(o->feed, recs, n);
}

static void observe(void *ctx, const lt_record_t *recs, size_t n) {
  observers_t *o = ctx;
  lt_feed_observe(o->feed, recs, n);
  lt_stats_observe(o->stats, recs, n);
  lt_ads_observe(o->ads, recs, n);
}

/* The start-up pass (lt_store_scan, which reads and decodes on a thread
 * of its own meanwhile): the same consumers from the whole log, except
 * that the feed rebuilds only its policy state (the ranker learnt from
 * these records already and is saved with the models). */
static void replay(void *ctx, const lt_record_t *recs, size_t n) {
  observers_t *o = ctx;
  lt_feed_replay(o->feed, recs, n);
  lt_stats_observe(o->stats, recs, n);
  lt_ads_observe(o->ads, recs, n);
}

static void replay_ext(void *ctx, const void *rec, size_t len, uint64_t lsn) {
  lt_ads_ext(((observers_t *)ctx)->ads, rec, len, lsn);
}

/* Reads or creates DATA/api_key. Returns 0 or -1 (printed). */
static int ensure_api_key(lt_config_t *c) {
  if (c->api_key[0]) return 0;
  char path[600];
  snprintf(path, sizeof path, "%s/api_key", c->data_dir);
  FILE *f = fopen(path, "r");
  if (f) {
    char buf[256] = "";
    if (!fgets(buf, sizeof buf, f)) buf[0] = 0;
    fclose(f);
    buf[strcspn(buf, "\r\n")] = 0;
    if (strlen(buf) >= 16) {
      strcpy(c->api_key, buf);
      fprintf(stderr, "laotie serve: write API key read from %s\n", path);
      return 0;
    }
  }
  unsigned char raw[32];
  if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
    fprintf(stderr, "laotie serve: cannot get random bytes for an API key\n");
    return -1;
  }
  for (size_t i = 0; i < sizeof raw; i++) snprintf(c->api_key + 2 * i, 3, "%02x", raw[i]);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || write(fd, c->api_key, 64) != 64 || write(fd, "\n", 1) != 1 || fsync(fd)) {
    fprintf(stderr, "laotie serve: cannot write %s: %s\n", path, strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  close(fd);
  fprintf(stderr, "laotie serve: generated a write API key in %s (mode 0600)\n", path);
  return 0;
}

/* The start-up timeline: one stderr line per stage, with the seconds the
 * stage took and the seconds since the start (issue 9 budgets the whole). */
typedef struct timeline {
  uint64_t start, last;
} timeline_t;

static void stage(timeline_t *tl, const char *what) {
  uint64_t now = lt_mono_ns();
  fprintf(stderr, "laotie serve: start +%.2f s: %s (%.2f s)\n", (double)(now - tl->start) / 1e9,
          what, (double)(now - tl->last) / 1e9);
  tl->last = now;
}

static void serve_usage(FILE *f) {
  fprintf(f, "usage: laotie serve --data DIR [--listen HOST:PORT] [--config FILE]\n"
             "                    [--api-key KEY] [--threads N] [--fsync MODE] [--no-train]\n"
             "  serves the HTTP API (docs/openapi.yaml) until SIGINT/SIGTERM\n"
             "  --listen    address to bind (default 127.0.0.1:8080; port 0 = any free port)\n"
             "  --api-key   write/admin key (else LAOTIE_API_KEY, the config, or DATA/api_key)\n"
             "  --no-train  do not train at start when no model exists\n");
}

int lt_cmd_serve(int argc, char **argv) {
  lt_config_t cfg;
  lt_config_default(&cfg);
  if (lt_cli_config(&cfg, argc, argv)) return 2;
  int no_train = 0;
  char err[256];
  for (int i = 1; i < argc; i++) {
    int r = lt_cli_common(&cfg, argc, argv, &i);
    if (r < 0) return 2;
    if (r) continue;
    const char *key = NULL, *v;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      serve_usage(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--no-train")) {
      no_train = 1;
      continue;
    } else if (!strcmp(argv[i], "--listen")) key = "listen";
    else if (!strcmp(argv[i], "--api-key")) key = "api_key";
    else if (!strcmp(argv[i], "--read-key")) key = "read_key";
    else if (!strcmp(argv[i], "--threads")) key = "threads";
    else {
      fprintf(stderr, "laotie serve: unknown argument %s\n", argv[i]);
      serve_usage(stderr);
      return 2;
    }
    if (!(v = lt_cli_value(argc, argv, &i))) return 2;
    if (lt_config_set(&cfg, key, v, err, sizeof err)) {
      fprintf(stderr, "laotie serve: %s\n", err);
      return 2;
    }
  }
  char host[128];
  unsigned port;
  char *colon = strrchr(cfg.listen, ':');
  if (!colon || colon == cfg.listen || sscanf(colon + 1, "%u", &port) != 1 || port > 65535) {
    fprintf(stderr, "laotie serve: --listen wants HOST:PORT, got '%s'\n", cfg.listen);
    return 2;
  }
  snprintf(host, sizeof host, "%.*s", (int)(colon - cfg.listen), cfg.listen);

  /* signals are taken by sigwait in this thread; workers inherit the mask */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  /* ads: campaign records reach the engine through the store's one ext
   * callback (ads is the only owner of extension records so far) */
  timeline_t tl = {lt_mono_ns(), lt_mono_ns()};
  lt_ads_t *ads = NULL;
  lt_store_t *store = NULL;
  lt_feed_t *feed = NULL;
  lt_stats_t *stats = NULL;
  int exit_code = 1;
  int rc = lt_ads_new(&cfg.ads, &ads);
  if (rc) {
    fprintf(stderr, "laotie serve: ads: %s\n", lt_strerror(rc));
    goto out;
  }
  cfg.store.ext = lt_ads_ext;
  cfg.store.ext_ctx = ads;
  if (!(store = lt_cli_open_store(&cfg, 1))) goto out;
  stage(&tl, "store opened (state snapshot + log tail)");
  if (ensure_api_key(&cfg)) goto out;
  char mdir[600];
  snprintf(mdir, sizeof mdir, "%s/models", cfg.data_dir);
  mkdir(mdir, 0700);
  if ((rc = lt_feed_new(lt_store_state(store), &cfg.feed, mdir, &feed)) ||
      (rc = lt_stats_new(lt_store_state(store), &stats))) {
    fprintf(stderr, "laotie serve: feed engine: %s\n", lt_strerror(rc));
    goto out;
  }
  stage(&tl, "feed engine and models loaded");
  /* One pass over the whole log builds what the layers above the state
   * derive from it: the feed policies' state, the analytics and the ads
   * books (one read and one decode of each record; see replay()). */
  observers_t obs = {feed, stats, ads};
  if (!(rc = lt_ads_attach_begin(ads, store))) {
    uint64_t end = 0;
    int src = lt_store_scan(store, replay, replay_ext, &obs, &end);
    rc = lt_ads_attach_end(ads, src, end);
  }
  if (rc) {
    fprintf(stderr, "laotie serve: replaying the log: %s\n", lt_strerror(rc));
    goto out;
  }
  lt_ads_tick(ads, lt_now_ms());
  char what[160];
  snprintf(what, sizeof what,
           "log replayed once into the feed policies, analytics and ads books (%llu records, "
           "%u campaigns)",
           (unsigned long long)lt_stats_records(stats), lt_ads_campaign_count(ads));
  stage(&tl, what);
  lt_state_totals_t t;
  lt_state_totals(lt_store_state(store), &t);
  if (!lt_feed_model_version(feed) && t.events && !no_train) {
    fprintf(stderr, "laotie serve: no trained model yet: training on %llu events ...\n",
            (unsigned long long)t.events);
    rc = lt_feed_train(feed, 0, stderr);
    if (rc) fprintf(stderr, "laotie serve: training failed: %s (serving without)\n", lt_strerror(rc));
    stage(&tl, "first model trained");
  }
  lt_feed_set_ads(feed, ads);                            /* ad slots in feed pages */
  lt_stats_set_pool_fn(stats, lt_feed_stats_pool, feed); /* reports show the feed's pools */
  /* no write can come before the server starts: the observer takes over
   * exactly where the scan ended */
  lt_store_set_observer(store, observe, prepare, &obs);

  worker_t w = {.store = store, .feed = feed, .ads = ads, .cfg = &cfg};
  pthread_mutex_init(&w.lock, NULL);
  pthread_cond_init(&w.cond, NULL);
  pthread_create(&w.th, NULL, worker_main, &w);

  lt_server_opts_t so;
  lt_server_opts_default(&so);
  so.host = host;
  so.port = (uint16_t)port;
  so.threads = cfg.threads;
  so.write_threads = cfg.write_threads;
  so.api_key = cfg.api_key;
  so.read_key = cfg.read_key;
  so.max_body = cfg.max_body_bytes;
  so.max_batch = cfg.max_batch_events;
  so.rate_limit_per_s = cfg.rate_limit_per_s;
  so.recover_backoff_ms = cfg.recover_backoff_ms;
  so.train = request_train;
  so.train_ctx = &w;
  so.stats = stats;
  so.ads = ads;
  lt_server_t *srv = NULL;
  rc = lt_server_start(store, feed, &so, &srv);
  exit_code = 0;
  if (rc) {
    fprintf(stderr, "laotie serve: cannot listen on %s: %s\n", cfg.listen, lt_strerror(rc));
    exit_code = 1;
  } else {
    stage(&tl, "listening");
    printf("laotie serving %s on http://%s:%u (model version %llu, %llu events)\n", cfg.data_dir,
           host, lt_server_port(srv), (unsigned long long)lt_feed_model_version(feed),
           (unsigned long long)t.events);
    printf("  feed:      curl 'http://%s:%u/v1/feed?user=1&n=10'\n", host, lt_server_port(srv));
    printf("  similar:   curl 'http://%s:%u/v1/items/50/similar?n=5'\n", host, lt_server_port(srv));
    printf("  events:    curl -H \"Authorization: Bearer $(cat %s/api_key)\" -d "
           "'{\"user\":\"1\",\"item\":\"50\",\"type\":\"play\",\"watch_ms\":8000}' "
           "http://%s:%u/v1/events\n",
           cfg.data_dir, host, lt_server_port(srv));
    printf("  dashboard: http://%s:%u/   metrics: http://%s:%u/metrics\n", host,
           lt_server_port(srv), host, lt_server_port(srv));
    printf("stop with Ctrl-C (SIGINT) or SIGTERM\n");
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "laotie serve: %s: stopping (finishing in-flight requests)\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
  }
  lt_server_stop(srv);
  pthread_mutex_lock(&w.lock);
  w.stop = 1;
  pthread_cond_signal(&w.cond);
  pthread_mutex_unlock(&w.lock);
  pthread_join(w.th, NULL);
  rc = lt_store_close(store, 1);
  store = NULL;
  if (rc) {
    fprintf(stderr, "laotie serve: closing the store: %s\n", lt_strerror(rc));
    exit_code = 1;
  } else {
    fprintf(stderr, "laotie serve: log flushed, snapshot written; bye\n");
  }
  pthread_mutex_destroy(&w.lock);
  pthread_cond_destroy(&w.cond);
out:
  lt_store_close(store, 0);
  lt_feed_free(feed);
  lt_stats_free(stats);
  lt_ads_free(ads);
  return exit_code;
}
