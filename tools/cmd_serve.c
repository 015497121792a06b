/* `gitc serve`: an HTTP service on libmicrohttpd. One model, one compute
 * session driven by one scheduler thread that does continuous batching over
 * the step API (gitc_batch_*); the HTTP threads (one per connection) parse
 * and decode requests, enqueue jobs into a bounded queue and wait for them.
 * Uses only the public API (gitc.h). */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli_common.h"
#include "serve_parse.h"

extern const char serve_page_html[];

/* ------------------------------------------------------------------ */
/* Jobs and the server                                                 */
/* ------------------------------------------------------------------ */

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED };

/* One input to generate for (an image, or a clip's frames). */
typedef struct job {
    int refs;                  /* the HTTP thread and, until it lets go, the scheduler */
    int state;
    int cancel;                /* set by the HTTP thread: client gone or timed out */
    int rows;                  /* gitc_generate_rows(params) */
    float *pixels;             /* [frames, 3, S, S] until the scheduler encodes it */
    int32_t *prompt;           /* [n_prompt] [CLS] + question tokens */
    int n_prompt;
    int vqa;                   /* texts leave out the prompt */
    gitc_generate_params params;
    int batch_id;
    int n_seq;                 /* sequences returned */
    int cap_tok;
    int32_t *toks;             /* [n_seq, cap_tok] tokens generated so far (greedy / sampling) */
    int *n_toks;               /* [n_seq] */
    gitc_generation result;    /* JOB_DONE */
    int status;                /* JOB_FAILED: HTTP status */
    char message[512];
    double t_queued, t_started, t_encoded, t_done; /* ms */
    char name[128];
    struct job *next;          /* queue link */
} job;

/* Histogram buckets (seconds) of the latency metrics. */
static const double hist_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
enum { N_BOUNDS = sizeof hist_bounds / sizeof hist_bounds[0] };
typedef struct histogram {
    unsigned long long counts[N_BOUNDS + 1];
    double sum;
    unsigned long long n;
} histogram;

static const int status_codes[] = {200, 400, 401, 404, 405, 413, 500, 503, 504};
enum { N_STATUS = sizeof status_codes / sizeof status_codes[0] };

typedef struct server {
    /* settings */
    const char *host;
    int port;
    int threads, parallel, queue_cap;
    size_t max_body;
    double timeout_ms;
    const char *api_key;
    const char *model_arg;
    char model_name[128];
    /* model (read-only once ready) */
    gitc_model *model;
    gitc_session *session;
    gitc_batch *batch;
    const gitc_tokenizer *tok;
    const gitc_processor *proc;
    gitc_generate_params base;
    int frames, image_size, n_image_tokens, eos;
    /* shared state, under mu */
    pthread_mutex_t mu;
    pthread_cond_t sched_cv;    /* the scheduler waits for work */
    pthread_cond_t progress_cv; /* HTTP threads wait for tokens and results */
    int ready, stopping, sched_quit;
    job *q_head, *q_tail;
    int q_len;
    job **running;              /* [parallel] */
    int n_running;
    int active;                 /* requests being handled */
    int trim_pending;           /* memory was freed since the last malloc_trim */
    /* metrics, under mu */
    unsigned long long by_status[N_STATUS + 1];
    unsigned long long tokens, steps, rows_stepped, jobs_done, jobs_failed, jobs_cancelled;
    histogram h_encode, h_step, h_request;
    struct MHD_Daemon *daemon;
    pthread_t sched;
} server;

static server S;

/* Writes a message of at most SERVE_MSG bytes (cut when longer). */
static void msgf(char *msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void msgf(char *msg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, SERVE_MSG, fmt, ap);
    va_end(ap);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void hist_add(histogram *h, double seconds)
{
    int i = 0;
    while (i < N_BOUNDS && seconds > hist_bounds[i])
        i++;
    h->counts[i]++;
    h->sum += seconds;
    h->n++;
}

static void job_unref_locked(job *j)
{
    if (--j->refs > 0)
        return;
    free(j->pixels);
    free(j->prompt);
    free(j->toks);
    free(j->n_toks);
    gitc_generation_free(&j->result);
    free(j);
}

/* Ends a job with an HTTP status and message (under mu); the scheduler lets go of it. */
static void job_fail_locked(job *j, int status, const char *message)
{
    j->state = JOB_FAILED;
    j->status = status;
    snprintf(j->message, sizeof j->message, "%s", message);
    j->t_done = now_ms();
    if (status == 499)
        S.jobs_cancelled++;
    else
        S.jobs_failed++;
    free(j->pixels);
    j->pixels = NULL;
    job_unref_locked(j);
}

static int status_of(gitc_status st)
{
    switch (st) {
    case GITC_ERR_MEMORY: return 503;
    case GITC_ERR_LIMIT: return 503;
    case GITC_ERR_ABORTED: return 503;
    case GITC_ERR_IO: return 500;
    default: return 400;
    }
}

static void timed_wait_locked(pthread_cond_t *cv, double ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long ns = ts.tv_nsec + (long long)(ms * 1e6);
    ts.tv_sec += ns / 1000000000LL;
    ts.tv_nsec = ns % 1000000000LL;
    pthread_cond_timedwait(cv, &S.mu, &ts);
}

/* ------------------------------------------------------------------ */
/* The scheduler: continuous batching over the step API                */
/* ------------------------------------------------------------------ */

static job *running_job(int batch_id)
{
    for (int i = 0; i < S.n_running; i++)
        if (S.running[i]->batch_id == batch_id)
            return S.running[i];
    return NULL;
}

static void running_remove(job *j)
{
    for (int i = 0; i < S.n_running; i++)
        if (S.running[i] == j) {
            S.running[i] = S.running[--S.n_running];
            return;
        }
}

static void *scheduler_main(void *arg)
{
    (void)arg;
    gitc_error err = {0};
    double last_trim = 0;
    pthread_mutex_lock(&S.mu);
    for (;;) {
        /* Cancelled rows leave at once and free their room. */
        for (int i = 0; i < S.n_running;) {
            job *j = S.running[i];
            if (j->cancel) {
                gitc_batch_cancel(S.batch, j->batch_id);
                running_remove(j);
                job_fail_locked(j, 499, "cancelled");
            } else {
                i++;
            }
        }
        /* Admit queued jobs while their rows fit (first come, first served): all that fit when
         * nothing decodes, else one per step, so an image being encoded holds up the rows
         * already streaming for one encoder pass at most. */
        int live_before = gitc_batch_live_rows(S.batch), admitted = 0;
        while (S.q_head && (S.q_head->cancel || (S.q_head->rows <= S.parallel - gitc_batch_live_rows(S.batch) &&
                                                 (live_before == 0 || admitted == 0)))) {
            job *j = S.q_head;
            S.q_head = j->next;
            if (!S.q_head)
                S.q_tail = NULL;
            S.q_len--;
            if (j->cancel) {
                job_fail_locked(j, 499, "cancelled");
                continue;
            }
            j->state = JOB_RUNNING;
            j->t_started = now_ms();
            pthread_mutex_unlock(&S.mu);
            int id = -1;
            gitc_status st = gitc_batch_add(S.batch, j->pixels, (size_t)S.frames * 3 * S.image_size * S.image_size, j->prompt, j->n_prompt, &j->params, &id, &err);
            pthread_mutex_lock(&S.mu);
            j->t_encoded = now_ms();
            hist_add(&S.h_encode, (j->t_encoded - j->t_started) / 1e3);
            free(j->pixels);
            j->pixels = NULL;
            if (st != GITC_OK) {
                job_fail_locked(j, status_of(st), err.message);
            } else {
                j->batch_id = id;
                S.running[S.n_running++] = j;
                admitted++;
            }
            pthread_cond_broadcast(&S.progress_cv);
        }
        int live = gitc_batch_live_rows(S.batch);
        if (live == 0) {
            if (S.sched_quit && !S.q_head)
                break;
            /* Idle: hand the pages of freed request buffers back (at most every 250 ms), so
             * memory returns to its baseline between bursts. */
            if (S.trim_pending) {
                double since = now_ms() - last_trim;
                if (since < 250) {
                    timed_wait_locked(&S.sched_cv, 250 - since);
                } else {
                    S.trim_pending = 0;
                    last_trim = now_ms();
                    pthread_mutex_unlock(&S.mu);
                    malloc_trim(0);
                    pthread_mutex_lock(&S.mu);
                }
                continue;
            }
            pthread_cond_wait(&S.sched_cv, &S.mu);
            continue;
        }
        pthread_mutex_unlock(&S.mu);
        const gitc_batch_event *ev = NULL;
        int n_ev = 0;
        double t0 = now_ms();
        gitc_status st = gitc_batch_step(S.batch, &ev, &n_ev, &err);
        double t1 = now_ms();
        pthread_mutex_lock(&S.mu);
        S.steps++;
        S.rows_stepped += (unsigned long long)live;
        hist_add(&S.h_step, (t1 - t0) / 1e3);
        if (st != GITC_OK) {
            /* The batch's state is undefined after a failed step: cancel and fail its jobs. */
            fprintf(stderr, "gitc serve: step failed: %s\n", err.message);
            while (S.n_running > 0) {
                job *j = S.running[0];
                gitc_batch_cancel(S.batch, j->batch_id);
                running_remove(j);
                job_fail_locked(j, 500, err.message);
            }
            pthread_cond_broadcast(&S.progress_cv);
            continue;
        }
        for (int e = 0; e < n_ev; e++) {
            job *j = running_job(ev[e].request);
            if (!j)
                continue;
            if (ev[e].token >= 0) {
                S.tokens++;
                int q = ev[e].sequence;
                if (q >= 0 && q < j->n_seq && j->n_toks[q] < j->cap_tok)
                    j->toks[(size_t)q * j->cap_tok + j->n_toks[q]++] = ev[e].token;
            }
            if (ev[e].request_done) {
                if (gitc_batch_take(S.batch, j->batch_id, &j->result, &err) != GITC_OK) {
                    running_remove(j);
                    job_fail_locked(j, 500, err.message);
                    continue;
                }
                if (j->cancel) { /* its requester was answered (timeout) or left during the step */
                    running_remove(j);
                    job_fail_locked(j, 499, "cancelled");
                    continue;
                }
                if (ev[e].token < 0) /* beam search: count its tokens at the end */
                    for (int q = 0; q < j->result.n_sequences; q++)
                        S.tokens += (unsigned long long)(j->result.sequences[q].n_ids - j->result.sequences[q].n_prompt);
                j->state = JOB_DONE;
                j->t_done = now_ms();
                S.jobs_done++;
                running_remove(j);
                job_unref_locked(j);
            }
        }
        pthread_cond_broadcast(&S.progress_cv);
    }
    pthread_mutex_unlock(&S.mu);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Preparing jobs (HTTP threads)                                       */
/* ------------------------------------------------------------------ */

/* Decodes one image blob and appends its pixels at `px`. */
static int decode_frame(const serve_blob *b, float *px, char *msg)
{
    gitc_image img = {0};
    gitc_error err = {0};
    gitc_image_params ip = gitc_image_default_params();
    gitc_status st = gitc_image_decode(b->data, b->len, b->name, &ip, &img, &err);
    if (st == GITC_OK)
        st = gitc_processor_run(S.proc, &img, px, 3 * (size_t)S.image_size * S.image_size, &err);
    gitc_image_free(&img);
    if (st != GITC_OK) {
        msgf(msg, "%s", err.message);
        return st == GITC_ERR_LIMIT ? 413 : st == GITC_ERR_MEMORY ? 503 : 400;
    }
    return 0;
}

static int is_video_blob(const serve_blob *b)
{
    if (!strncasecmp(b->type, "video/", 6))
        return 1;
    const char *dot = strrchr(b->name, '.');
    static const char *ext[] = {".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v"};
    for (size_t i = 0; dot && i < sizeof ext / sizeof ext[0]; i++)
        if (!strcasecmp(dot, ext[i]))
            return 1;
    return 0;
}

/* A video upload for a video model: written to a private temporary file for libavformat. */
static int decode_video(const serve_blob *b, float *px, char *msg)
{
    char path[] = "/tmp/gitc-serve-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        msgf(msg, "%s: cannot create a temporary file: %s", b->name, strerror(errno));
        return 500;
    }
    size_t off = 0;
    while (off < b->len) {
        ssize_t w = write(fd, b->data + off, b->len - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(fd);
    int status = 0;
    gitc_image *frames = calloc((size_t)S.frames, sizeof *frames);
    gitc_error err = {0};
    gitc_image_params ip = gitc_image_default_params();
    if (off != b->len || !frames) {
        msgf(msg, "%s: cannot write the temporary file", b->name);
        status = 500;
    } else if (gitc_video_load(path, S.frames, &ip, frames, NULL, &err) != GITC_OK) {
        /* the message names the temporary path; name the upload instead */
        const char *m = strstr(err.message, path) == err.message ? err.message + strlen(path) : err.message;
        msgf(msg, "%s%s%s", b->name, m == err.message ? ": " : "", m);
        status = 400;
    } else {
        size_t per = 3 * (size_t)S.image_size * S.image_size;
        for (int f = 0; f < S.frames && !status; f++)
            if (gitc_processor_run(S.proc, &frames[f], px + f * per, per, &err) != GITC_OK) {
                msgf(msg, "%s: %s", b->name, err.message);
                status = 400;
            }
    }
    unlink(path);
    if (frames)
        for (int f = 0; f < S.frames; f++)
            gitc_image_free(&frames[f]);
    free(frames);
    return status;
}

/* Builds a job from decoded frames (blobs[0..n)) and the request's question and settings. */
static int make_job(const serve_blob *blobs, int n, const serve_request *r, job **out, char *msg)
{
    *out = NULL;
    job *j = calloc(1, sizeof *j);
    size_t per = 3 * (size_t)S.image_size * S.image_size;
    if (!j || !(j->pixels = malloc((size_t)S.frames * per * sizeof(float)))) {
        free(j);
        msgf(msg, "out of memory");
        return 503;
    }
    j->refs = 1;
    snprintf(j->name, sizeof j->name, "%s", blobs[0].name);
    int st = 0;
    if (n == 1 && S.frames > 1 && is_video_blob(&blobs[0])) {
        st = decode_video(&blobs[0], j->pixels, msg);
    } else if (n != S.frames) {
        msgf(msg, "the model takes %d frame%s per input, the request has %d image%s%s", S.frames,
                 S.frames == 1 ? "" : "s", n, n == 1 ? "" : "s",
                 S.frames > 1 ? " (send the clip's frames, or one video file)" : "");
        st = 400;
    } else {
        for (int f = 0; f < n && !st; f++)
            st = decode_frame(&blobs[f], j->pixels + f * per, msg);
    }
    /* The prompt: [CLS] alone, or [CLS] + question tokens (no [SEP]). */
    int32_t *q = NULL;
    size_t n_q = 0;
    if (!st && r->question) {
        gitc_error err = {0};
        if (gitc_tokenizer_encode(S.tok, r->question, strlen(r->question), 0, &q, &n_q, &err) != GITC_OK) {
            msgf(msg, "question: %s", err.message);
            st = 400;
        }
    }
    if (!st && n_q + 1 > 100000) {
        msgf(msg, "question: too long");
        st = 400;
    }
    if (!st) {
        j->prompt = malloc((n_q + 1) * sizeof(int32_t));
        if (!j->prompt) {
            msgf(msg, "out of memory");
            st = 503;
        } else {
            j->prompt[0] = gitc_model_config(S.model)->bos_token_id;
            if (n_q)
                memcpy(j->prompt + 1, q, n_q * sizeof(int32_t));
            j->n_prompt = (int)n_q + 1;
            j->vqa = r->question != NULL;
        }
    }
    free(q);
    j->params = r->params;
    if (!st) {
        gitc_error err = {0};
        if (gitc_generate_params_check(&j->params, j->n_prompt, S.model, &err) != GITC_OK) {
            msgf(msg, "%s", err.message);
            st = 400;
        }
    }
    if (!st) {
        j->rows = gitc_generate_rows(&j->params);
        if (j->rows > S.parallel) {
            msgf(msg, "the request needs %d rows; this server decodes %d together (--parallel)",
                     j->rows, S.parallel);
            st = 400;
        }
    }
    if (!st) {
        const gitc_generate_params *p = &j->params;
        j->n_seq = p->num_return_sequences;
        j->cap_tok = (p->max_new_tokens > 0 ? p->max_new_tokens : p->max_length) + 1;
        j->toks = malloc((size_t)j->n_seq * j->cap_tok * sizeof(int32_t));
        j->n_toks = calloc((size_t)j->n_seq, sizeof(int));
        if (!j->toks || !j->n_toks) {
            msgf(msg, "out of memory");
            st = 503;
        }
    }
    if (st) {
        pthread_mutex_lock(&S.mu);
        job_unref_locked(j);
        pthread_mutex_unlock(&S.mu);
        return st;
    }
    *out = j;
    return 0;
}

/* Queues jobs (all or none). Returns 0, or 503 when the queue is full or the server stops. */
static int enqueue(job **jobs, int n, char *msg)
{
    pthread_mutex_lock(&S.mu);
    int st = 0;
    if (S.stopping) {
        msgf(msg, "the server is shutting down");
        st = 503;
    } else if (S.q_len + n > S.queue_cap) {
        msgf(msg, "the queue is full (%d waiting, --queue %d): retry later", S.q_len, S.queue_cap);
        st = 503;
    } else {
        double t = now_ms();
        for (int i = 0; i < n; i++) {
            job *j = jobs[i];
            j->refs++; /* the scheduler's */
            j->state = JOB_QUEUED;
            j->t_queued = t;
            j->next = NULL;
            if (S.q_tail)
                S.q_tail->next = j;
            else
                S.q_head = j;
            S.q_tail = j;
            S.q_len++;
        }
        pthread_cond_signal(&S.sched_cv);
    }
    pthread_mutex_unlock(&S.mu);
    return st;
}

static void jobs_release(job **jobs, int n)
{
    pthread_mutex_lock(&S.mu);
    for (int i = 0; i < n; i++)
        if (jobs[i]) {
            jobs[i]->cancel = 1;
            job_unref_locked(jobs[i]);
        }
    pthread_cond_signal(&S.sched_cv);
    pthread_mutex_unlock(&S.mu);
}

/* 1 when the client closed its end of the connection. */
static int client_gone(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return 0;
    char b;
    ssize_t r = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Waits for every job to end. Returns 0, -1 when the client left (jobs cancelled), 504 on timeout. */
static int wait_jobs(struct MHD_Connection *c, job **jobs, int n, double deadline)
{
    pthread_mutex_lock(&S.mu);
    int gone = 0, late = 0;
    for (;;) {
        /* Jobs that ended while the client or the clock was looked at still count. */
        int pending = 0;
        for (int i = 0; i < n; i++)
            pending += jobs[i]->state == JOB_QUEUED || jobs[i]->state == JOB_RUNNING;
        if (!pending)
            break;
        if (gone || late) {
            for (int i = 0; i < n; i++)
                jobs[i]->cancel = 1;
            pthread_cond_signal(&S.sched_cv);
            pthread_mutex_unlock(&S.mu);
            return gone ? -1 : 504;
        }
        timed_wait_locked(&S.progress_cv, 100);
        pthread_mutex_unlock(&S.mu);
        gone = client_gone(c);
        late = now_ms() > deadline;
        pthread_mutex_lock(&S.mu);
    }
    pthread_mutex_unlock(&S.mu);
    return 0;
}

/* The text of a job's sequence q: captions decode everything ([CLS] skipped), answers leave out the question. */
static char *sequence_text(const job *j, const int32_t *ids, int n_ids)
{
    int skip = j->vqa ? j->n_prompt : 0;
    if (n_ids < skip)
        skip = n_ids;
    char *text = NULL;
    gitc_error err = {0};
    if (gitc_tokenizer_decode(S.tok, ids + skip, (size_t)(n_ids - skip), 1, -1, &text, &err) != GITC_OK)
        return strdup("");
    return text;
}

static char *result_text(const job *j, int q)
{
    const gitc_sequence *sq = &j->result.sequences[q];
    return sequence_text(j, sq->ids, sq->n_ids);
}

/* ------------------------------------------------------------------ */
/* HTTP                                                                */
/* ------------------------------------------------------------------ */

enum { EP_NONE, EP_HF, EP_CHAT, EP_CAPTION };

/* Per-request state of a connection. */
typedef struct conn {
    int refs;             /* the completion callback and, when streaming, the response */
    uint8_t *body;
    size_t len, cap;
    int too_big;
    double t_start;
    int counted;          /* the request was counted in S.active */
    /* streaming */
    job *job;
    char id[40];
    long created;
    int n_choices;
    char **sent;          /* [n] text sent so far per choice */
    int *toks_sent;       /* [n] tokens turned into chunks per choice */
    int role_sent, finished;
    char *out;            /* pending SSE bytes */
    size_t out_len, out_off;
    double deadline;
    struct MHD_Connection *connection;
} conn;

static void conn_unref(conn *cx)
{
    pthread_mutex_lock(&S.mu);
    int last = --cx->refs == 0;
    if (last && cx->job) {
        cx->job->cancel = 1;
        job_unref_locked(cx->job);
        cx->job = NULL;
        pthread_cond_signal(&S.sched_cv);
    }
    pthread_mutex_unlock(&S.mu);
    if (!last)
        return;
    for (int i = 0; cx->sent && i < cx->n_choices; i++)
        free(cx->sent[i]);
    free(cx->sent);
    free(cx->toks_sent);
    free(cx->out);
    free(cx->body);
    free(cx);
}

static void count_status(int status)
{
    pthread_mutex_lock(&S.mu);
    int i = 0;
    while (i < N_STATUS && status_codes[i] != status)
        i++;
    S.by_status[i]++;
    pthread_mutex_unlock(&S.mu);
}

static enum MHD_Result respond(struct MHD_Connection *c, int status, const char *type, const char *body,
                               size_t len, const char *retry_after)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (retry_after)
        MHD_add_response_header(r, "Retry-After", retry_after);
    if (status == 401)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    count_status(status);
    return ok;
}

static enum MHD_Result respond_json(struct MHD_Connection *c, int status, cJSON *j)
{
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!s)
        return respond(c, 500, "application/json", "{\"error\":{\"message\":\"out of memory\"}}", 37, NULL);
    enum MHD_Result ok = respond(c, status, "application/json", s, strlen(s), NULL);
    free(s);
    return ok;
}

/* {"error": {"message", "type", "code"}}, as the OpenAI API reports errors. */
static enum MHD_Result respond_error(struct MHD_Connection *c, int status, const char *message)
{
    cJSON *j = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(j, "error");
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddStringToObject(e, "type", status == 401 ? "authentication_error"
                                       : status >= 500 ? "server_error" : "invalid_request_error");
    cJSON_AddNumberToObject(e, "code", status);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    enum MHD_Result ok = respond(c, status, "application/json", s ? s : "{}", s ? strlen(s) : 2,
                                 status == 503 ? "1" : NULL);
    free(s);
    return ok;
}

static const char *finish_reason(const gitc_sequence *sq) { return sq->stopped ? "stop" : "length"; }

/* [{"generated_text": ...}] per returned sequence: the HuggingFace Inference API form. */
static enum MHD_Result answer_hf(struct MHD_Connection *c, job *j)
{
    cJSON *arr = cJSON_CreateArray();
    for (int q = 0; q < j->result.n_sequences; q++) {
        char *t = result_text(j, q);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "generated_text", t);
        cJSON_AddItemToArray(arr, o);
        free(t);
    }
    return respond_json(c, 200, arr);
}

static void make_chat_id(char *id, size_t n)
{
    static unsigned long long counter;
    pthread_mutex_lock(&S.mu);
    unsigned long long k = ++counter;
    pthread_mutex_unlock(&S.mu);
    snprintf(id, n, "chatcmpl-%llx%llx", (unsigned long long)time(NULL), k);
}

static enum MHD_Result answer_chat(struct MHD_Connection *c, job *j)
{
    char id[40];
    make_chat_id(id, sizeof id);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "object", "chat.completion");
    cJSON_AddNumberToObject(o, "created", (double)time(NULL));
    cJSON_AddStringToObject(o, "model", S.model_name);
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    int completion = 0;
    for (int q = 0; q < j->result.n_sequences; q++) {
        const gitc_sequence *sq = &j->result.sequences[q];
        char *t = result_text(j, q);
        cJSON *ch = cJSON_CreateObject(), *m = cJSON_AddObjectToObject(ch, "message");
        cJSON_AddNumberToObject(ch, "index", q);
        cJSON_AddStringToObject(m, "role", "assistant");
        cJSON_AddStringToObject(m, "content", t);
        cJSON_AddNullToObject(ch, "logprobs");
        cJSON_AddStringToObject(ch, "finish_reason", finish_reason(sq));
        cJSON_AddItemToArray(choices, ch);
        completion += sq->n_ids - sq->n_prompt;
        free(t);
    }
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    int prompt = S.n_image_tokens + j->n_prompt;
    cJSON_AddNumberToObject(u, "prompt_tokens", prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", completion);
    cJSON_AddNumberToObject(u, "total_tokens", prompt + completion);
    return respond_json(c, 200, o);
}

/* The CLI's --json objects, one per input. */
static enum MHD_Result answer_caption(struct MHD_Connection *c, job **jobs, int n, const serve_request *r)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        job *j = jobs[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "file", j->name);
        if (r->question)
            cJSON_AddStringToObject(o, "question", r->question);
        char *t = result_text(j, 0);
        if (r->question)
            cJSON_AddStringToObject(o, "answer", t);
        cJSON_AddStringToObject(o, "text", t);
        free(t);
        if (j->result.n_sequences > 1) {
            cJSON *texts = cJSON_AddArrayToObject(o, "texts"), *scores = cJSON_AddArrayToObject(o, "scores");
            for (int q = 0; q < j->result.n_sequences; q++) {
                char *tq = result_text(j, q);
                cJSON_AddItemToArray(texts, cJSON_CreateString(tq));
                cJSON_AddItemToArray(scores, cJSON_CreateNumber(j->result.sequences[q].score));
                free(tq);
            }
        }
        cJSON_AddStringToObject(o, "finish_reason", finish_reason(&j->result.sequences[0]));
        cJSON *tm = cJSON_AddObjectToObject(o, "timings_ms");
        cJSON_AddNumberToObject(tm, "queue", j->t_started - j->t_queued);
        cJSON_AddNumberToObject(tm, "encode", j->t_encoded - j->t_started);
        cJSON_AddNumberToObject(tm, "generate", j->t_done - j->t_encoded);
        cJSON_AddNumberToObject(tm, "total", j->t_done - j->t_queued);
        cJSON_AddItemToArray(arr, o);
    }
    return respond_json(c, 200, arr);
}

/* ---- Server-Sent Events (chat completions with "stream": true) ---- */

static void sse_append(conn *cx, const char *s)
{
    size_t n = strlen(s);
    char *grown = realloc(cx->out, cx->out_len + n + 1);
    if (!grown)
        return;
    cx->out = grown;
    memcpy(cx->out + cx->out_len, s, n + 1);
    cx->out_len += n;
}

/* Appends one chat.completion.chunk: a delta (role and/or content) and a finish reason. */
static void sse_chunk(conn *cx, int index, const char *role, const char *content, const char *reason)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", cx->id);
    cJSON_AddStringToObject(o, "object", "chat.completion.chunk");
    cJSON_AddNumberToObject(o, "created", (double)cx->created);
    cJSON_AddStringToObject(o, "model", S.model_name);
    cJSON *choices = cJSON_AddArrayToObject(o, "choices"), *ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", index);
    cJSON *d = cJSON_AddObjectToObject(ch, "delta");
    if (role)
        cJSON_AddStringToObject(d, "role", role);
    if (content)
        cJSON_AddStringToObject(d, "content", content);
    cJSON_AddNullToObject(ch, "logprobs");
    if (reason)
        cJSON_AddStringToObject(ch, "finish_reason", reason);
    else
        cJSON_AddNullToObject(ch, "finish_reason");
    cJSON_AddItemToArray(choices, ch);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (s) {
        sse_append(cx, "data: ");
        sse_append(cx, s);
        sse_append(cx, "\n\n");
        free(s);
    }
}

/* Sends the part of `text` not sent yet for choice q (when what was sent is its prefix). */
static void sse_delta(conn *cx, int q, const char *text, const char *reason)
{
    const char *prev = cx->sent[q] ? cx->sent[q] : "";
    size_t sent = strlen(prev);
    const char *delta = "";
    if (!strncmp(text, prev, sent))
        delta = text + sent;
    else if (!reason)
        return; /* the text changed before what was sent; wait for more tokens */
    if (*delta || reason)
        sse_chunk(cx, q, NULL, delta, reason);
    if (*delta) {
        char *copy = strdup(text);
        if (copy) {
            free(cx->sent[q]);
            cx->sent[q] = copy;
        }
    }
}

/* Fills cx->out with whatever is new for the stream, one chunk per new token,
 * then the final texts and [DONE]; sets cx->finished at the end. */
static void stream_fill(conn *cx, int *changed)
{
    job *j = cx->job;
    *changed = 0;
    pthread_mutex_lock(&S.mu);
    int state = j->state, n = j->n_seq < cx->n_choices ? j->n_seq : cx->n_choices;
    int32_t *snap = NULL;
    int *n_toks = calloc((size_t)n, sizeof(int));
    if (state != JOB_FAILED && n_toks) {
        snap = malloc((size_t)n * j->cap_tok * sizeof(int32_t));
        for (int q = 0; snap && q < n; q++) {
            n_toks[q] = j->n_toks[q];
            memcpy(snap + (size_t)q * j->cap_tok, j->toks + (size_t)q * j->cap_tok, (size_t)n_toks[q] * sizeof(int32_t));
        }
    }
    pthread_mutex_unlock(&S.mu);
    size_t before = cx->out_len;
    if (!cx->role_sent) {
        for (int q = 0; q < cx->n_choices; q++)
            sse_chunk(cx, q, "assistant", "", NULL);
        cx->role_sent = 1;
    }
    if (state == JOB_FAILED) {
        cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
        cJSON_AddStringToObject(e, "message", j->message);
        cJSON_AddNumberToObject(e, "code", j->status);
        char *s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        sse_append(cx, "data: ");
        sse_append(cx, s ? s : "{}");
        sse_append(cx, "\n\ndata: [DONE]\n\n");
        free(s);
        cx->finished = 1;
    } else if (snap) {
        /* Token by token: the text of the prompt + the first k tokens, for each new k. */
        int32_t *ids = malloc((size_t)(j->n_prompt + j->cap_tok) * sizeof(int32_t));
        for (int q = 0; ids && q < n; q++) {
            memcpy(ids, j->prompt, (size_t)j->n_prompt * sizeof(int32_t));
            memcpy(ids + j->n_prompt, snap + (size_t)q * j->cap_tok, (size_t)n_toks[q] * sizeof(int32_t));
            for (int k = cx->toks_sent[q] + 1; k <= n_toks[q]; k++) {
                char *t = sequence_text(j, ids, j->n_prompt + k);
                sse_delta(cx, q, t, NULL);
                free(t);
            }
            cx->toks_sent[q] = n_toks[q];
        }
        free(ids);
        if (state == JOB_DONE) {
            /* The final texts, as the non-streaming answer has them, with the finish reasons. */
            for (int q = 0; q < j->result.n_sequences && q < cx->n_choices; q++) {
                char *t = result_text(j, q);
                sse_delta(cx, q, t, finish_reason(&j->result.sequences[q]));
                free(t);
            }
            sse_append(cx, "data: [DONE]\n\n");
            cx->finished = 1;
        }
    }
    *changed = cx->out_len != before || cx->finished;
    free(snap);
    free(n_toks);
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    conn *cx = cls;
    while (cx->out_off == cx->out_len) {
        if (cx->finished)
            return MHD_CONTENT_READER_END_OF_STREAM;
        free(cx->out);
        cx->out = NULL;
        cx->out_len = cx->out_off = 0;
        int changed = 0;
        stream_fill(cx, &changed);
        if (changed)
            continue;
        /* Nothing new: wait for the scheduler, watching the client and the clock. */
        pthread_mutex_lock(&S.mu);
        timed_wait_locked(&S.progress_cv, 100);
        pthread_mutex_unlock(&S.mu);
        if (client_gone(cx->connection))
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (now_ms() > cx->deadline) {
            pthread_mutex_lock(&S.mu);
            cx->job->cancel = 1;
            pthread_cond_signal(&S.sched_cv);
            pthread_mutex_unlock(&S.mu);
            sse_append(cx, "data: {\"error\":{\"message\":\"timed out\",\"code\":504}}\n\ndata: [DONE]\n\n");
            cx->finished = 1;
        }
    }
    size_t n = cx->out_len - cx->out_off;
    if (n > max)
        n = max;
    memcpy(buf, cx->out + cx->out_off, n);
    cx->out_off += n;
    return (ssize_t)n;
}

static void stream_free(void *cls) { conn_unref(cls); }

static enum MHD_Result start_stream(struct MHD_Connection *c, conn *cx, job *j, int n_choices)
{
    cx->job = j; /* the connection holds the HTTP reference from now on */
    cx->n_choices = n_choices;
    cx->sent = calloc((size_t)n_choices, sizeof *cx->sent);
    cx->toks_sent = calloc((size_t)n_choices, sizeof *cx->toks_sent);
    if (!cx->sent || !cx->toks_sent)
        return MHD_NO;
    for (int q = 0; cx->sent && q < n_choices; q++)
        cx->sent[q] = strdup("");
    make_chat_id(cx->id, sizeof cx->id);
    cx->created = (long)time(NULL);
    cx->deadline = cx->t_start + S.timeout_ms;
    cx->connection = c;
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_reader, cx, stream_free);
    if (!r)
        return MHD_NO;
    pthread_mutex_lock(&S.mu);
    cx->refs++;
    pthread_mutex_unlock(&S.mu);
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    enum MHD_Result ok = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    count_status(200);
    return ok;
}

/* ---- endpoints ---- */

static enum MHD_Result handle_generate(struct MHD_Connection *c, conn *cx, int ep)
{
    const char *ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    serve_request r;
    char msg[SERVE_MSG] = "";
    int st = ep == EP_HF ? serve_parse_hf(cx->body, cx->len, ctype, &S.base, &r, msg)
           : ep == EP_CHAT ? serve_parse_chat(cx->body, cx->len, &S.base, &r, msg)
                           : serve_parse_caption(cx->body, cx->len, ctype, &S.base, &r, msg);
    if (st)
        return respond_error(c, st, msg);
    if (ep == EP_CHAT && r.n > 1 && !r.params.do_sample && r.params.num_beams < r.n) {
        serve_request_free(&r);
        return respond_error(c, 400, "n > 1 needs sampling (temperature > 0) or num_beams >= n");
    }
    /* One job per input: /v1/caption takes one per image (a clip's frames for a video model). */
    job *jobs[SERVE_MAX_IMAGES] = {0};
    int n_jobs = 0;
    if (ep == EP_CAPTION && S.frames == 1) {
        for (int i = 0; i < r.n_images && !st; i++)
            if ((st = make_job(&r.images[i], 1, &r, &jobs[n_jobs], msg)) == 0)
                n_jobs++;
    } else if ((st = make_job(r.images, r.n_images, &r, &jobs[0], msg)) == 0) {
        n_jobs = 1;
    }
    if (!st)
        st = enqueue(jobs, n_jobs, msg);
    if (st) {
        jobs_release(jobs, n_jobs);
        serve_request_free(&r);
        return respond_error(c, st, msg);
    }
    if (ep == EP_CHAT && r.stream) {
        serve_request_free(&r);
        return start_stream(c, cx, jobs[0], jobs[0]->n_seq);
    }
    int w = wait_jobs(c, jobs, n_jobs, cx->t_start + S.timeout_ms);
    enum MHD_Result ok;
    if (w < 0) {
        ok = MHD_NO; /* the client left: its rows were cancelled */
    } else if (w == 504) {
        snprintf(msg, sizeof msg, "timed out after %.0f s (--timeout)", S.timeout_ms / 1e3);
        ok = respond_error(c, 504, msg);
    } else {
        int failed = -1;
        for (int i = 0; i < n_jobs && failed < 0; i++)
            if (jobs[i]->state == JOB_FAILED)
                failed = i;
        if (failed >= 0)
            ok = respond_error(c, jobs[failed]->status == 499 ? 503 : jobs[failed]->status, jobs[failed]->message);
        else if (ep == EP_HF)
            ok = answer_hf(c, jobs[0]);
        else if (ep == EP_CHAT)
            ok = answer_chat(c, jobs[0]);
        else
            ok = answer_caption(c, jobs, n_jobs, &r);
    }
    pthread_mutex_lock(&S.mu);
    hist_add(&S.h_request, (now_ms() - cx->t_start) / 1e3);
    pthread_mutex_unlock(&S.mu);
    jobs_release(jobs, n_jobs);
    serve_request_free(&r);
    return ok;
}

static void metric_hist(FILE *f, const char *name, const char *help, const histogram *h)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    unsigned long long cum = 0;
    for (int i = 0; i < N_BOUNDS; i++) {
        cum += h->counts[i];
        fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name, hist_bounds[i], cum);
    }
    fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, h->n, name, h->sum, name, h->n);
}

/* Prometheus text format. */
static enum MHD_Result handle_metrics(struct MHD_Connection *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return respond_error(c, 500, "out of memory");
    pthread_mutex_lock(&S.mu);
    fputs("# HELP gitc_requests_total HTTP requests answered, by status.\n# TYPE gitc_requests_total counter\n", f);
    for (int i = 0; i < N_STATUS; i++)
        fprintf(f, "gitc_requests_total{status=\"%d\"} %llu\n", status_codes[i], S.by_status[i]);
    fprintf(f, "gitc_requests_total{status=\"other\"} %llu\n", S.by_status[N_STATUS]);
    fprintf(f, "# HELP gitc_queue_depth Jobs waiting for rows.\n# TYPE gitc_queue_depth gauge\ngitc_queue_depth %d\n", S.q_len);
    fprintf(f, "# HELP gitc_rows_in_flight Rows decoding now.\n# TYPE gitc_rows_in_flight gauge\ngitc_rows_in_flight %d\n",
            S.batch ? gitc_batch_live_rows(S.batch) : 0);
    fprintf(f, "# HELP gitc_parallel_rows Rows decoded together at most (--parallel).\n# TYPE gitc_parallel_rows gauge\ngitc_parallel_rows %d\n", S.parallel);
    fprintf(f, "# HELP gitc_tokens_generated_total Tokens generated.\n# TYPE gitc_tokens_generated_total counter\ngitc_tokens_generated_total %llu\n", S.tokens);
    fprintf(f, "# HELP gitc_steps_total Decoding steps.\n# TYPE gitc_steps_total counter\ngitc_steps_total %llu\n", S.steps);
    fprintf(f, "# HELP gitc_rows_stepped_total Rows advanced, summed over steps (divide by steps for rows per step).\n# TYPE gitc_rows_stepped_total counter\ngitc_rows_stepped_total %llu\n", S.rows_stepped);
    fprintf(f, "# HELP gitc_jobs_total Inputs generated for, by outcome.\n# TYPE gitc_jobs_total counter\n"
               "gitc_jobs_total{outcome=\"done\"} %llu\ngitc_jobs_total{outcome=\"failed\"} %llu\n"
               "gitc_jobs_total{outcome=\"cancelled\"} %llu\n", S.jobs_done, S.jobs_failed, S.jobs_cancelled);
    metric_hist(f, "gitc_encode_seconds", "Image encoding and prompt time per input.", &S.h_encode);
    metric_hist(f, "gitc_step_seconds", "Decoding step time (all rows).", &S.h_step);
    metric_hist(f, "gitc_request_seconds", "Request time, arrival to answer (non-streaming).", &S.h_request);
    pthread_mutex_unlock(&S.mu);
    fclose(f);
    enum MHD_Result ok = respond(c, 200, "text/plain; version=0.0.4", buf, len, NULL);
    free(buf);
    return ok;
}

static enum MHD_Result handle_models(struct MHD_Connection *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", S.model_name);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", 0);
    cJSON_AddStringToObject(m, "owned_by", "gitc");
    cJSON_AddNumberToObject(m, "frames", S.frames);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "data"), m);
    return respond_json(c, 200, o);
}

static int authorized(struct MHD_Connection *c)
{
    if (!S.api_key)
        return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7))
        return 0;
    const char *k = h + 7;
    return serve_secret_equal(k, strlen(k), S.api_key);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)cls, (void)version;
    conn *cx = *con_cls;
    if (!cx) {
        cx = calloc(1, sizeof *cx);
        if (!cx)
            return MHD_NO;
        cx->refs = 1;
        cx->t_start = now_ms();
        *con_cls = cx;
        pthread_mutex_lock(&S.mu);
        S.active++;
        cx->counted = 1;
        pthread_mutex_unlock(&S.mu);
        /* Refuse an announced oversized body before reading it. */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end = NULL;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno || end == cl || n > S.max_body) {
                char msg[160];
                snprintf(msg, sizeof msg, "the body (%s bytes) exceeds the limit of %zu bytes (--max-body)", cl, S.max_body);
                return respond_error(c, 413, msg);
            }
        }
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (cx->too_big)
            return MHD_YES;
        if (cx->len + n > S.max_body) {
            cx->too_big = 1;
            free(cx->body);
            cx->body = NULL;
            cx->len = cx->cap = 0;
            return MHD_YES;
        }
        if (cx->len + n > cx->cap) {
            size_t cap = cx->cap ? cx->cap : 65536;
            while (cap < cx->len + n)
                cap *= 2;
            if (cap > S.max_body)
                cap = S.max_body;
            uint8_t *grown = realloc(cx->body, cap);
            if (!grown)
                return respond_error(c, 503, "out of memory");
            cx->body = grown;
            cx->cap = cap;
        }
        memcpy(cx->body + cx->len, upload, n);
        cx->len += n;
        return MHD_YES;
    }
    if (cx->too_big) {
        char msg[128];
        snprintf(msg, sizeof msg, "the body exceeds the limit of %zu bytes (--max-body)", S.max_body);
        return respond_error(c, 413, msg);
    }
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    if (!strcmp(url, "/health")) {
        if (!get)
            return respond_error(c, 405, "use GET");
        pthread_mutex_lock(&S.mu);
        int ready = S.ready && !S.stopping;
        pthread_mutex_unlock(&S.mu);
        return ready ? respond(c, 200, "application/json", "{\"status\":\"ok\"}", 15, NULL)
                     : respond(c, 503, "application/json", "{\"status\":\"loading\"}", 20, "1");
    }
    if (!authorized(c))
        return respond_error(c, 401, "missing or wrong API key (Authorization: Bearer KEY)");
    int ep = EP_NONE;
    if (!strcmp(url, "/")) {
        if (get)
            return respond(c, 200, "text/html; charset=utf-8", serve_page_html, strlen(serve_page_html), NULL);
        ep = EP_HF;
    } else if (!strcmp(url, "/v1/image-to-text")) {
        ep = EP_HF;
    } else if (!strcmp(url, "/v1/chat/completions")) {
        ep = EP_CHAT;
    } else if (!strcmp(url, "/v1/caption")) {
        ep = EP_CAPTION;
    } else if (!strcmp(url, "/v1/models")) {
        return get ? handle_models(c) : respond_error(c, 405, "use GET");
    } else if (!strcmp(url, "/metrics")) {
        return get ? handle_metrics(c) : respond_error(c, 405, "use GET");
    } else {
        return respond_error(c, 404, "no such endpoint (/, /v1/image-to-text, /v1/chat/completions, /v1/caption, "
                                     "/v1/models, /health, /metrics)");
    }
    if (!post)
        return respond_error(c, 405, "use POST");
    pthread_mutex_lock(&S.mu);
    int ready = S.ready, stopping = S.stopping;
    pthread_mutex_unlock(&S.mu);
    if (!ready || stopping)
        return respond_error(c, 503, stopping ? "the server is shutting down" : "the model is loading");
    return handle_generate(c, cx, ep);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)c, (void)code;
    conn *cx = *con_cls;
    if (!cx)
        return;
    *con_cls = NULL;
    pthread_mutex_lock(&S.mu);
    if (cx->counted)
        S.active--;
    S.trim_pending = 1;
    pthread_cond_signal(&S.sched_cv);
    if (cx->job && code != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
        cx->job->cancel = 1; /* a stream cut short */
        pthread_cond_signal(&S.sched_cv);
    }
    pthread_cond_broadcast(&S.progress_cv);
    pthread_mutex_unlock(&S.mu);
    conn_unref(cx);
}

/* ------------------------------------------------------------------ */
/* Command line                                                        */
/* ------------------------------------------------------------------ */

static const char serve_help[] =
    "Usage: gitc serve [OPTIONS]\n"
    "Runs an HTTP service: one model, requests batched together as they come.\n"
    "\n"
    "Endpoints:\n"
    "  GET  /                     a web page: drop, paste or pick an image, see the caption stream in\n"
    "  POST /, /v1/image-to-text  HuggingFace Inference API: raw image bytes, or JSON\n"
    "                             {\"inputs\": \"<base64>\", \"parameters\": {...}} -> [{\"generated_text\"}]\n"
    "  POST /v1/chat/completions  OpenAI chat form: image_url parts (data: URLs), a text part is a\n"
    "                             question; max_tokens, temperature (> 0 samples), top_p, seed, n,\n"
    "                             stream (Server-Sent Events); num_beams, top_k, ... as extensions\n"
    "  POST /v1/caption           multipart form: image files, question, the CLI's decoding options\n"
    "                             -> the CLI's --json objects in an array\n"
    "  GET  /v1/models, /health (503 while loading), /metrics (Prometheus)\n"
    "\n"
    "Options:\n"
    "  -m, --model MODEL      model folder or hub id (default: the embedded git-shapes)\n"
    "      --host ADDR        address to bind (default 127.0.0.1: this machine only)\n"
    "      --port N           port (default 8080; 0 picks a free one, printed at start)\n"
    "      --threads N        compute threads (default 0: one per CPU)\n"
    "      --parallel N       rows decoded together (default 16; beams count one row each)\n"
    "      --queue N          inputs waiting at most; more get 503 + Retry-After (default 64)\n"
    "      --max-body BYTES   request body limit, else 413 (default 20000000)\n"
    "      --timeout SECONDS  per-request limit, else 504 and the rows are cancelled (default 120)\n"
    "      --api-key KEY      require \"Authorization: Bearer KEY\" on every endpoint but /health\n"
    "                         (also $GITC_API_KEY)\n"
    "  -h, --help             this help\n"
    "\n"
    "Decoding defaults: the model's generation_config.json (max length 30 when it sets none),\n"
    "greedy unless a request asks for sampling or beams. Images are limited to 100 megapixels.\n"
    "SIGINT/SIGTERM: stop accepting, finish the requests in flight, exit 0.\n"
    "\n"
    "Examples:\n"
    "  gitc serve --port 8080\n"
    "  curl --data-binary @examples/shapes_0_224x224.png http://127.0.0.1:8080/\n"
    "  curl -F image=@examples/shapes_1_320x240.jpg -F question='what color is the background?' \\\n"
    "       http://127.0.0.1:8080/v1/caption\n"
    "  curl http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' -d \\\n"
    "    '{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":\n"
    "      {\"url\":\"data:image/png;base64,'$(base64 -w0 examples/shapes_0_224x224.png)'\"}}]}]}'\n"
    "  gitc serve -m microsoft/git-base-coco --host 0.0.0.0 --api-key \"$(cat key.txt)\" --parallel 8\n";

enum { OPT_HOST = 2000, OPT_PORT, OPT_PARALLEL, OPT_QUEUE, OPT_MAX_BODY, OPT_TIMEOUT, OPT_API_KEY };

/* Binds host:port; returns the daemon or NULL after a message. */
static struct MHD_Daemon *start_daemon(void)
{
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char port[16];
    snprintf(port, sizeof port, "%d", S.port);
    int rc = getaddrinfo(S.host, port, &hints, &ai);
    if (rc) {
        cli_error("serve: --host %s: %s", S.host, gai_strerror(rc));
        return NULL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL | MHD_USE_ITC;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024),
        MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!d)
        cli_error("serve: cannot listen on %s:%d: %s", S.host, S.port, strerror(errno));
    return d;
}

static int parse_serve_args(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},       {"host", required_argument, NULL, OPT_HOST},
        {"port", required_argument, NULL, OPT_PORT},   {"threads", required_argument, NULL, OPT_THREADS},
        {"parallel", required_argument, NULL, OPT_PARALLEL}, {"queue", required_argument, NULL, OPT_QUEUE},
        {"max-body", required_argument, NULL, OPT_MAX_BODY}, {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"api-key", required_argument, NULL, OPT_API_KEY}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    S.host = "127.0.0.1";
    S.port = 8080;
    S.parallel = 16;
    S.queue_cap = 64;
    S.max_body = 20000000;
    S.timeout_ms = 120e3;
    S.api_key = getenv("GITC_API_KEY");
    if (S.api_key && !*S.api_key)
        S.api_key = NULL;
    optind = 1;
    opterr = 0;
    int c;
    long v;
    while ((c = getopt_long(argc, argv, ":m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': S.model_arg = optarg; break;
        case 'h': fputs(serve_help, stdout); return CLI_EXIT_OK;
        case OPT_HOST: S.host = optarg; break;
        case OPT_PORT: if (cli_parse_int(optarg, 0, 65535, "--port", &v)) return CLI_EXIT_USAGE; S.port = (int)v; break;
        case OPT_THREADS: if (cli_parse_int(optarg, 0, 1024, "--threads", &v)) return CLI_EXIT_USAGE; S.threads = (int)v; break;
        case OPT_PARALLEL:
            if (cli_parse_int(optarg, 1, GITC_BATCH_MAX_ROWS, "--parallel", &v)) return CLI_EXIT_USAGE;
            S.parallel = (int)v;
            break;
        case OPT_QUEUE: if (cli_parse_int(optarg, 1, 100000, "--queue", &v)) return CLI_EXIT_USAGE; S.queue_cap = (int)v; break;
        case OPT_MAX_BODY:
            if (cli_parse_int(optarg, 1024, 4000000000L, "--max-body", &v)) return CLI_EXIT_USAGE;
            S.max_body = (size_t)v;
            break;
        case OPT_TIMEOUT: if (cli_parse_int(optarg, 1, 86400, "--timeout", &v)) return CLI_EXIT_USAGE; S.timeout_ms = v * 1e3; break;
        case OPT_API_KEY:
            if (!*optarg) {
                cli_error("serve: --api-key must not be empty");
                return CLI_EXIT_USAGE;
            }
            S.api_key = optarg;
            break;
        case ':':
            cli_error("serve: %s needs a value", argv[optind - 1]);
            return cli_usage_error("serve");
        default:
            cli_error("serve: unknown option '%s'", argv[optind - 1]);
            return cli_usage_error("serve");
        }
    }
    if (optind < argc) {
        cli_error("serve: unexpected argument '%s'", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    return -1;
}

int cmd_serve(int argc, char **argv)
{
    int rc = parse_serve_args(argc, argv);
    if (rc >= 0)
        return rc;
    /* Signals go to sigwait below; every thread created from here inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Request buffers (bodies, decoded images, pixels) come and go in many
     * threads: few malloc arenas and a fixed mmap threshold keep glibc from
     * holding on to their memory. */
    mallopt(M_ARENA_MAX, 2);
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    pthread_mutex_init(&S.mu, NULL);
    pthread_cond_init(&S.sched_cv, NULL);
    pthread_cond_init(&S.progress_cv, NULL);
    S.daemon = start_daemon();
    if (!S.daemon)
        return CLI_EXIT_FAILED;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(S.daemon, MHD_DAEMON_INFO_BIND_PORT);
    printf("gitc serve: listening on http://%s:%u/\n", S.host, di ? di->port : (unsigned)S.port);
    fflush(stdout);
    /* Load while /health answers 503. */
    char *dir = NULL;
    S.model = cli_open_model(S.model_arg, 0, &dir);
    gitc_error err = {0};
    cli_decode_flags none = {0};
    if (S.model && (!gitc_model_tokenizer(S.model) || !gitc_model_processor(S.model))) {
        cli_error("serve: %s: the model folder needs tokenizer and preprocessor files", dir);
        rc = CLI_EXIT_FAILED;
    } else if (!S.model || cli_generate_params(S.model, dir, &none, &S.base) ||
               !(S.session = cli_open_session(S.model, S.threads))) {
        rc = CLI_EXIT_FAILED;
    } else if (gitc_batch_create(S.session, S.parallel, &S.batch, &err) != GITC_OK ||
               !(S.running = calloc((size_t)S.parallel, sizeof *S.running))) {
        cli_error("serve: %s", err.message[0] ? err.message : "out of memory");
        rc = CLI_EXIT_FAILED;
    }
    if (rc >= 0) {
        MHD_stop_daemon(S.daemon);
        free(dir);
        gitc_session_free(S.session);
        gitc_model_free(S.model);
        return rc;
    }
    const char *slash = strrchr(dir, '/');
    snprintf(S.model_name, sizeof S.model_name, "%s", slash && slash[1] ? slash + 1 : dir);
    S.tok = gitc_model_tokenizer(S.model);
    S.proc = gitc_model_processor(S.model);
    S.frames = gitc_model_num_frames(S.model);
    S.image_size = gitc_model_config(S.model)->vision_image_size;
    S.n_image_tokens = gitc_model_num_image_tokens(S.model);
    pthread_create(&S.sched, NULL, scheduler_main, NULL);
    pthread_mutex_lock(&S.mu);
    S.ready = 1;
    pthread_mutex_unlock(&S.mu);
    fprintf(stderr, "gitc serve: %s ready (%d rows together, queue %d)\n", S.model_name, S.parallel, S.queue_cap);

    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "gitc serve: %s: finishing the requests in flight\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    pthread_mutex_lock(&S.mu);
    S.stopping = 1;
    pthread_mutex_unlock(&S.mu);
    MHD_socket lfd = MHD_quiesce_daemon(S.daemon);
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    double until = now_ms() + S.timeout_ms + 5e3;
    pthread_mutex_lock(&S.mu);
    while (S.active > 0 && now_ms() < until)
        timed_wait_locked(&S.progress_cv, 100);
    S.sched_quit = 1;
    pthread_cond_signal(&S.sched_cv);
    pthread_mutex_unlock(&S.mu);
    pthread_join(S.sched, NULL);
    MHD_stop_daemon(S.daemon);
    gitc_batch_free(S.batch);
    free(S.running);
    gitc_session_free(S.session);
    gitc_model_free(S.model);
    free(dir);
    fprintf(stderr, "gitc serve: stopped\n");
    return CLI_EXIT_OK;
}
