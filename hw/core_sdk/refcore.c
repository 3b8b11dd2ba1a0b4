/* refcore.c: the reference C core. A small, single-threaded peer that speaks colo-ops protocol v1
 * (docs/protocol.md) over libzmq with CURVE, built on the generated colo_ops_protocol.h, so the C core
 * team has working code for every wire detail and colo-ops has a non-Python peer to test against.
 *
 *   make refcore            ->  var/build/refcore        (cc -std=c11 -O2 -Wall -Werror)
 *   make refcore-asan       ->  var/build/refcore-asan   (-fsanitize=address,undefined -g)
 *   var/build/refcore --keys DIR [--node primary] [--state-dir DIR] [--control EP] [--telemetry EP]
 *                     [--dropcopy EP] [--rewind EP] [--flow-interval-ms 50] [--flow-batch 1] [--max-events N]
 *                     [--assume-active] [--verbose]
 *
 * Endpoints default to tcp://127.0.0.1:<COLO_DEFAULT_PORT_*>; "tcp://127.0.0.1:*" binds a free port. Once
 * every socket is bound the core prints one JSON line on stdout ({"ready": true, "pid", "node", "epoch",
 * "endpoints": {...}}) and logs only to stderr after that. SIGTERM/SIGINT stop it cleanly (exit 0).
 *
 * WHAT IT IMPLEMENTS (each as docs/protocol.md and the Python twin, hw/twin/, do it)
 * - CURVE server on all four sockets with the core keypair from <keys>/core.key_secret (ZPL certificate,
 *   the format core_bridge/auth.py writes; the public key is checked against the secret).
 * - ZAP (inproc://zeromq.zap.01, bound before any server socket, served in the main loop): a client key
 *   listed in <keys>/roles.json is accepted with User-Id = its z85 public key (pyzmq's convention, which the
 *   twin relies on); any other key is refused ("400") and counted in auth_failures. Each control and rewind
 *   message's role is looked up from its User-Id property, never from the request.
 * - control ROUTER: envelope validation in the protocol's order (MSG_MALFORMED, MSG_UNKNOWN_COMMAND,
 *   MSG_VERSION_UNSUPPORTED, AUTH_ROLE_DENIED before any state change, idempotency, MSG_EXPIRED, arguments),
 *   and the commands hello (the version is negotiated by `v`: anything but 1 is refused), status, set_kill
 *   (per scope; levels are set, never toggled; ACTIVE removes an entry; the firm scope clears
 *   state_unknown; KILL_STATE_CHANGED only when the level changed) and cancel_all (cancels the synthetic
 *   working orders in scope with ORDER_CANCEL_REQUESTED + ORDER_CANCELLED, CANCEL_CANCEL_ALL,
 *   FROM_CANCEL_ALL). Events are sequenced and published before the reply is sent.
 * - idempotency: the last 1,024 applied ids (LRU) with their command, arguments, reply, operator and reason;
 *   a repeat of an applied id gets the original reply byte for byte (also after expires_ns); the same id
 *   with another command, or with other arguments, is refused MSG_ARGS_INVALID. Refusals are not kept.
 * - telemetry PUB: hb every 100 ms, health and pos every second, with the fields of docs/protocol.md §9.
 * - drop-copy PUB: [b"dc", colo_batch_header_t, colo_event_t x n]. Besides the control events, a synthetic
 *   order flow (--flow-batch orders every --flow-interval-ms on account REF01, published together) goes
 *   through a kill-level check: each order is ORDER_REJECTED (KILL_STATE_UNKNOWN, KILL_HALTED,
 *   KILL_CANCEL_ONLY, KILL_REDUCE_ONLY) or becomes ORDER_NEW, ORDER_ROUTED, ORDER_ACKED and rests; the oldest
 *   of more than three resting orders fills (ORDER_FILLED).
 * - rewind ROUTER: any range of the current epoch that was published, in chunks of COLO_REWIND_CHUNK with the
 *   REPLAY flag set, then the end frame; REWIND_OUT_OF_RANGE, REWIND_EPOCH_UNKNOWN, MSG_MALFORMED,
 *   MSG_VERSION_UNSUPPORTED as §7 says; at most 64 rewinds in progress (then MSG_ARGS_INVALID, retry).
 * - epochs: with --state-dir the epoch is one more than the last one used there (written before serving);
 *   without it the epoch is 1 on every start (a warning says so).
 *
 * WHAT IT LEAVES OUT (it is a reference and test peer, not a trading core)
 * - No order entry, venues or risk gate: submit_orders, snapshot, set_limits, set_bp, set_locates,
 *   set_restricted, set_preborrow, set_halts, set_sod_positions, ha_status/ha_promote/ha_demote and sim pass the envelope,
 *   role, idempotency and expiry checks and are then answered MSG_UNKNOWN_COMMAND ("not served by the
 *   reference core"). limits_version is always 0, gate latency measures only the kill-level check.
 * - No persistence: kill levels, applied ids and the event journal live in memory; every start comes up
 *   with the firm HALTED and state_unknown (the protocol's rule for a core without a readable kill state)
 *   unless --assume-active; rewind serves only the current epoch (older ones: REWIND_EPOCH_UNKNOWN); the
 *   synthetic flow stops at --max-events records (default 1,048,576) so every published record stays held.
 * - No HA (Binary Star): a single node that is always active (ha_role "active"), never fenced.
 * - roles.json is read once at start (no reload).
 * - JSON is cJSON. Integers are read exactly from their text and 1.0 is not an integer, as in Python (see
 *   attach_number_texts), and a repeated key means its last value, as in orjson; but a "\u0000" escape
 *   inside a string ends that string (a C string), and the error text for a frame that is not JSON is
 *   cJSON's terse "not JSON" rather than orjson's position. Every integer it writes is exact (raw JSON text).
 */
#define _POSIX_C_SOURCE 200809L

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "colo_ops_protocol.h"

/* ------------------------------------------------------------------------------------------ limits */
#define APPLIED_IDS_MAX 1024      /* the protocol's "at least the last 1,024 applied ids" */
#define ID_MAX_CHARS 128          /* `id` is 1..128 characters */
#define MAX_CONTROL_PER_TURN 256
#define MAX_REWIND_JOBS 64
#define REWIND_CHUNKS_PER_TURN 8
#define DROPCOPY_BATCH 1000       /* records per live drop-copy message */
#define HEARTBEAT_NS 100000000LL  /* docs/protocol.md §9: hb every 100 ms */
#define HEALTH_NS 1000000000LL    /* health and pos every second */
#define ROUTER_HWM 10000
#define PUB_HWM 2000
#define KILL_KEYS_MAX 100000      /* per scope: bounds memory against a runaway script */
#define GATE_SAMPLES_MAX 4096
#define MAX_WORKING 64
#define RESTING_ORDERS 3          /* the synthetic flow fills the oldest order beyond these */
#define ROLES_FILE_MAX (16 << 20)

#define FLOW_ACCOUNT "REF01"
static const struct { const char *symbol; int64_t ref_price; } SYMBOLS[] = {
    {"AAPL", 2300500}, {"MSFT", 4201500}, {"SPY", 5601000}, {"TSLA", 2504000},
};
#define NSYM ((int)(sizeof SYMBOLS / sizeof SYMBOLS[0]))
static const char *const SESSIONS[4] = {"", "OUCH01", "PLR01", "PLRA01"}; /* by venue: twin sessions */

/* ------------------------------------------------------------------------------------------ types */
typedef struct {
    char key[41]; /* z85 public key */
    char *name;
    int role;     /* colo_role_t: monitor < operator < admin */
} ident_t;

typedef struct {
    char key[9];
    int level;
} kill_entry_t;

typedef struct {
    kill_entry_t *v;
    size_t n, cap;
} kill_map_t; /* sorted by key (strcmp), so JSON output is sorted like the twin's */

typedef struct {
    char *id;
    int cmd;
    cJSON *args;
    cJSON *result;  /* the reply's result; a replay is rendered from it (durable_version as when sent) */
    uint64_t state_version;
    bool tight;     /* tightening (v2: acked before durable) */
    char *operator_name;
    char *reason;
    uint64_t used; /* LRU clock */
} applied_t;

typedef struct {
    uint8_t rid[256];
    size_t rid_len;
    char *id;
    uint64_t state_version; /* sent once durable_version reaches it */
    int v;                  /* the request's protocol version */
    cJSON *result;          /* an ack held for durability; NULL: a durable follow-up (durable_notify) */
} pending_t;

typedef struct {
    uint8_t rid[256];
    size_t rid_len;
    uint32_t epoch;
    uint64_t next, to, last;
    bool end_pending; /* all chunks sent, the end frame still to go */
} rewind_job_t;

typedef struct {
    uint64_t order_id, clordid, routed_id, venue_order_id;
    int sym, venue;
    uint32_t qty;
    int64_t price;
} order_t;

typedef struct {
    uint8_t rid[256];
    size_t rid_len;
    char *body; /* first body frame, NUL-terminated copy */
    size_t body_len;
    int nbody;
    char user_id[64];
    bool has_user;
} inmsg_t;

typedef struct {
    /* configuration */
    const char *node, *keys_dir, *state_dir;
    char core_id[96];
    char *endpoints[4]; /* control, telemetry, dropcopy, rewind: as bound */
    int64_t flow_interval_ms, flow_batch;
    uint64_t max_events;
    bool verbose;
    /* sockets */
    void *ctx, *zap, *control, *telemetry, *dropcopy, *rewind;
    char pub_key[41], sec_key[41];
    ident_t *idents;
    size_t n_idents;
    uint64_t auth_failures;
    /* state */
    uint32_t epoch;
    uint64_t state_version;
    /* protocol v2 ack contract: a simulated group commit (no store: see "WHAT IT LEAVES OUT") */
    uint64_t durable_version;  /* every version <= this counts as committed */
    int64_t dirty_since;       /* mono ns of the first change not yet committed */
    int64_t commit_delay_ns;   /* --commit-delay-us: how long a change waits for its commit */
    pending_t *pending;        /* held acks and follow-ups, in state-version order */
    size_t n_pending, cap_pending;
    int req_v;                 /* the protocol version the reply being built speaks */
    bool tight;                /* the command just applied was tightening */
    int kill_firm;
    bool state_unknown;
    kill_map_t kill[4]; /* by colo_kill_scope_t; [FIRM] unused */
    applied_t applied[APPLIED_IDS_MAX];
    size_t n_applied;
    uint64_t lru_clock;
    int64_t started_ns;
    /* journal: every record of this epoch, in memory */
    colo_event_t *journal;
    uint64_t n_events, cap_events, published;
    int64_t last_ts;
    colo_event_t *scratch; /* one rewind chunk with the REPLAY flag set */
    /* rewinds in progress */
    rewind_job_t jobs[MAX_REWIND_JOBS];
    size_t n_jobs;
    /* synthetic order flow */
    order_t working[MAX_WORKING];
    size_t n_working;
    uint64_t n_orders, routed_ctr, venue_ctr, exec_ctr;
    int64_t positions[NSYM];
    bool flow_stopped;
    /* telemetry counters */
    uint64_t rejects[2048]; /* by reason value */
    uint64_t accepted, accepted_at_health;
    int64_t gate[GATE_SAMPLES_MAX];
    size_t n_gate;
} core_t;

static volatile sig_atomic_t g_stop;
static const char *g_node = "primary";
static bool g_verbose;

/* ------------------------------------------------------------------------------------------ small helpers */
static void say(const char *level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "refcore[%s] %s: ", g_node, level);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "refcore[%s] fatal: ", g_node);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void *must(void *p)
{
    if (p == NULL) {
        fprintf(stderr, "refcore: out of memory\n");
        abort();
    }
    return p;
}

static char *dupstr(const char *s) { return must(strdup(s)); }

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static int64_t now_ns(void) { return clock_ns(CLOCK_REALTIME); }
static int64_t mono_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF): orjson refuses anything else. */
static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char b = s[i];
        size_t len;
        uint32_t cp;
        if (b < 0x80) { i++; continue; }
        if ((b & 0xE0) == 0xC0) { len = 2; cp = b & 0x1F; }
        else if ((b & 0xF0) == 0xE0) { len = 3; cp = b & 0x0F; }
        else if ((b & 0xF8) == 0xF0) { len = 4; cp = b & 0x07; }
        else return false;
        if (i + len > n) return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF
            || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

/* Characters (code points) of a valid UTF-8 string: the protocol counts `id` in characters. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) n++;
    return n;
}

/* The longest prefix of s of at most max bytes that ends on a character boundary. */
static int utf8_prefix(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max) return (int)n;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80) max--;
    return (int)max;
}

/* Printable ASCII, 1..8 characters: account and symbol codes (the twin's _ascii8). */
static bool ascii8(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 8) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E) return false;
    return true;
}

static void put_text(char dst[8], const char *src)
{
    size_t n = src ? strlen(src) : 0;
    memset(dst, 0, 8);
    memcpy(dst, src ? src : "", n < 8 ? n : 8);
}

/* Fixed point (COLO_PRICE_SCALE per dollar) to the shortest exact decimal text, like protocol.from_fixed. */
static void fixed_text(int64_t v, char out[40])
{
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint64_t whole = a / COLO_PRICE_SCALE, frac = a % COLO_PRICE_SCALE;
    const char *sign = v < 0 ? "-" : "";
    if (frac == 0) {
        snprintf(out, 40, "%s%" PRIu64, sign, whole);
        return;
    }
    char f[8];
    snprintf(f, sizeof f, "%04" PRIu64, frac);
    for (int i = (int)strlen(f) - 1; i > 0 && f[i] == '0'; i--) f[i] = '\0';
    snprintf(out, 40, "%s%" PRIu64 ".%s", sign, whole, f);
}

/* ------------------------------------------------------------------------------------------ JSON helpers */
/* cJSON keeps numbers as doubles, which cannot tell 1 from 1.0 and are not exact past 2^53. So after a parse
 * the text of every number token is stored in its item's (otherwise unused) valuestring, which cJSON_Delete and
 * cJSON_Duplicate handle: the tokens are found by a scan of the (already validated) text and matched to the
 * number items in document order. Integers are then read from their text, exactly, and a number written with
 * a fraction or an exponent is not an integer -- the way Python's orjson reads the same frame. */
static bool attach_number_texts(cJSON *item, const char *text, size_t len, size_t *pos)
{
    for (; item != NULL; item = item->next) {
        if (cJSON_IsNumber(item)) {
            /* the next number token: skip strings (with their escapes) and anything that cannot start one */
            while (*pos < len && !(text[*pos] == '-' || (text[*pos] >= '0' && text[*pos] <= '9'))) {
                if (text[*pos] == '"') {
                    for ((*pos)++; *pos < len && text[*pos] != '"'; (*pos)++)
                        if (text[*pos] == '\\') (*pos)++;
                }
                (*pos)++;
            }
            size_t start = *pos;
            while (*pos < len && strchr("0123456789+-.eE", text[*pos]) != NULL) (*pos)++;
            if (*pos == start) return false;
            item->valuestring = must(malloc(*pos - start + 1));
            memcpy(item->valuestring, text + start, *pos - start);
            item->valuestring[*pos - start] = '\0';
        }
        if (item->child != NULL && !attach_number_texts(item->child, text, len, pos)) return false;
    }
    return true;
}

/* An integer as orjson reads one: an integer literal (no fraction, no exponent) within int64 or uint64 (a
 * larger literal becomes a float there). `fits` is false for one beyond int64, whose value is then INT64_MAX. */
static bool json_int_value(const cJSON *j, int64_t *out, bool *fits)
{
    if (!cJSON_IsNumber(j) || j->valuestring == NULL || strpbrk(j->valuestring, ".eE") != NULL) return false;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(j->valuestring, &end, 10);
    if (end == j->valuestring || *end != '\0') return false;
    *fits = errno != ERANGE;
    if (!*fits) {
        if (v < 0) return false;
        errno = 0;
        (void)strtoull(j->valuestring, &end, 10);
        if (errno == ERANGE) return false;
    }
    *out = v;
    return true;
}

/* A JSON integer in [lo, hi] (exact). */
static bool json_int(const cJSON *j, int64_t lo, int64_t hi, int64_t *out)
{
    int64_t v;
    bool fits;
    if (!json_int_value(j, &v, &fits) || !fits || v < lo || v > hi) return false;
    *out = v;
    return true;
}

/* The member `key` of an object; the last one when the key repeats (orjson keeps the last, cJSON's own lookup
 * the first). */
static const cJSON *jget(const cJSON *obj, const char *key)
{
    const cJSON *found = NULL, *e;
    cJSON_ArrayForEach(e, obj)
        if (e->string != NULL && strcmp(e->string, key) == 0) found = e;
    return found;
}

/* Integers go out as raw JSON text so they stay exact (cJSON would print a double). */
static void add_i64(cJSON *o, const char *k, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    must(cJSON_AddRawToObject(o, k, buf));
}
static void add_u64(cJSON *o, const char *k, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    must(cJSON_AddRawToObject(o, k, buf));
}
static void add_str(cJSON *o, const char *k, const char *v) { must(cJSON_AddStringToObject(o, k, v)); }
static void add_bool(cJSON *o, const char *k, bool v) { must(cJSON_AddBoolToObject(o, k, v)); }
static void add_null(cJSON *o, const char *k) { must(cJSON_AddNullToObject(o, k)); }
static cJSON *add_obj(cJSON *o, const char *k) { return must(cJSON_AddObjectToObject(o, k)); }
static cJSON *new_obj(void) { return must(cJSON_CreateObject()); }

static char *print_json(const cJSON *j, size_t *len)
{
    char *s = must(cJSON_PrintUnformatted(j));
    if (len) *len = strlen(s);
    return s;
}

/* Parse one frame as a complete JSON text; NULL (with why) if it is not one. */
static cJSON *parse_frame(const char *data, size_t len, const char **why)
{
    if (len == 0) { *why = "not JSON: empty frame"; return NULL; }
    if (memchr(data, '\0', len) != NULL) { *why = "not JSON: NUL byte"; return NULL; }
    if (!utf8_valid((const unsigned char *)data, len)) { *why = "not JSON: invalid UTF-8"; return NULL; }
    /* data is NUL-terminated by recv_routed; the length includes that NUL so cJSON can check for trailing junk */
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(data, len + 1, &end, 1);
    size_t pos = 0;
    if (j != NULL && !attach_number_texts(j, data, len, &pos)) {
        cJSON_Delete(j); /* cannot happen for a text cJSON accepted; refuse rather than guess */
        j = NULL;
    }
    if (j == NULL) *why = "not JSON";
    return j;
}

/* ------------------------------------------------------------------------------------------ keys and roles */
static void trim(char *s, const char *chars)
{
    size_t n = strlen(s), i = 0;
    while (n > 0 && strchr(chars, s[n - 1])) s[--n] = '\0';
    while (s[i] && strchr(chars, s[i])) i++;
    memmove(s, s + i, strlen(s + i) + 1);
}

/* (public, secret) z85 keys from a ZeroMQ ZPL certificate, read like core_bridge.client.read_curve_key. */
static void read_cert(const char *path, char pub[41], char sec[41])
{
    FILE *f = fopen(path, "r");
    if (f == NULL) die("cannot read key file %s: %s", path, strerror(errno));
    char line[512];
    pub[0] = sec[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        trim(line, " \t\r\n");
        char *dst = strncmp(line, "public-key", 10) == 0 ? pub : strncmp(line, "secret-key", 10) == 0 ? sec : NULL;
        char *eq = strchr(line, '=');
        if (dst == NULL || eq == NULL) continue;
        trim(eq + 1, " \t'\"");
        if (strlen(eq + 1) != 40) die("%s: a key is not 40 z85 characters", path);
        memcpy(dst, eq + 1, 41);
    }
    fclose(f);
    uint8_t raw[32];
    if (!pub[0] || !sec[0] || !zmq_z85_decode(raw, pub) || !zmq_z85_decode(raw, sec))
        die("%s: not a CURVE certificate with public-key and secret-key", path);
    char derived[41];
    if (zmq_curve_public(derived, sec) != 0 || strcmp(derived, pub) != 0)
        die("%s: the public key does not belong to the secret key", path);
}

static char *read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) die("cannot read %s: %s", path, strerror(errno));
    char *buf = must(malloc(max + 1));
    size_t n = fread(buf, 1, max + 1, f);
    fclose(f);
    if (n > max) die("%s: larger than %zu bytes", path, max);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* roles.json: {"<z85 public key>": {"name": "...", "role": "monitor|operator|admin"}} (core_bridge.auth). */
static void load_roles(core_t *c)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/roles.json", c->keys_dir);
    size_t len;
    char *text = read_file(path, ROLES_FILE_MAX, &len);
    const char *why = "";
    cJSON *root = parse_frame(text, len, &why);
    if (root == NULL || !cJSON_IsObject(root)) die("%s: roles file invalid: %s", path, root ? "not an object" : why);
    size_t n = (size_t)cJSON_GetArraySize(root);
    c->idents = must(calloc(n ? n : 1, sizeof(ident_t)));
    const cJSON *e;
    cJSON_ArrayForEach(e, root) {
        const cJSON *name = jget(e, "name");
        const cJSON *role = jget(e, "role");
        uint8_t raw[32];
        int r = cJSON_IsString(role) ? colo_role_from_name(role->valuestring) : -1;
        if (e->string == NULL || strlen(e->string) != 40 || !zmq_z85_decode(raw, e->string) || !cJSON_IsString(name)
            || r < 0)
            die("%s: roles file invalid: entry %s needs a z85 key, a name and a role", path,
                e->string ? e->string : "?");
        ident_t *id = &c->idents[c->n_idents++];
        memcpy(id->key, e->string, 41);
        id->name = dupstr(name->valuestring);
        id->role = r;
    }
    cJSON_Delete(root);
    free(text);
}

static const ident_t *lookup_ident(const core_t *c, const char *z85)
{
    for (size_t i = 0; i < c->n_idents; i++)
        if (strcmp(c->idents[i].key, z85) == 0) return &c->idents[i];
    return NULL;
}

/* ------------------------------------------------------------------------------------------ epoch */
static uint32_t next_epoch(const char *dir)
{
    if (dir == NULL) {
        say("warn", "no --state-dir: epoch 1 (a restart reuses it; pass --state-dir to keep epochs rising)");
        return 1;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) die("cannot create %s: %s", dir, strerror(errno));
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/epoch", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unsigned long long last = 0;
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        char extra;
        int got = fscanf(f, "%llu %c", &last, &extra);
        fclose(f);
        if (got != 1 || last >= UINT32_MAX) die("%s is not an epoch number; refusing to guess one", path);
    } else if (errno != ENOENT) {
        die("cannot read %s: %s", path, strerror(errno));
    }
    uint32_t epoch = (uint32_t)last + 1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%u\n", epoch);
    if (fd < 0 || write(fd, buf, (size_t)n) != n || fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0)
        die("cannot write %s: %s", path, strerror(errno));
    int dfd = open(dir, O_RDONLY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return epoch;
}

/* ------------------------------------------------------------------------------------------ journal + drop copy */
typedef struct {
    uint8_t etype, side, venue, flags, ord_type, tif;
    uint16_t reason;
    const char *account, *symbol, *session;
    uint32_t qty, leaves, last_qty;
    int64_t price, last_px;
    uint64_t order_id, orig_order_id, routed_id, venue_order_id, exec_id, clordid;
} ev_t;

/* Sequence one event: next seq of the epoch, a strictly increasing timestamp. Published by flush_events. */
static void emit(core_t *c, const ev_t *e)
{
    if (c->n_events == c->cap_events) {
        c->cap_events = c->cap_events ? c->cap_events * 2 : 4096;
        c->journal = must(realloc(c->journal, c->cap_events * sizeof(colo_event_t)));
    }
    colo_event_t *r = &c->journal[c->n_events++];
    memset(r, 0, sizeof *r);
    int64_t ts = now_ns();
    if (ts <= c->last_ts) ts = c->last_ts + 1;
    c->last_ts = ts;
    r->seq = c->n_events;
    r->ts_ns = ts;
    r->epoch = c->epoch;
    r->etype = e->etype;
    r->side = e->side;
    r->venue = e->venue;
    r->flags = e->flags;
    r->reason = e->reason;
    r->ord_type = e->ord_type;
    r->tif = e->tif;
    put_text(r->account, e->account);
    put_text(r->symbol, e->symbol);
    put_text(r->session, e->session);
    r->qty = e->qty;
    r->leaves_qty = e->leaves;
    r->last_qty = e->last_qty;
    r->price = e->price;
    r->last_px = e->last_px;
    r->order_id = e->order_id;
    r->orig_order_id = e->orig_order_id;
    r->routed_id = e->routed_id;
    r->venue_order_id = e->venue_order_id;
    r->exec_id = e->exec_id;
    r->clordid = e->clordid;
}

static colo_batch_header_t batch_header(uint32_t epoch, uint64_t first_seq, uint32_t count)
{
    colo_batch_header_t h;
    memset(&h, 0, sizeof h);
    h.version = COLO_STREAM_VERSION;
    h.epoch = epoch;
    h.first_seq = first_seq;
    h.count = count;
    h.record_size = COLO_EVENT_SIZE_BYTES;
    return h;
}

/* Publish everything sequenced so far. The PUB never blocks the core: at its high-water mark libzmq drops the
 * message and the subscriber recovers the gap by rewind. */
static void flush_events(core_t *c)
{
    while (c->published < c->n_events) {
        uint64_t n = c->n_events - c->published;
        if (n > DROPCOPY_BATCH) n = DROPCOPY_BATCH;
        const colo_event_t *first = &c->journal[c->published];
        colo_batch_header_t h = batch_header(c->epoch, first->seq, (uint32_t)n);
        zmq_send(c->dropcopy, COLO_DROPCOPY_TOPIC, strlen(COLO_DROPCOPY_TOPIC), ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(c->dropcopy, &h, sizeof h, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(c->dropcopy, first, (size_t)n * sizeof(colo_event_t), ZMQ_DONTWAIT);
        c->published += n;
    }
}

/* ------------------------------------------------------------------------------------------ kill state */
static kill_entry_t *kill_find(kill_map_t *m, const char *key, size_t *pos)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strcmp(m->v[mid].key, key);
        if (cmp == 0) { *pos = mid; return &m->v[mid]; }
        if (cmp < 0) lo = mid + 1; else hi = mid;
    }
    *pos = lo;
    return NULL;
}

static int kill_get(const core_t *c, int scope, const char *key)
{
    size_t pos;
    kill_entry_t *e = kill_find((kill_map_t *)&c->kill[scope], key, &pos);
    return e ? e->level : COLO_KILL_LEVEL_ACTIVE;
}

/* Set a level (ACTIVE removes the entry). False if the scope is full. */
static bool kill_set(core_t *c, int scope, const char *key, int level)
{
    kill_map_t *m = &c->kill[scope];
    size_t pos;
    kill_entry_t *e = kill_find(m, key, &pos);
    if (level == COLO_KILL_LEVEL_ACTIVE) {
        if (e != NULL) {
            memmove(&m->v[pos], &m->v[pos + 1], (m->n - pos - 1) * sizeof *e);
            m->n--;
        }
        return true;
    }
    if (e) { e->level = level; return true; }
    if (m->n >= KILL_KEYS_MAX) return false;
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->v = must(realloc(m->v, m->cap * sizeof *m->v));
    }
    memmove(&m->v[pos + 1], &m->v[pos], (m->n - pos) * sizeof *m->v);
    m->n++;
    memset(&m->v[pos], 0, sizeof m->v[pos]);
    snprintf(m->v[pos].key, sizeof m->v[pos].key, "%s", key);
    m->v[pos].level = level;
    return true;
}

static int effective_level(const core_t *c, int sym, int venue)
{
    int lvl = c->kill_firm, other;
    if ((other = kill_get(c, COLO_KILL_SCOPE_ACCOUNT, FLOW_ACCOUNT)) > lvl) lvl = other;
    if ((other = kill_get(c, COLO_KILL_SCOPE_SYMBOL, SYMBOLS[sym].symbol)) > lvl) lvl = other;
    if ((other = kill_get(c, COLO_KILL_SCOPE_VENUE, colo_venue_name(venue))) > lvl) lvl = other;
    return lvl;
}

static cJSON *kill_json(const core_t *c)
{
    cJSON *k = new_obj();
    add_str(k, "firm", colo_kill_level_name(c->kill_firm));
    static const int scopes[] = {COLO_KILL_SCOPE_ACCOUNT, COLO_KILL_SCOPE_SYMBOL, COLO_KILL_SCOPE_VENUE};
    for (size_t s = 0; s < 3; s++) {
        cJSON *m = add_obj(k, colo_kill_scope_name(scopes[s]));
        for (size_t i = 0; i < c->kill[scopes[s]].n; i++)
            add_str(m, c->kill[scopes[s]].v[i].key, colo_kill_level_name(c->kill[scopes[s]].v[i].level));
    }
    return k;
}

/* ------------------------------------------------------------------------------------------ synthetic flow */
static void emit_order(core_t *c, uint8_t etype, const order_t *o, uint16_t reason, uint8_t flags, uint32_t leaves,
                       uint32_t last_qty, int64_t last_px, uint64_t exec_id)
{
    bool rejected = etype == COLO_EVENT_TYPE_ORDER_REJECTED;
    emit(c, &(ev_t){.etype = etype, .side = COLO_SIDE_BUY, .venue = (uint8_t)o->venue, .flags = flags,
                    .reason = reason, .ord_type = COLO_ORD_TYPE_LIMIT, .tif = COLO_TIME_IN_FORCE_DAY,
                    .account = FLOW_ACCOUNT, .symbol = SYMBOLS[o->sym].symbol,
                    .session = rejected ? "" : SESSIONS[o->venue], .qty = o->qty, .leaves = leaves,
                    .last_qty = last_qty, .price = o->price, .last_px = last_px, .order_id = o->order_id,
                    .routed_id = o->routed_id, .venue_order_id = o->venue_order_id, .exec_id = exec_id,
                    .clordid = o->clordid});
}

static void remove_working(core_t *c, size_t i)
{
    memmove(&c->working[i], &c->working[i + 1], (c->n_working - i - 1) * sizeof c->working[0]);
    c->n_working--;
}

/* One synthetic order through the kill-level check: rejected, or new/routed/acked and resting. */
static void flow_order(core_t *c)
{
    uint64_t n = c->n_orders++;
    order_t o = {.order_id = ((uint64_t)c->epoch << 32) | ((n + 1) & 0xFFFFFFFFu), .clordid = n + 1,
                 .sym = (int)(n % NSYM), .venue = COLO_VENUE_NSDQ + (int)(n % 3), .qty = 100};
    o.price = SYMBOLS[o.sym].ref_price;
    int64_t t0 = mono_ns();
    int level = effective_level(c, o.sym, o.venue);
    uint16_t reason = COLO_REASON_OK;
    if (level == COLO_KILL_LEVEL_HALTED)
        reason = c->state_unknown ? COLO_REASON_KILL_STATE_UNKNOWN : COLO_REASON_KILL_HALTED;
    else if (level == COLO_KILL_LEVEL_CANCEL_ONLY)
        reason = COLO_REASON_KILL_CANCEL_ONLY;
    else if (level == COLO_KILL_LEVEL_REDUCE_ONLY)
        reason = COLO_REASON_KILL_REDUCE_ONLY; /* the flow only buys, and positions are never short */
    if (c->n_gate < GATE_SAMPLES_MAX) c->gate[c->n_gate++] = mono_ns() - t0;
    if (reason != COLO_REASON_OK) {
        c->rejects[reason]++;
        emit_order(c, COLO_EVENT_TYPE_ORDER_REJECTED, &o, reason, 0, 0, 0, 0, 0);
        return;
    }
    c->accepted++;
    emit_order(c, COLO_EVENT_TYPE_ORDER_NEW, &o, 0, 0, o.qty, 0, 0, 0);
    o.routed_id = ((uint64_t)o.venue << 56) | ++c->routed_ctr;
    emit_order(c, COLO_EVENT_TYPE_ORDER_ROUTED, &o, 0, 0, o.qty, 0, 0, 0);
    o.venue_order_id = ((uint64_t)o.venue << 56) | ++c->venue_ctr;
    emit_order(c, COLO_EVENT_TYPE_ORDER_ACKED, &o, 0, 0, o.qty, 0, 0, 0);
    c->working[c->n_working++] = o;
    if (c->n_working > RESTING_ORDERS) {
        order_t *f = &c->working[0];
        emit_order(c, COLO_EVENT_TYPE_ORDER_FILLED, f, 0, 0, 0, f->qty, f->price,
                   ((uint64_t)f->venue << 56) | ++c->exec_ctr);
        c->positions[f->sym] += f->qty;
        remove_working(c, 0);
    }
}

/* One flow tick: --flow-batch orders, published together (one drop-copy message per DROPCOPY_BATCH records). */
static void flow_step(core_t *c)
{
    if (c->n_events >= c->max_events) {
        if (!c->flow_stopped) say("warn", "journal holds %" PRIu64 " records (--max-events): synthetic flow stopped",
                                  c->n_events);
        c->flow_stopped = true;
        return;
    }
    for (int64_t k = 0; k < c->flow_batch; k++) flow_order(c);
    flush_events(c);
}

/* ------------------------------------------------------------------------------------------ control */
typedef struct {
    int code;          /* colo_reason_t */
    char message[512];
    cJSON *result;     /* owned; NULL -> {} */
} outcome_t;

static bool refuse(outcome_t *out, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof out->message, fmt, ap);
    va_end(ap);
    out->code = code;
    return false;
}

/* A reply frame in protocol version v (takes `result`); from v2 on it carries durable_version, the core's value
 * when the frame is built, and a follow-up frame carries "followup": "durable". */
static char *render_reply(const core_t *c, int v, const char *id, int code, uint64_t state_version, cJSON *result,
                          const char *message, bool followup, size_t *len)
{
    cJSON *r = new_obj();
    add_i64(r, "v", v);
    add_str(r, "id", id);
    add_bool(r, "ok", code == COLO_REASON_OK);
    add_str(r, "code", colo_reason_name(code));
    add_u64(r, "state_version", state_version);
    if (v >= 2) add_u64(r, "durable_version", c->durable_version);
    cJSON_AddItemToObject(r, "result", result ? result : new_obj());
    add_str(r, "message", message ? message : "");
    if (followup) add_str(r, "followup", "durable");
    char *s = print_json(r, len);
    cJSON_Delete(r);
    return s;
}

static char *reply_json(const core_t *c, const char *id, int code, uint64_t state_version, cJSON *result,
                        const char *message, size_t *len)
{
    return render_reply(c, c->req_v, id, code, state_version, result, message, false, len);
}

static void hold(core_t *c, const inmsg_t *m, const char *id, uint64_t state_version, cJSON *result)
{
    if (c->n_pending == c->cap_pending) {
        c->cap_pending = c->cap_pending ? 2 * c->cap_pending : 64;
        c->pending = must(realloc(c->pending, c->cap_pending * sizeof *c->pending));
    }
    pending_t *p = &c->pending[c->n_pending++];
    memcpy(p->rid, m->rid, m->rid_len);
    p->rid_len = m->rid_len;
    p->id = dupstr(id);
    p->state_version = state_version;
    p->v = c->req_v;
    p->result = result;
}

/* {scope, key} of set_kill and cancel_all, validated like the twin's _scope_key. */
static bool parse_scope_key(const cJSON *args, int *scope, char key[9], outcome_t *out)
{
    const cJSON *raw = jget(args, "scope");
    char lower[16] = "";
    if (cJSON_IsString(raw) && strlen(raw->valuestring) < sizeof lower)
        for (size_t i = 0; raw->valuestring[i]; i++)
            lower[i] = (char)((raw->valuestring[i] >= 'A' && raw->valuestring[i] <= 'Z') ? raw->valuestring[i] + 32
                                                                                      : raw->valuestring[i]);
    *scope = colo_kill_scope_from_name(lower); /* the twin upper-cases the scope: case does not matter */
    if (*scope < 0)
        return refuse(out, COLO_REASON_MSG_ARGS_INVALID, "scope must be one of ['ACCOUNT', 'FIRM', 'SYMBOL', 'VENUE']");
    const cJSON *k = jget(args, "key");
    bool null_key = k == NULL || cJSON_IsNull(k);
    key[0] = '\0';
    if (*scope == COLO_KILL_SCOPE_FIRM) {
        if (!null_key) return refuse(out, COLO_REASON_MSG_ARGS_INVALID, "key must be null for the firm scope");
        return true;
    }
    if (*scope == COLO_KILL_SCOPE_VENUE) {
        int v = cJSON_IsString(k) ? colo_venue_from_name(k->valuestring) : -1;
        if (v < 0)
            return refuse(out, COLO_REASON_MSG_ARGS_INVALID, "key must be one of ['ARCA', 'NONE', 'NSDQ', 'NYSE']");
        if (v == COLO_VENUE_NONE) return refuse(out, COLO_REASON_MSG_ARGS_INVALID, "key must be NSDQ, NYSE or ARCA");
        snprintf(key, 9, "%s", colo_venue_name(v));
        return true;
    }
    if (!cJSON_IsString(k) || !ascii8(k->valuestring))
        return refuse(out, COLO_REASON_MSG_ARGS_INVALID, "key must be 1..8 printable ASCII characters");
    snprintf(key, 9, "%s", k->valuestring);
    return true;
}

static bool cmd_set_kill(core_t *c, const cJSON *args, outcome_t *out)
{
    int scope;
    char key[9];
    if (!parse_scope_key(args, &scope, key, out)) return false;
    const cJSON *lv = jget(args, "level");
    int level = cJSON_IsString(lv) ? colo_kill_level_from_name(lv->valuestring) : -1;
    if (level < 0)
        return refuse(out, COLO_REASON_MSG_ARGS_INVALID,
                      "level must be one of ['ACTIVE', 'CANCEL_ONLY', 'HALTED', 'REDUCE_ONLY']");
    int previous;
    /* v2: tightening when nothing gets less restrictive; an unknown kill state rejects like HALTED */
    int restricting = scope == COLO_KILL_SCOPE_FIRM ? (c->state_unknown ? COLO_KILL_LEVEL_HALTED : c->kill_firm)
                                                    : kill_get(c, scope, key);
    c->tight = level >= restricting;
    if (scope == COLO_KILL_SCOPE_FIRM) {
        previous = c->kill_firm;
        c->kill_firm = level;
        c->state_unknown = false; /* an operator has now set the firm level explicitly */
    } else {
        previous = kill_get(c, scope, key);
        if (!kill_set(c, scope, key, level))
            return refuse(out, COLO_REASON_MSG_ARGS_INVALID, "too many %s kill entries (%d)",
                          colo_kill_scope_name(scope), KILL_KEYS_MAX);
    }
    if (previous != level)
        emit(c, &(ev_t){.etype = COLO_EVENT_TYPE_KILL_STATE_CHANGED, .qty = (uint32_t)scope, .price = level,
                        .account = scope == COLO_KILL_SCOPE_ACCOUNT ? key : "",
                        .symbol = scope == COLO_KILL_SCOPE_SYMBOL ? key : "",
                        .venue = scope == COLO_KILL_SCOPE_VENUE ? (uint8_t)colo_venue_from_name(key) : 0});
    cJSON *r = out->result = new_obj();
    add_str(r, "scope", colo_kill_scope_name(scope));
    if (scope == COLO_KILL_SCOPE_FIRM) add_null(r, "key"); else add_str(r, "key", key);
    add_str(r, "level", colo_kill_level_name(level));
    add_str(r, "previous", colo_kill_level_name(previous));
    return true;
}

static bool cmd_cancel_all(core_t *c, const cJSON *args, outcome_t *out)
{
    int scope;
    char key[9];
    if (!parse_scope_key(args, &scope, key, out)) return false;
    uint64_t cancelled = 0;
    for (size_t i = 0; i < c->n_working;) {
        const order_t *o = &c->working[i];
        bool match = scope == COLO_KILL_SCOPE_FIRM
                     || (scope == COLO_KILL_SCOPE_ACCOUNT && strcmp(key, FLOW_ACCOUNT) == 0)
                     || (scope == COLO_KILL_SCOPE_SYMBOL && strcmp(key, SYMBOLS[o->sym].symbol) == 0)
                     || (scope == COLO_KILL_SCOPE_VENUE && strcmp(key, colo_venue_name(o->venue)) == 0);
        if (!match) { i++; continue; }
        uint8_t flags = COLO_EVENT_FLAG_FROM_CANCEL_ALL;
        emit_order(c, COLO_EVENT_TYPE_ORDER_CANCEL_REQUESTED, o, 0, flags, o->qty, 0, 0, 0);
        emit_order(c, COLO_EVENT_TYPE_ORDER_CANCELLED, o, COLO_REASON_CANCEL_CANCEL_ALL, flags, 0, o->qty, 0, 0);
        remove_working(c, i);
        cancelled++;
    }
    out->result = new_obj();
    add_u64(out->result, "cancelled", cancelled);
    c->tight = true; /* cancels only ever restrict */
    return true;
}

static cJSON *status_json(const core_t *c, int64_t now)
{
    cJSON *r = new_obj();
    add_str(r, "node", c->node);
    add_str(r, "ha_role", "active");
    add_str(r, "trading_state", colo_kill_level_name(c->kill_firm));
    cJSON_AddItemToObject(r, "kill", kill_json(c));
    add_u64(r, "last_seq", c->n_events);
    add_u64(r, "epoch", c->epoch);
    add_u64(r, "limits_version", 0);
    add_u64(r, "state_version", c->state_version);
    add_bool(r, "state_unknown", c->state_unknown);
    add_u64(r, "orders_working", c->n_working);
    add_i64(r, "uptime_s", now > c->started_ns ? (now - c->started_ns) / 1000000000LL : 0);
    add_i64(r, "core_time_ns", now);
    add_u64(r, "auth_failures", c->auth_failures);
    add_u64(r, "durable_version", c->durable_version);
    add_str(r, "start", "unknown"); /* nothing is restored at start: the kill state is always unknown */
    return r;
}

static applied_t *find_applied(core_t *c, const char *id)
{
    for (size_t i = 0; i < c->n_applied; i++)
        if (strcmp(c->applied[i].id, id) == 0) return &c->applied[i];
    return NULL;
}

static void free_applied(applied_t *a)
{
    free(a->id);
    cJSON_Delete(a->args);
    cJSON_Delete(a->result);
    free(a->operator_name);
    free(a->reason);
    memset(a, 0, sizeof *a);
}

static void remember(core_t *c, const char *id, int cmd, const cJSON *args, const cJSON *result,
                     uint64_t state_version, bool tight, const char *operator_name, const char *reason)
{
    applied_t *slot;
    if (c->n_applied < APPLIED_IDS_MAX) {
        slot = &c->applied[c->n_applied++];
    } else {
        slot = &c->applied[0];
        for (size_t i = 1; i < c->n_applied; i++)
            if (c->applied[i].used < slot->used) slot = &c->applied[i];
        free_applied(slot);
    }
    slot->id = dupstr(id);
    slot->cmd = cmd;
    slot->args = must(cJSON_Duplicate(args, 1));
    slot->result = must(cJSON_Duplicate(result, 1));
    slot->state_version = state_version;
    slot->tight = tight;
    slot->operator_name = dupstr(operator_name);
    slot->reason = dupstr(reason);
    slot->used = ++c->lru_clock;
}

/* An ack (or the replay of one) of a change at `sv`: sent now (returned), or held until the commit makes it
 * durable (NULL returned) when the request speaks v1 or the change is not tightening (v2's ack contract). A
 * v2 request with durable_notify whose ack goes out before its change is durable gets a follow-up then. */
static char *ack(core_t *c, const inmsg_t *m, const char *id, uint64_t sv, const cJSON *result, bool tight,
                 bool notify, size_t *len)
{
    if (sv > c->durable_version && (c->req_v < 2 || !tight)) {
        hold(c, m, id, sv, must(cJSON_Duplicate(result, 1)));
        return NULL;
    }
    if (sv > c->durable_version && notify) hold(c, m, id, sv, NULL);
    return reply_json(c, id, COLO_REASON_OK, sv, must(cJSON_Duplicate(result, 1)), "", len);
}

/* One request from an authenticated identity -> the reply frame (malloc'ed), or NULL when the reply is held
 * for the commit (see ack). Never fails. */
static char *handle_request(core_t *c, const inmsg_t *m, const ident_t *who, size_t *len)
{
    int64_t now = now_ns();
    outcome_t out = {.code = COLO_REASON_OK};
    const char *why = "";
    c->req_v = COLO_PROTOCOL_VERSION; /* until the request's own version is known to be served */
    c->tight = false;
    cJSON *obj = parse_frame(m->body, m->body_len, &why);
    if (obj == NULL) return reply_json(c, "", COLO_REASON_MSG_MALFORMED, c->state_version, NULL, why, len);
    if (!cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        return reply_json(c, "", COLO_REASON_MSG_MALFORMED, c->state_version, NULL, "request is not a JSON object",
                          len);
    }
    const cJSON *jid = jget(obj, "id");
    const char *best_id = cJSON_IsString(jid) && utf8_chars(jid->valuestring) <= ID_MAX_CHARS ? jid->valuestring : "";
    char *reply = NULL;
    cJSON *empty = NULL;
    int64_t v = 0, expires = 0;
    static const char *const text_fields[] = {"cmd", "id", "operator", "reason"};
    const cJSON *f[4];
    /* 1. envelope, in the order of protocol.Request.decode */
    bool fits; /* an integer beyond int64 is still an integer (Python's are unbounded): clamped, it compares alike */
    if (!json_int_value(jget(obj, "v"), &v, &fits)) {
        refuse(&out, COLO_REASON_MSG_MALFORMED, "field 'v' missing or not int");
        goto done_best;
    }
    for (int i = 0; i < 4; i++) {
        f[i] = jget(obj, text_fields[i]);
        if (!cJSON_IsString(f[i])) {
            refuse(&out, COLO_REASON_MSG_MALFORMED, "field '%s' missing or not str", text_fields[i]);
            goto done_best;
        }
    }
    if (!json_int_value(jget(obj, "expires_ns"), &expires, &fits)) {
        refuse(&out, COLO_REASON_MSG_MALFORMED, "field 'expires_ns' missing or not int");
        goto done_best;
    }
    const cJSON *args = jget(obj, "args");
    if (args == NULL) args = empty = new_obj();
    if (!cJSON_IsObject(args)) {
        refuse(&out, COLO_REASON_MSG_MALFORMED, "field 'args' is not an object");
        goto done_best;
    }
    const char *cmd_name = f[0]->valuestring, *id = f[1]->valuestring;
    int cmd = colo_command_from_name(cmd_name);
    if (cmd < 0) {
        refuse(&out, COLO_REASON_MSG_UNKNOWN_COMMAND, "unknown command '%.*s'", utf8_prefix(cmd_name, 160), cmd_name);
        goto done_best;
    }
    size_t id_chars = utf8_chars(id);
    if (id_chars < 1 || id_chars > ID_MAX_CHARS) {
        refuse(&out, COLO_REASON_MSG_MALFORMED, "field 'id' must be 1..%d characters", ID_MAX_CHARS);
        goto done_best;
    }
    const cJSON *jnotify = jget(obj, "durable_notify");
    if (jnotify != NULL && !cJSON_IsBool(jnotify)) {
        refuse(&out, COLO_REASON_MSG_MALFORMED, "field 'durable_notify' is not a boolean");
        goto done_best;
    }
    bool notify = cJSON_IsTrue(jnotify);
    /* 2. version: any the core serves; the refusal lists them (hello negotiates) */
    if (v < COLO_PROTOCOL_VERSION_MIN || v > COLO_PROTOCOL_VERSION) {
        refuse(&out, COLO_REASON_MSG_VERSION_UNSUPPORTED, "version %s (core speaks %d..%d)",
               jget(obj, "v")->valuestring, COLO_PROTOCOL_VERSION_MIN, COLO_PROTOCOL_VERSION);
        out.result = new_obj();
        cJSON *vs = must(cJSON_AddArrayToObject(out.result, "versions"));
        for (int k = COLO_PROTOCOL_VERSION_MIN; k <= COLO_PROTOCOL_VERSION; k++)
            must(cJSON_AddItemToArray(vs, must(cJSON_CreateNumber(k))) ? vs : NULL);
        goto done;
    }
    c->req_v = (int)v;
    /* 3. role, before anything can change */
    int need = colo_command_role(cmd);
    if (who->role < need) {
        refuse(&out, COLO_REASON_AUTH_ROLE_DENIED, "%s needs %s, key is %s", cmd_name, colo_role_name(need),
               colo_role_name(who->role));
        goto done;
    }
    /* 4. idempotency (state-changing commands; the twin keeps ha_promote/ha_demote out of it) */
    bool mutating = colo_command_mutating(cmd) && cmd != COLO_COMMAND_HA_PROMOTE && cmd != COLO_COMMAND_HA_DEMOTE;
    if (mutating) {
        applied_t *prior = find_applied(c, id);
        if (prior != NULL) {
            prior->used = ++c->lru_clock;
            if (prior->cmd != cmd) {
                refuse(&out, COLO_REASON_MSG_ARGS_INVALID, "id already used by %s", colo_command_name(prior->cmd));
                goto done;
            }
            if (!cJSON_Compare(prior->args, args, 1)) {
                refuse(&out, COLO_REASON_MSG_ARGS_INVALID, "id already used by %s with other args",
                       colo_command_name(prior->cmd));
                goto done;
            }
            /* the original reply; its durable_version is the core's now, and an ack still waiting for the
             * commit waits again */
            reply = ack(c, m, id, prior->state_version, prior->result, prior->tight, notify, len);
            goto cleanup;
        }
    }
    /* 5. expiry */
    if (expires < now) {
        uint64_t late_ns = (uint64_t)now - (uint64_t)expires; /* now > expires: fits, even for INT64_MIN */
        refuse(&out, COLO_REASON_MSG_EXPIRED, "expired %" PRIu64 " ms ago", late_ns / 1000000);
        goto done;
    }
    /* 6.+7. arguments, then apply */
    bool ok;
    switch (cmd) {
    case COLO_COMMAND_HELLO:
        out.result = new_obj();
        add_i64(out.result, "protocol", v); /* the version of this exchange */
        cJSON *served = must(cJSON_AddArrayToObject(out.result, "versions"));
        for (int k = COLO_PROTOCOL_VERSION_MIN; k <= COLO_PROTOCOL_VERSION; k++)
            must(cJSON_AddItemToArray(served, must(cJSON_CreateNumber(k))) ? served : NULL);
        add_str(out.result, "core_id", c->core_id);
        add_str(out.result, "node", c->node);
        add_u64(out.result, "epoch", c->epoch);
        add_str(out.result, "identity", who->name);
        add_str(out.result, "role", colo_role_name(who->role));
        ok = true;
        break;
    case COLO_COMMAND_STATUS:
        out.result = status_json(c, now);
        ok = true;
        break;
    case COLO_COMMAND_SET_KILL:
        ok = cmd_set_kill(c, args, &out);
        break;
    case COLO_COMMAND_CANCEL_ALL:
        ok = cmd_cancel_all(c, args, &out);
        break;
    default:
        ok = refuse(&out, COLO_REASON_MSG_UNKNOWN_COMMAND, "%s not served by the reference core", cmd_name);
        break;
    }
    if (ok && mutating) {
        if (c->state_version == c->durable_version) c->dirty_since = mono_ns();
        c->state_version++;
        remember(c, id, cmd, args, out.result, c->state_version, c->tight, f[2]->valuestring, f[3]->valuestring);
        reply = ack(c, m, id, c->state_version, out.result, c->tight, notify, len);
        goto cleanup;
    }
    if (!ok) {
        cJSON_Delete(out.result);
        out.result = NULL;
    }
done:
    reply = reply_json(c, id, out.code, c->state_version, out.result, out.message, len);
    out.result = NULL;
    goto cleanup;
done_best:
    reply = reply_json(c, best_id, out.code, c->state_version, NULL, out.message, len);
cleanup:
    cJSON_Delete(out.result);
    cJSON_Delete(empty);
    cJSON_Delete(obj);
    return reply;
}

/* ------------------------------------------------------------------------------------------ sockets */
static void free_inmsg(inmsg_t *m)
{
    free(m->body);
    m->body = NULL;
}

/* One routed message: routing id, body frames (the first kept), the ZAP User-Id. 1 = got one, 0 = none. */
static int recv_routed(void *sock, inmsg_t *m)
{
    memset(m, 0, sizeof *m);
    int part = 0, more = 1;
    while (more) {
        zmq_msg_t f;
        zmq_msg_init(&f);
        if (zmq_msg_recv(&f, sock, part == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            int err = errno;
            zmq_msg_close(&f);
            if (part == 0 && (err == EAGAIN || err == EINTR)) return 0;
            say("warn", "receive failed mid-message: %s", zmq_strerror(err));
            free_inmsg(m);
            return 0;
        }
        size_t n = zmq_msg_size(&f);
        if (part == 0) {
            m->rid_len = n < sizeof m->rid ? n : sizeof m->rid;
            memcpy(m->rid, zmq_msg_data(&f), m->rid_len);
        } else if (++m->nbody == 1) {
            m->body = must(malloc(n + 1));
            memcpy(m->body, zmq_msg_data(&f), n);
            m->body[n] = '\0';
            m->body_len = n;
        }
        if (!m->has_user) {
            const char *u = zmq_msg_gets(&f, "User-Id");
            if (u != NULL && strlen(u) < sizeof m->user_id) {
                snprintf(m->user_id, sizeof m->user_id, "%s", u);
                m->has_user = true;
            }
        }
        more = zmq_msg_more(&f);
        zmq_msg_close(&f);
        part++;
    }
    return 1;
}

static bool send_routed(void *sock, const uint8_t *rid, size_t rid_len, const void *a, size_t alen, const void *b,
                        size_t blen, int *err)
{
    if (zmq_send(sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        *err = errno;
        return false;
    }
    if (b == NULL) {
        if (zmq_send(sock, a, alen, ZMQ_DONTWAIT) < 0) { *err = errno; return false; }
        return true;
    }
    if (zmq_send(sock, a, alen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 || zmq_send(sock, b, blen, ZMQ_DONTWAIT) < 0) {
        *err = errno;
        return false;
    }
    return true;
}

static void serve_control(core_t *c)
{
    for (int turn = 0; turn < MAX_CONTROL_PER_TURN; turn++) {
        inmsg_t m;
        if (!recv_routed(c->control, &m)) return;
        const ident_t *who = m.has_user ? lookup_ident(c, m.user_id) : NULL;
        if (who == NULL) { /* ZAP let it in, so this cannot happen while roles.json is fixed */
            say("warn", "control message from a key not in roles.json dropped");
            free_inmsg(&m);
            continue;
        }
        size_t len = 0;
        char *reply;
        if (m.nbody != 1) {
            char msg[64];
            snprintf(msg, sizeof msg, "expected 1 body frame, got %d", m.nbody);
            c->req_v = COLO_PROTOCOL_VERSION;
            reply = reply_json(c, "", COLO_REASON_MSG_MALFORMED, c->state_version, NULL, msg, &len);
        } else {
            reply = handle_request(c, &m, who, &len);
        }
        flush_events(c); /* the events of an applied command go out before its reply */
        int err = 0;
        if (reply != NULL && !send_routed(c->control, m.rid, m.rid_len, reply, len, NULL, 0, &err))
            say("info", "control reply to a gone or full peer dropped: %s", zmq_strerror(err));
        free(reply);
        free_inmsg(&m);
    }
}

/* The simulated group commit: once the first uncommitted change has waited --commit-delay-us, everything
 * applied so far counts as durable; the acks held for it and the durable follow-ups go out, in order. A real
 * core writes and flushes its state here (off the control thread) and moves durable_version when the flush
 * returns. `force`: at shutdown. */
static void commit_step(core_t *c, int64_t mono, bool force)
{
    if (c->durable_version >= c->state_version) return;
    if (!force && mono - c->dirty_since < c->commit_delay_ns) return;
    c->durable_version = c->state_version;
    size_t keep = 0;
    for (size_t i = 0; i < c->n_pending; i++) {
        pending_t *p = &c->pending[i];
        if (p->state_version > c->durable_version) { c->pending[keep++] = *p; continue; }
        size_t len = 0;
        char *reply = render_reply(c, p->v, p->id, COLO_REASON_OK, p->state_version, p->result ? p->result
                                   : new_obj(), "", p->result == NULL, &len);
        int err = 0;
        if (!send_routed(c->control, p->rid, p->rid_len, reply, len, NULL, 0, &err))
            say("info", "held reply to a gone or full peer dropped: %s", zmq_strerror(err));
        free(reply);
        free(p->id);
    }
    c->n_pending = keep;
}

/* Poll timeout (ms) so the commit is not late: the delay still to run, rounded up. */
static long commit_timeout(const core_t *c, int64_t mono, long timeout)
{
    if (c->durable_version >= c->state_version) return timeout;
    int64_t left = c->dirty_since + c->commit_delay_ns - mono;
    long ms = left > 0 ? (long)((left + 999999) / 1000000) : 0;
    return ms < timeout ? ms : timeout;
}

static void send_rewind_end(core_t *c, const uint8_t *rid, size_t rid_len, int64_t epoch, uint64_t last, int code,
                            const char *message, int *err)
{
    cJSON *e = new_obj();
    add_bool(e, "end", true);
    add_i64(e, "epoch", epoch);
    add_u64(e, "last_seq", last);
    add_str(e, "code", colo_reason_name(code));
    if (message && message[0]) add_str(e, "message", message);
    size_t len;
    char *s = print_json(e, &len);
    int dummy;
    if (!send_routed(c->rewind, rid, rid_len, s, len, NULL, 0, err ? err : &dummy) && err == NULL)
        say("info", "rewind end to a gone or full peer dropped");
    free(s);
    cJSON_Delete(e);
}

static void accept_rewinds(core_t *c)
{
    for (int turn = 0; turn < MAX_CONTROL_PER_TURN; turn++) {
        inmsg_t m;
        if (!recv_routed(c->rewind, &m)) return;
        if (!m.has_user || lookup_ident(c, m.user_id) == NULL) { free_inmsg(&m); continue; }
        flush_events(c); /* so everything sequenced so far can be served */
        int code = COLO_REASON_OK;
        int64_t epoch = -1, lo = 0, hi = 0;
        char msg[128] = "";
        cJSON *obj = NULL;
        const char *why = "";
        if (m.nbody != 1) {
            code = COLO_REASON_MSG_MALFORMED;
            snprintf(msg, sizeof msg, "expected 1 body frame, got %d", m.nbody);
        } else if ((obj = parse_frame(m.body, m.body_len, &why)) == NULL) {
            code = COLO_REASON_MSG_MALFORMED;
            snprintf(msg, sizeof msg, "not JSON");
        } else if (!cJSON_IsObject(obj)) {
            code = COLO_REASON_MSG_MALFORMED;
            snprintf(msg, sizeof msg, "not a JSON object");
        } else {
            const cJSON *v = jget(obj, "v");
            int64_t e, a, b;
            if (!cJSON_IsNumber(v) || (v->valuedouble != COLO_STREAM_VERSION && v->valuedouble != COLO_PROTOCOL_VERSION)) {
                code = COLO_REASON_MSG_VERSION_UNSUPPORTED;
                snprintf(msg, sizeof msg, "v must be %d (or %d)", COLO_STREAM_VERSION, COLO_PROTOCOL_VERSION);
            } else if (!json_int(jget(obj, "epoch"), 0, INT64_MAX, &e)
                       || !json_int(jget(obj, "from_seq"), 0, INT64_MAX, &a)
                       || !json_int(jget(obj, "to_seq"), 0, INT64_MAX, &b)) {
                code = COLO_REASON_MSG_MALFORMED;
                snprintf(msg, sizeof msg, "epoch, from_seq, to_seq must be non-negative integers");
            } else {
                epoch = e, lo = a, hi = b;
                if (e != (int64_t)c->epoch) {
                    code = COLO_REASON_REWIND_EPOCH_UNKNOWN;
                    snprintf(msg, sizeof msg, "epoch %" PRId64 " not in the journal", e);
                } else if (lo < 1 || hi < lo || (uint64_t)hi > c->published || hi - lo + 1 > COLO_MAX_REWIND_SPAN) {
                    code = COLO_REASON_REWIND_OUT_OF_RANGE;
                    snprintf(msg, sizeof msg, "journal holds 1..%" PRIu64 " of epoch %u", c->published, c->epoch);
                } else if (c->n_jobs >= MAX_REWIND_JOBS) {
                    code = COLO_REASON_MSG_ARGS_INVALID;
                    snprintf(msg, sizeof msg, "too many rewinds in progress; retry");
                }
            }
        }
        cJSON_Delete(obj);
        if (code == COLO_REASON_OK) {
            rewind_job_t *j = &c->jobs[c->n_jobs++];
            memset(j, 0, sizeof *j);
            memcpy(j->rid, m.rid, m.rid_len);
            j->rid_len = m.rid_len;
            j->epoch = c->epoch;
            j->next = (uint64_t)lo;
            j->to = (uint64_t)hi;
            j->last = c->published;
        } else {
            uint64_t last = (code == COLO_REASON_REWIND_EPOCH_UNKNOWN || epoch < 0) ? 0 : c->published;
            send_rewind_end(c, m.rid, m.rid_len, epoch, last, code, msg, NULL);
        }
        free_inmsg(&m);
    }
}

/* A few chunks per job per loop turn, so one large rewind never stalls control or ZAP. */
static void serve_rewinds(core_t *c)
{
    size_t keep = 0;
    for (size_t i = 0; i < c->n_jobs; i++) {
        rewind_job_t *j = &c->jobs[i];
        bool done = false;
        for (int k = 0; k < REWIND_CHUNKS_PER_TURN && !j->end_pending; k++) {
            uint64_t n = j->to - j->next + 1;
            if (n > COLO_REWIND_CHUNK) n = COLO_REWIND_CHUNK;
            memcpy(c->scratch, &c->journal[j->next - 1], (size_t)n * sizeof(colo_event_t));
            for (uint64_t r = 0; r < n; r++) c->scratch[r].flags |= COLO_EVENT_FLAG_REPLAY;
            colo_batch_header_t h = batch_header(j->epoch, j->next, (uint32_t)n);
            int err = 0;
            if (!send_routed(c->rewind, j->rid, j->rid_len, &h, sizeof h, c->scratch, (size_t)n * sizeof(colo_event_t),
                             &err)) {
                if (err != EAGAIN) done = true; /* the peer is gone */
                break;                          /* its queue is full: try again next turn */
            }
            j->next += n;
            if (j->next > j->to) j->end_pending = true;
        }
        if (!done && j->end_pending) {
            int err = 0;
            send_rewind_end(c, j->rid, j->rid_len, j->epoch, j->last, COLO_REASON_OK, "", &err);
            done = err != EAGAIN;
        }
        if (!done) c->jobs[keep++] = *j;
    }
    c->n_jobs = keep;
}

/* ZAP (RFC 27): accept a CURVE key listed in roles.json with User-Id = its z85 text; refuse anything else. */
static void serve_zap(core_t *c)
{
    for (;;) {
        char fr[8][256];
        size_t fl[8];
        int nparts = 0, more = 1;
        while (more) {
            zmq_msg_t f;
            zmq_msg_init(&f);
            if (zmq_msg_recv(&f, c->zap, nparts == 0 ? ZMQ_DONTWAIT : 0) < 0) {
                zmq_msg_close(&f);
                if (nparts == 0) return;
                break;
            }
            if (nparts < 8) {
                size_t n = zmq_msg_size(&f);
                fl[nparts] = n;
                memcpy(fr[nparts], zmq_msg_data(&f), n < 255 ? n : 255);
                fr[nparts][n < 255 ? n : 255] = '\0';
            }
            nparts++;
            more = zmq_msg_more(&f);
            zmq_msg_close(&f);
        }
        /* [version, request_id, domain, address, routing id, mechanism, credentials...] */
        const char *code = "400", *text = "unknown key";
        char user[41] = "";
        if (nparts < 6 || strcmp(fr[0], "1.0") != 0 || fl[1] >= 255) {
            code = "500", text = "bad ZAP request";
        } else if (fl[5] != 5 || memcmp(fr[5], "CURVE", 5) != 0 || nparts != 7 || fl[6] != 32) {
            text = "CURVE only";
        } else {
            zmq_z85_encode(user, (const uint8_t *)fr[6], 32);
            const ident_t *who = lookup_ident(c, user);
            if (who != NULL) {
                code = "200", text = "OK";
                if (g_verbose) say("debug", "ZAP: %s (%s) accepted", who->name, colo_role_name(who->role));
            }
        }
        if (strcmp(code, "200") != 0) {
            user[0] = '\0';
            c->auth_failures++;
            if (c->auth_failures <= 10 || c->auth_failures % 1000 == 0 || g_verbose)
                say("info", "ZAP refused a handshake (%s); %" PRIu64 " refused so far", text, c->auth_failures);
        }
        if (nparts < 2) continue; /* nothing to answer to */
        zmq_send(c->zap, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(c->zap, fr[1], fl[1] < 255 ? fl[1] : 255, ZMQ_SNDMORE);
        zmq_send(c->zap, code, 3, ZMQ_SNDMORE);
        zmq_send(c->zap, text, strlen(text), ZMQ_SNDMORE);
        zmq_send(c->zap, user, strlen(user), ZMQ_SNDMORE);
        zmq_send(c->zap, "", 0, 0);
    }
}

/* ------------------------------------------------------------------------------------------ telemetry */
static void publish(core_t *c, const char *topic, cJSON *body)
{
    size_t len;
    char *s = print_json(body, &len);
    zmq_send(c->telemetry, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(c->telemetry, s, len, ZMQ_DONTWAIT);
    free(s);
    cJSON_Delete(body);
}

static void heartbeat(core_t *c)
{
    cJSON *h = new_obj();
    add_str(h, "node", c->node);
    add_u64(h, "epoch", c->epoch);
    add_u64(h, "last_seq", c->n_events);
    add_u64(h, "state_version", c->state_version);
    add_u64(h, "durable_version", c->durable_version);
    add_i64(h, "core_time_ns", now_ns());
    add_str(h, "trading_state", colo_kill_level_name(c->kill_firm));
    add_str(h, "ha_role", "active");
    add_u64(h, "stream_remaining", 0);
    publish(c, COLO_TELEMETRY_TOPIC_HEARTBEAT, h);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void health(core_t *c, int64_t elapsed_ns)
{
    cJSON *h = new_obj();
    add_str(h, "node", c->node);
    add_u64(h, "epoch", c->epoch);
    add_i64(h, "core_time_ns", now_ns());
    double rate = (double)(c->accepted - c->accepted_at_health) * 1e9 / (double)(elapsed_ns > 0 ? elapsed_ns : 1);
    c->accepted_at_health = c->accepted;
    must(cJSON_AddNumberToObject(h, "orders_per_s", (double)(int64_t)(rate * 10 + 0.5) / 10)); /* 1 decimal */
    cJSON *rej = add_obj(h, "rejects");
#define REJECT_COUNT(constant, wire) \
    if (c->rejects[constant] > 0) add_u64(rej, wire, c->rejects[constant]);
    COLO_REASON_MEMBERS(REJECT_COUNT)
#undef REJECT_COUNT
    cJSON *exp = add_obj(h, "exposure");
    int64_t gross = 0, net = 0;
    bool any = false;
    for (int s = 0; s < NSYM; s++) {
        int64_t v = c->positions[s] * SYMBOLS[s].ref_price;
        gross += v < 0 ? -v : v;
        net += v;
        any = any || c->positions[s] != 0;
    }
    if (any) {
        char g[40], n[40];
        fixed_text(gross, g);
        fixed_text(net, n);
        cJSON *a = add_obj(exp, FLOW_ACCOUNT);
        add_str(a, "gross", g);
        add_str(a, "net", n);
    }
    cJSON *lat = add_obj(h, "gate_latency_ns");
    if (c->n_gate > 0) {
        qsort(c->gate, c->n_gate, sizeof c->gate[0], cmp_i64);
        size_t p50 = c->n_gate / 2, p99 = (size_t)(0.99 * (double)c->n_gate);
        add_i64(lat, "p50", c->gate[p50 < c->n_gate ? p50 : c->n_gate - 1]);
        add_i64(lat, "p99", c->gate[p99 < c->n_gate ? p99 : c->n_gate - 1]);
        add_i64(lat, "max", c->gate[c->n_gate - 1]);
    } else {
        add_null(lat, "p50");
        add_null(lat, "p99");
        add_null(lat, "max");
    }
    add_u64(lat, "samples", c->n_gate);
    c->n_gate = 0;
    add_u64(h, "auth_failures", c->auth_failures);
    add_str(h, "trading_state", colo_kill_level_name(c->kill_firm));
    add_u64(h, "orders_working", c->n_working);
    bool flowing = c->flow_interval_ms > 0 && !c->flow_stopped;
    add_i64(h, "flow_rate", flowing ? 1000 * c->flow_batch / c->flow_interval_ms : 0);
    publish(c, COLO_TELEMETRY_TOPIC_HEALTH, h);

    cJSON *p = new_obj();
    add_str(p, "node", c->node);
    add_u64(p, "epoch", c->epoch);
    cJSON *pos = add_obj(p, "positions");
    if (any) {
        cJSON *a = add_obj(pos, FLOW_ACCOUNT);
        for (int s = 0; s < NSYM; s++)
            if (c->positions[s] != 0) add_i64(a, SYMBOLS[s].symbol, c->positions[s]);
    }
    publish(c, COLO_TELEMETRY_TOPIC_POSITIONS, p);
}

/* ------------------------------------------------------------------------------------------ setup */
static void *server_socket(core_t *c, int type, int which)
{
    void *s = must(zmq_socket(c->ctx, type));
    int zero = 0, one = 1, hwm = type == ZMQ_ROUTER ? ROUTER_HWM : PUB_HWM;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one) != 0
        || zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, c->pub_key, 40) != 0
        || zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, c->sec_key, 40) != 0)
        die("CURVE is not available in this libzmq: %s", zmq_strerror(errno));
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (type == ZMQ_ROUTER) {
        zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof one); /* a full or vanished peer errors, not drops */
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    }
    if (zmq_bind(s, c->endpoints[which]) != 0) die("cannot bind %s: %s", c->endpoints[which], zmq_strerror(errno));
    char bound[256];
    size_t blen = sizeof bound;
    if (zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, bound, &blen) == 0) {
        free(c->endpoints[which]);
        c->endpoints[which] = dupstr(bound);
    }
    return s;
}

static void usage(FILE *to)
{
    fprintf(to,
            "usage: refcore --keys DIR [--node NAME] [--state-dir DIR] [--control EP] [--telemetry EP]\n"
            "               [--dropcopy EP] [--rewind EP] [--flow-interval-ms N] [--flow-batch N] [--max-events N]\n"
            "               [--commit-delay-us N] [--assume-active] [--verbose]\n"
            "The reference C core for colo-ops protocol v%d (see docs/core_sdk.md).\n",
            COLO_PROTOCOL_VERSION);
}

static int64_t parse_num(const char *opt, const char *s, int64_t lo, int64_t hi)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        die("%s: %s is not a number in %" PRId64 "..%" PRId64, opt, s, lo, hi);
    return v;
}

static void parse_args(core_t *c, int argc, char **argv, bool *assume_active)
{
    static const char *const names[4] = {"--control", "--telemetry", "--dropcopy", "--rewind"};
    static const int ports[4] = {COLO_DEFAULT_PORT_CONTROL, COLO_DEFAULT_PORT_TELEMETRY, COLO_DEFAULT_PORT_DROPCOPY,
                                 COLO_DEFAULT_PORT_REWIND};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(stdout); exit(0); }
        if (strcmp(a, "--assume-active") == 0) { *assume_active = true; continue; }
        if (strcmp(a, "--verbose") == 0) { c->verbose = g_verbose = true; continue; }
        if (i + 1 >= argc) { usage(stderr); die("%s needs a value", a); }
        const char *v = argv[++i];
        bool known = false;
        for (int k = 0; k < 4; k++)
            if (strcmp(a, names[k]) == 0) {
                free(c->endpoints[k]);
                c->endpoints[k] = dupstr(v);
                known = true;
            }
        if (known) continue;
        if (strcmp(a, "--keys") == 0) c->keys_dir = v;
        else if (strcmp(a, "--node") == 0) c->node = g_node = v;
        else if (strcmp(a, "--state-dir") == 0) c->state_dir = v;
        else if (strcmp(a, "--flow-interval-ms") == 0) c->flow_interval_ms = parse_num(a, v, 0, 3600000);
        else if (strcmp(a, "--flow-batch") == 0) c->flow_batch = parse_num(a, v, 1, 10000);
        else if (strcmp(a, "--max-events") == 0) c->max_events = (uint64_t)parse_num(a, v, 0, INT64_MAX);
        else if (strcmp(a, "--commit-delay-us") == 0) c->commit_delay_ns = parse_num(a, v, 0, 10000000) * 1000;
        else { usage(stderr); die("unknown option %s", a); }
    }
    if (c->keys_dir == NULL) { usage(stderr); die("--keys DIR is required"); }
    if (c->node[0] == '\0' || strlen(c->node) > 32) die("--node must be a name of 1..32 characters");
    for (int k = 0; k < 4; k++)
        if (c->endpoints[k] == NULL) {
            char ep[64];
            snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", ports[k]);
            c->endpoints[k] = dupstr(ep);
        }
}

static void print_ready(const core_t *c)
{
    cJSON *r = new_obj();
    add_bool(r, "ready", true);
    add_i64(r, "pid", (int64_t)getpid());
    add_str(r, "node", c->node);
    add_u64(r, "epoch", c->epoch);
    add_str(r, "core_id", c->core_id);
    cJSON *eps = add_obj(r, "endpoints");
    static const char *const keys[4] = {COLO_ENDPOINT_CONTROL, COLO_ENDPOINT_TELEMETRY, COLO_ENDPOINT_DROPCOPY,
                                        COLO_ENDPOINT_REWIND};
    for (int k = 0; k < 4; k++) add_str(eps, keys[k], c->endpoints[k]);
    char *s = print_json(r, NULL);
    printf("%s\n", s);
    fflush(stdout);
    free(s);
    cJSON_Delete(r);
}

static void shutdown_core(core_t *c)
{
    commit_step(c, mono_ns(), true); /* the held acks go out (best effort: the sockets close next) */
    for (size_t i = 0; i < c->n_pending; i++) {
        free(c->pending[i].id);
        cJSON_Delete(c->pending[i].result);
    }
    free(c->pending);
    void *socks[] = {c->control, c->telemetry, c->dropcopy, c->rewind, c->zap};
    for (size_t i = 0; i < sizeof socks / sizeof socks[0]; i++)
        if (socks[i]) zmq_close(socks[i]);
    zmq_ctx_term(c->ctx);
    for (size_t i = 0; i < c->n_applied; i++) free_applied(&c->applied[i]);
    for (size_t i = 0; i < c->n_idents; i++) free(c->idents[i].name);
    free(c->idents);
    for (int s = 0; s < 4; s++) free(c->kill[s].v);
    for (int k = 0; k < 4; k++) free(c->endpoints[k]);
    free(c->journal);
    free(c->scratch);
}

int main(int argc, char **argv)
{
    static core_t core; /* large (applied ids, telemetry counters): static, zeroed */
    core_t *c = &core;
    c->node = "primary";
    c->flow_interval_ms = 50;
    c->flow_batch = 1;
    c->max_events = 1u << 20;
    bool assume_active = false;
    parse_args(c, argc, argv, &assume_active);
    snprintf(c->core_id, sizeof c->core_id, "refcore-%s", c->node);

    char path[4096];
    snprintf(path, sizeof path, "%s/core.key_secret", c->keys_dir);
    read_cert(path, c->pub_key, c->sec_key);
    load_roles(c);
    c->epoch = next_epoch(c->state_dir);
    c->started_ns = now_ns();
    /* No persisted kill state: come up the way the protocol says a core without a readable one must. */
    c->kill_firm = assume_active ? COLO_KILL_LEVEL_ACTIVE : COLO_KILL_LEVEL_HALTED;
    c->state_unknown = !assume_active;
    c->scratch = must(malloc((size_t)COLO_REWIND_CHUNK * sizeof(colo_event_t)));

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: zmq_poll returns EINTR and the loop sees g_stop */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    c->ctx = must(zmq_ctx_new());
    /* ZAP first: libzmq only authenticates through a handler that exists when the handshake starts. */
    c->zap = must(zmq_socket(c->ctx, ZMQ_REP));
    int zero = 0;
    zmq_setsockopt(c->zap, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(c->zap, "inproc://zeromq.zap.01") != 0) die("cannot bind the ZAP handler: %s", zmq_strerror(errno));
    c->control = server_socket(c, ZMQ_ROUTER, 0);
    c->telemetry = server_socket(c, ZMQ_PUB, 1);
    c->dropcopy = server_socket(c, ZMQ_PUB, 2);
    c->rewind = server_socket(c, ZMQ_ROUTER, 3);
    say("info", "up: epoch %u, trading %s%s, %zu keys, control %s", c->epoch, colo_kill_level_name(c->kill_firm),
        c->state_unknown ? " (state unknown)" : "", c->n_idents, c->endpoints[0]);
    print_ready(c);

    int64_t mono = mono_ns(), flow_ns = c->flow_interval_ms * 1000000LL;
    int64_t next_hb = mono, next_health = mono + HEALTH_NS, last_health = mono;
    int64_t next_flow = flow_ns > 0 ? mono + flow_ns : INT64_MAX;
    while (!g_stop) {
        mono = mono_ns();
        int64_t wake = next_hb < next_health ? next_hb : next_health;
        if (next_flow < wake) wake = next_flow;
        long timeout = wake > mono ? (long)((wake - mono + 999999) / 1000000) : 0; /* round up: no spin */
        if (c->n_jobs > 0 && timeout > 1) timeout = 1; /* a slow rewind peer: come back soon, without spinning */
        timeout = commit_timeout(c, mono, timeout);
        zmq_pollitem_t items[3] = {{c->zap, 0, ZMQ_POLLIN, 0}, {c->control, 0, ZMQ_POLLIN, 0},
                                   {c->rewind, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 3, timeout) < 0) {
            if (errno == EINTR) continue;
            die("poll failed: %s", zmq_strerror(errno));
        }
        if (items[0].revents & ZMQ_POLLIN) serve_zap(c);
        if (items[1].revents & ZMQ_POLLIN) serve_control(c);
        commit_step(c, mono_ns(), false);
        if (items[2].revents & ZMQ_POLLIN) accept_rewinds(c);
        if (c->n_jobs > 0) serve_rewinds(c);
        mono = mono_ns();
        if (mono >= next_flow) {
            flow_step(c);
            next_flow += flow_ns;
            if (next_flow < mono) next_flow = mono + flow_ns; /* fell behind: skip rather than burst */
        }
        if (mono >= next_hb) {
            heartbeat(c);
            next_hb = mono + HEARTBEAT_NS;
        }
        if (mono >= next_health) {
            health(c, mono - last_health);
            last_health = mono;
            next_health = mono + HEALTH_NS;
        }
    }
    say("info", "stopping: epoch %u, %" PRIu64 " events, state_version %" PRIu64 ", %" PRIu64 " refused handshakes",
        c->epoch, c->n_events, c->state_version, c->auth_failures);
    shutdown_core(c);
    return 0;
}
