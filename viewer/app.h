/* app.h - sealview's application: every page and API endpoint, as a
 * function from a request to a response. It knows nothing of the HTTP
 * library: sealview/sealview.c reads requests off libmicrohttpd, fills a
 * struct app_request, and sends back the struct app_response.
 *
 * Routes (docs/viewer.md):
 *   GET  /healthz                        200 "ok" when the store answers
 *   GET  /static/style.css               the stylesheet
 *   GET  /m/TOKEN                        the address form, or the message for a signed-in reader
 *   POST /m/TOKEN/code                   mail a passcode (if, and only if, the address may read it)
 *   POST /m/TOKEN/verify                 check a passcode; starts a session
 *   GET  /m/TOKEN/body                   the HTML body, for the sandboxed iframe
 *   GET  /m/TOKEN/att/N                  an attachment (the save right)
 *   GET  /m/TOKEN/print                  a printable page (the print right)
 *   POST /m/TOKEN/reply                  send a reply to the sender (the reply right)
 *   POST /m/TOKEN/logout                 end the session
 *   PUT  /api/v1/messages/LOOKUP         register (signed; seal/viewapi.h)
 *   POST /api/v1/revoke/ID               revoke (signed)
 *   GET  /api/v1/audit[/SEAL-ID]         audit records (signed)
 *   GET  /api/v1/audit-verify            check the audit chain (signed)
 */
#ifndef VIEWER_APP_H
#define VIEWER_APP_H

#include <stddef.h>
#include <stdint.h>

struct seal_config;
struct app;

struct app_request {
	const char *method;            /* "GET", "POST", "PUT", "HEAD" */
	const char *path;              /* decoded path, no query */
	const char *client_ip;         /* after trusted proxies */
	const char *user_agent;        /* may be NULL */
	const char *cookie;            /* the Cookie header, may be NULL */
	const char *content_type;      /* may be NULL */
	const char *x_date, *x_nonce, *x_signature;   /* the API's signature fields, may be NULL */
	const char *x_content_sha256;  /* the body's signed hash (hex), may be NULL */
	int api_preauthorized;         /* app_api_preauth() passed before the body was read */
	const char *body;              /* the body (NUL-terminated; may hold NULs for the API) */
	size_t body_len;
};

struct app_header {
	char *name, *value;
};

struct app_response {
	int status;
	char *content_type;
	struct app_header *headers;    /* beyond the security headers every response gets */
	size_t nheaders;
	char *body;
	size_t body_len;
};
void app_response_free(struct app_response *r);

/* Make the application from a configuration loaded with CONFIG_VIEWER:
 * opens the store (and migrates it), derives the keys from the viewer
 * secret, starts the passcode mailer. 0, or -1 with *err (malloc'd). */
int app_new(struct seal_config *cfg, struct app **out, char **err);
void app_free(struct app *a);
/* Handle one request; thread-safe. Never fails: errors become pages. */
void app_handle(struct app *a, const struct app_request *req, struct app_response *resp);
/* Delete expired objects, idle sessions and old passcodes; log and audit
 * what went. Called by the server's purge thread. */
void app_purge(struct app *a);
/* The largest body a request to path may carry: the API's registration
 * takes sealview.max_object, everything else sealview.max_form. *key (when
 * not NULL) is set to the name of that setting, for the refusal. */
size_t app_max_body(const struct app *a, const char *method, const char *path, const char **key);
/* 1 when an API request's signature fields are present, well formed and
 * dated within the allowed skew. */
int app_api_plausible(const char *date, const char *nonce, const char *signature);
/* Before the body of an API request is read: check its signature over the
 * hash it claims (X-Seal-Content-SHA256) and use up its nonce, so that no
 * anonymous client makes the server buffer a body. 1 good (the request is
 * then handled with api_preauthorized set, and its body must match the
 * hash); 0 refused, with the status and text to answer. */
int app_api_preauth(struct app *a, const struct app_request *req, int *status, const char **why);
/* Wait until queued mail is handed to the MTA (for a graceful stop). */
void app_drain(struct app *a);
/* Count in reg (common/metrics.h; viewer/vstats.h lists the families):
 * the audited events, the store's calls, the live sessions at each scrape.
 * Call once, before serving. 0, or -1 when memory ran out. */
struct metrics;
int app_use_metrics(struct app *a, struct metrics *reg, const char *version);
/* A response the server sent (by status), for the metrics. */
void app_count_response(struct app *a, int status);

#endif
